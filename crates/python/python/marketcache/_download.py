"""``download``: ``yfinance.download``'s shape over marketcache, so code written for yfinance
switches by changing one import, and reads from the cache instead of Yahoo every time."""

from __future__ import annotations

import datetime as _dt
import warnings
from typing import TYPE_CHECKING, Any, Sequence

from marketcache._cache import Cache, DateLike, iso_day, pandas_frame
from marketcache._errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

PRICE_ORDER = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
"""The columns of one ticker, in yfinance's order (``Adj Close`` only without auto-adjust)."""

PERIOD_DAYS = {"1d": 1, "5d": 5, "1mo": 30, "3mo": 91, "6mo": 182, "1y": 365, "2y": 730, "5y": 1826, "10y": 3652}

_SHARED: tuple[int, Cache] | None = None
"""The process's default cache and the process that opened it (a cache does not cross a fork)."""


def _default_cache() -> Cache:
    """One cache per process, from the settings (environment, ``.env``, ``marketcache.toml``)."""
    import os

    global _SHARED
    if _SHARED is None or _SHARED[0] != os.getpid():
        _SHARED = (os.getpid(), Cache())
    return _SHARED[1]


def _ticker_list(tickers: str | Sequence[str]) -> list[str]:
    if isinstance(tickers, str):
        names = tickers.replace(",", " ").split()
    else:
        names = [str(name).strip() for name in tickers]
    names = [name.upper() for name in names if name]
    if not names:
        raise InvalidInput("tickers: name at least one ticker")
    return list(dict.fromkeys(names))


def _first_day(start: DateLike, period: str | None, today: _dt.date) -> str | None:
    if start is not None:
        return iso_day(start, "start")
    if period is None or period == "max":
        return None
    if period == "ytd":
        return _dt.date(today.year, 1, 1).isoformat()
    if period not in PERIOD_DAYS:
        raise InvalidInput(
            f"period: must be one of {', '.join([*PERIOD_DAYS, 'ytd', 'max'])} (got {period!r})"
        )
    return (today - _dt.timedelta(days=PERIOD_DAYS[period])).isoformat()


def _last_day(end: DateLike) -> str | None:
    """yfinance's ``end`` is exclusive; the cache's is the last day included."""
    text = iso_day(end, "end")
    if text is None:
        return None
    try:
        day = _dt.date.fromisoformat(text)
    except ValueError:
        return text  # the cache names the rule the text breaks
    return (day - _dt.timedelta(days=1)).isoformat()


def _refuse_unsupported(interval: str, options: dict[str, Any]) -> None:
    if interval != "1d":
        raise InvalidInput(f"interval: marketcache holds daily bars only: use '1d' (got {interval!r})")
    for name in ("actions", "back_adjust", "repair", "prepost"):
        if options.get(name):
            raise InvalidInput(f"{name}: not supported by marketcache.download (leave it False)")
    unknown = sorted(set(options) - {"actions", "back_adjust", "repair", "prepost", "proxy", "session", "timeout"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: not an argument of download")


def _ticker_frame(batch: Any, auto_adjust: bool, rounding: bool) -> pd.DataFrame:
    """One ticker's bars in yfinance's columns: split-adjusted prices, ``Adj Close`` beside
    them, or all four prices scaled to the dividend-adjusted close (auto-adjust)."""
    bars = pandas_frame(batch)
    frame = bars.rename(
        columns={"open": "Open", "high": "High", "low": "Low", "close": "Close", "adj_close": "Adj Close", "volume": "Volume"}
    )
    if auto_adjust:
        ratio = frame["Adj Close"] / frame["Close"]
        for name in ("Open", "High", "Low"):
            frame[name] = frame[name] * ratio
        frame["Close"] = frame["Adj Close"]
        frame = frame.drop(columns="Adj Close")
    if rounding:
        prices = [name for name in frame.columns if name != "Volume"]
        frame[prices] = frame[prices].round(2)
    frame.index.name = "Date"
    return frame[[name for name in PRICE_ORDER if name in frame.columns]]


def download(
    tickers: str | Sequence[str],
    start: DateLike = None,
    end: DateLike = None,
    *,
    auto_adjust: bool = True,
    group_by: str = "column",
    multi_level_index: bool = True,
    period: str | None = None,
    interval: str = "1d",
    rounding: bool = False,
    keepna: bool = False,
    progress: bool = False,
    threads: bool | int = True,
    ignore_tz: bool | None = None,
    offline: bool = False,
    cache: Cache | None = None,
    **unsupported: Any,
) -> pd.DataFrame:
    """Daily bars of ``tickers`` shaped as ``yfinance.download`` (0.2.51 and later) returns
    them: a ``DatetimeIndex`` named ``Date`` (tz-naive), columns ``Close High Low Open Volume``
    (auto-adjusted, the default) or ``Adj Close Close High Low Open Volume``, as a column
    ``MultiIndex`` with levels ``Price`` and ``Ticker`` (``group_by="ticker"``: ``Ticker`` then
    ``Price``, prices in ``Open High Low Close`` order). ``start`` is included, ``end``
    excluded, as in yfinance; tickers are read concurrently through the cache.

    Differences from yfinance: daily bars only (``interval="1d"``); ``actions``,
    ``back_adjust``, ``repair`` and ``prepost`` are refused; ``period`` takes ``1d`` to ``10y``,
    ``ytd`` and ``max`` and, without ``start`` or ``period``, the range starts in 1990 (yfinance:
    one month); ``progress``, ``threads``, ``ignore_tz``, ``proxy``, ``session`` and ``timeout``
    are accepted and ignored (the index is always tz-naive, as yfinance's default for daily
    bars). Split-adjusted prices and dividend adjustment are computed by marketcache from the
    provider's splits and dividends, so a dividend after ``end`` is not in ``Adj Close`` (Yahoo's
    adjusted close includes every later dividend: the levels differ by a constant factor, the
    returns agree). A ticker that fails is left empty with a warning, as yfinance does.

    :param cache: the :class:`Cache` to read (default: one per process, from the settings).
    :param offline: never ask the provider; serve what is cached.
    """
    import pandas as pd

    _refuse_unsupported(interval, unsupported)
    if group_by not in ("column", "ticker"):
        raise InvalidInput(f"group_by: must be 'column' or 'ticker' (got {group_by!r})")
    names = _ticker_list(tickers)
    cache = cache or _default_cache()
    today = _dt.date.fromisoformat(cache._native.today)
    items = cache._native.bars(
        names, _first_day(start, period, today), _last_day(end), "splits", offline, False, True, False, True
    )
    frames: dict[str, pd.DataFrame] = {}
    failures: list[str] = []
    for name, item in zip(names, items):
        if isinstance(item, BaseException):
            failures.append(f"{name}: {item}")
            columns = [c for c in PRICE_ORDER if auto_adjust is False or c != "Adj Close"]
            frames[name] = pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="Date"), dtype="float64")
        else:
            frames[name] = _ticker_frame(item[0], auto_adjust, rounding)
    if failures:
        warnings.warn(f"{len(failures)} failed download(s): " + "; ".join(failures), stacklevel=2)
    data = pd.concat(frames.values(), axis=1, keys=list(frames), names=["Ticker", "Price"], sort=True)
    if not keepna:
        data = data.dropna(how="all")
    data.index.name = "Date"
    if group_by == "column":
        data.columns = data.columns.swaplevel(0, 1)
        data = data.sort_index(level=0, axis=1)
    if not multi_level_index and len(names) == 1:
        data = data.droplevel(0 if group_by == "ticker" else 1, axis=1).rename_axis(None, axis=1)
    return data
