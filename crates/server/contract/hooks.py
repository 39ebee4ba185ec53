"""The rules between fields that an OpenAPI schema cannot state, for schemathesis.

The document at /api/openapi.json states each input's own rule (pattern, format, enumeration,
bounds, and per strategy its parameters with their bounds and defaults). A few rules join two
fields; the document gives them in its descriptions and in `x-ordered` and
`x-max-combinations`, and these filters keep generated requests to them, so a request the
server refuses for one of them is not taken for a broken contract:

- `start` is not after `end` (every ranged read);
- `train_until` lies inside `start`..`end`, with bars on both sides;
- `DELETE /api/cache` names a symbol, or says `all` (a bare DELETE never empties the cache);
- a strategy's ordered parameters (`x-ordered`: `fast` below `slow`, `lower` below `upper`);
- a range's start is not after its end, its step is positive, its ends are within the
  parameter's bounds, and the grid has at most `x-max-combinations` combinations.
"""

import datetime
import math

import schemathesis

# What the server takes for a missing start and end.
DEFAULT_START = datetime.date(1990, 1, 1)
TODAY = datetime.date.today()

DOCUMENT = {}


@schemathesis.hook
def before_load_schema(context, raw_schema):
    DOCUMENT.clear()
    DOCUMENT.update(raw_schema)


def _date(text, default):
    if text is None:
        return default
    try:
        return datetime.date.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def _dates_in_order(values):
    start = _date(values.get("start"), DEFAULT_START)
    end = _date(values.get("end"), TODAY)
    if start is None or end is None or start > end:
        return False
    if values.get("train_until") is None:
        return True
    until = _date(values.get("train_until"), None)
    # A few weeks on each side, so that both the ranking and the test have bars.
    margin = datetime.timedelta(days=30)
    return until is not None and start + margin < until < min(end, TODAY) - margin


def _variant(body_name, strategy):
    schemas = DOCUMENT.get("components", {}).get("schemas", {})
    for variant in schemas.get(body_name, {}).get("oneOf", []):
        if strategy in variant["properties"]["strategy"].get("enum", []):
            return variant
    return None


def _numeric(schema):
    if "minimum" in schema:
        return schema
    return next(alternative for alternative in schema["oneOf"] if "minimum" in alternative)


def _span(value, default):
    """(low, high, count) of a value or a START..END[:STEP] range; None when empty."""
    if value is None:
        value = default
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return (value, value, 1)
    span, _, step = value.partition(":")
    start, dots, end = span.partition("..")
    low = float(start)
    high = float(end) if dots else low
    step = float(step) if step else 1.0
    if step <= 0 or low > high:
        return None
    return (low, high, math.floor((high - low) / step + 1e-9) + 1)


def _parameters_fit(body, body_name, field):
    variant = _variant(body_name, body.get("strategy") or "sma-cross")
    if variant is None:
        return True
    given = body.get(field) or {}
    spans = {}
    for name, schema in variant["properties"][field]["properties"].items():
        span = _span(given.get(name), schema.get("default", _numeric(schema).get("default")))
        numeric = _numeric(schema)
        if span is None or span[0] < numeric["minimum"] or span[1] > numeric["maximum"]:
            return False
        spans[name] = span
    for low, high in variant.get("x-ordered", []):
        if not spans[low][0] < spans[high][1]:
            return False
    limit = DOCUMENT["components"]["schemas"][body_name].get("x-max-combinations")
    return limit is None or math.prod(span[2] for span in spans.values()) <= limit


def _query_fits(operation, query):
    if operation.method.upper() == "DELETE" and operation.path == "/api/cache":
        if query.get("symbol") in (None, "") and query.get("all") not in ("true", "1", ""):
            return False
    return _dates_in_order({name: value for name, value in query.items() if value != ""})


BODIES = {"/api/backtest": ("BacktestRequest", "params"), "/api/optimize": ("OptimizeRequest", "ranges")}


def _body_fits(operation, body):
    if not isinstance(body, dict):
        return True
    if not _dates_in_order(body):
        return False
    if operation.path not in BODIES:
        return True
    return _parameters_fit(body, *BODIES[operation.path])


@schemathesis.hook
def filter_case(context, case):
    """Keeps valid (positive) requests to the rules between fields, in every phase; invalid
    (negative) ones are sent as generated, since the server must refuse them anyway."""
    meta = getattr(case, "meta", None)
    mode = getattr(getattr(meta, "generation", None), "mode", None)
    if mode is not None and not mode.is_positive:
        return True
    try:
        return _query_fits(context.operation, case.query or {}) and _body_fits(context.operation, case.body)
    except (AttributeError, KeyError, StopIteration, TypeError, ValueError):
        # A value no rule can read (not what the schema describes): sent as it is.
        return True
