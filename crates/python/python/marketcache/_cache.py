"""The cache as Python sees it: :class:`Cache`, whose every method calls the same Rust code as
the ``marketcache`` command line and HTTP API, and :class:`FetchReport`."""

from __future__ import annotations

import datetime as _dt
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence, Union

from marketcache import _native
from marketcache._errors import InvalidInput

if TYPE_CHECKING:
    import os

    import pandas as pd
    import polars as pl
    import pyarrow as pa

DateLike = Union[str, _dt.date, _dt.datetime, None]
"""A day: ``"2020-01-31"``, a ``datetime.date``, a ``datetime.datetime`` or a
``pandas.Timestamp`` (its date is used), or ``None`` for the default."""

Adjust = Literal["none", "splits", "all"]
"""``"none"``: raw prices; ``"splits"``: split-adjusted (the default, what backtests need);
``"all"``: splits and dividends (total return)."""

RangeLike = Union[str, int, float, range]
"""A search range: ``"5..100"``, ``"10..300:2"``, ``"1..3:0.25"``, one value, or a Python
``range`` (``range(5, 101)`` is ``5..100``)."""


@dataclass(frozen=True)
class FetchReport:
    """How a read was served: what came from the cache, what was fetched and what it cost."""

    cached_bars: int
    """Bars served from the cache that were there before this read."""
    fetched_bars: int
    """Bars fetched from the provider by this read."""
    upstream_requests: int
    """Requests this read made to the provider (0 for a cached read)."""
    elapsed_ms: float
    missing: tuple[tuple[_dt.date, _dt.date], ...]
    """Ranges with trading days neither cached nor known to be empty (an offline read)."""
    rejected_rows: int
    """Rows the provider sent that failed the bar checks."""
    provisional_bars: int
    """Bars that are not final yet (today's session, the provider's publication lag)."""
    providers: tuple[str, ...]
    """The providers that answered for the range, in date order."""
    upstream_unavailable: str | None
    """Why the provider was not asked for ``missing`` although the read was not offline."""
    clipped_to: _dt.date | None
    """Today, when the requested range ended after it (later days cannot have bars)."""
    basis: str
    """What the prices are before adjustment: ``raw`` or ``split_and_dividend_adjusted``."""

    @classmethod
    def from_json(cls, text: str) -> FetchReport:
        fields = json.loads(text)
        day = _dt.date.fromisoformat
        return cls(
            cached_bars=fields["cached_bars"],
            fetched_bars=fields["fetched_bars"],
            upstream_requests=fields["upstream_requests"],
            elapsed_ms=fields["elapsed_ms"],
            missing=tuple((day(part["start"]), day(part["end"])) for part in fields["missing"]),
            rejected_rows=fields["rejected_rows"],
            provisional_bars=fields["provisional_bars"],
            providers=tuple(fields["providers"]),
            upstream_unavailable=fields["upstream_unavailable"],
            clipped_to=day(fields["clipped_to"]) if fields["clipped_to"] else None,
            basis=fields["basis"],
        )


def iso_day(value: Any, field: str) -> str | None:
    """``value`` as ``YYYY-MM-DD`` (checked again by the cache), or ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, _dt.datetime):  # pandas.Timestamp is one too
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if type(value).__name__ == "datetime64":
        return str(value)[:10]
    raise InvalidInput(
        f"{field}: must be a date, a datetime or an ISO date string such as 2020-01-31 "
        f"(got {type(value).__name__})"
    )


def _parameter_text(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidInput(f"{name}: must be a number or its text (got {value!r})")
    return str(value)


def _range_text(name: str, value: Any) -> str:
    if isinstance(value, range):
        if len(value) == 0 or value.step <= 0:
            raise InvalidInput(f"{name}: the range {value!r} is empty or decreasing")
        return f"{value[0]}..{value[-1]}:{value.step}"
    return _parameter_text(name, value)


def pandas_frame(columns: dict[str, Any]) -> pd.DataFrame:
    """The NumPy columns the native read hands over (``date`` as nanoseconds since 1970, then
    the prices and volume) as a DataFrame indexed by ``date``. The arrays own the memory Rust
    filled, so the frame is writable and nothing was copied or made a Python object per row."""
    import pandas as pd

    index = pd.DatetimeIndex(columns.pop("date").view("datetime64[ns]"), name="date")
    return pd.DataFrame(columns, index=index, copy=False)


class Cache:
    """A marketcache cache: SQLite by default, PostgreSQL when shared.

    Settings are resolved as the ``marketcache`` command line resolves them: these arguments,
    then the environment (and a ``.env`` file in the working directory: ``DATABASE_URL``,
    ``MARKETCACHE_PROVIDER``, provider keys), then ``marketcache.toml``, then defaults (a SQLite
    file in the platform's data directory, Yahoo). Opening creates or updates the database's
    schema.

    One ``Cache`` may be shared by every thread of a process; every call releases the GIL while
    it reads, fetches or computes. Processes share a cache through its database: open one
    ``Cache`` in each process (a ``Cache`` does not cross a fork). However many threads and
    processes ask for the same missing bars at once, the provider is asked once.
    """

    def __init__(
        self,
        database_url: str | None = None,
        provider: str | None = None,
        *,
        csv_dir: str | os.PathLike[str] | None = None,
        latency_ms: int | None = None,
        max_span_days: int | None = None,
        concurrency: int | None = None,
        pool_size: int | None = None,
        freshness: str | None = None,
    ) -> None:
        """
        :param database_url: ``sqlite:///path/to/file.db`` or ``postgres://user@host/db``.
        :param provider: ``yahoo`` (the default), ``stooq``, ``polygon``, ``alpaca``,
            ``tiingo``, ``alphavantage``, ``csv`` (with ``csv_dir``) or ``synthetic`` (made-up
            prices, offline); ``"yahoo,tiingo"`` names fallbacks.
        :param csv_dir: the folder of ``SYMBOL.csv`` files of the ``csv`` provider.
        :param latency_ms: ``synthetic`` only: the latency of each request.
        :param max_span_days: ``synthetic`` only: most calendar days per request.
        :param concurrency: ``synthetic`` only: most requests in flight.
        :param pool_size: most PostgreSQL connections of this process (default 4).
        :param freshness: how long a live or late recent bar is served before the provider is
            asked again, such as ``"15m"`` (the default) or ``"30s"``.
        """
        for name, number in (
            ("latency_ms", latency_ms),
            ("max_span_days", max_span_days),
            ("concurrency", concurrency),
            ("pool_size", pool_size),
        ):
            if number is not None and (isinstance(number, bool) or not isinstance(number, int) or number < 0):
                raise InvalidInput(f"{name}: must be a whole number >= 0 (got {number!r})")
        try:
            self._native = _native.NativeCache(
                database_url=database_url,
                provider=provider,
                csv_dir=csv_dir,
                latency_ms=latency_ms,
                max_span_days=max_span_days,
                concurrency=concurrency,
                pool_size=None if pool_size is None else str(pool_size),
                freshness=freshness,
            )
        except OverflowError as error:
            raise InvalidInput(f"a number is out of range: {error}") from None
        self._last = threading.local()

    @property
    def database(self) -> str:
        """The database, its password hidden."""
        return self._native.database

    @property
    def provider(self) -> str:
        """The provider the cache fetches from."""
        return self._native.provider

    @property
    def last_report(self) -> FetchReport | None:
        """The report of this thread's last read (``get_bars*``), or ``None``."""
        text = getattr(self._last, "report", None)
        return None if text is None else FetchReport.from_json(text)

    def __repr__(self) -> str:
        return f"Cache(database={self.database!r}, provider={self.provider!r})"

    def _read(
        self,
        symbol: str,
        start: DateLike,
        end: DateLike,
        adjust: Adjust,
        offline: bool,
        closed_only: bool,
        adj_close: bool,
        force_refresh: bool,
        numpy: bool,
    ) -> tuple[Any, str]:
        """One symbol's columns and its report as JSON (parsed only when asked for)."""
        if not isinstance(symbol, str):
            raise InvalidInput(f"symbol: must be a string (got {type(symbol).__name__})")
        (item,) = self._native.bars(
            [symbol],
            iso_day(start, "start"),
            iso_day(end, "end"),
            adjust,
            offline,
            closed_only,
            adj_close,
            force_refresh,
            numpy,
        )
        if isinstance(item, BaseException):
            raise item
        columns, report = item
        self._last.report = report
        return columns, report

    def get_bars(
        self,
        symbol: str,
        start: DateLike = None,
        end: DateLike = None,
        adjust: Adjust = "splits",
        offline: bool = False,
        closed_only: bool = False,
        *,
        adj_close: bool = False,
        force_refresh: bool = False,
        with_report: bool = False,
    ) -> pd.DataFrame:
        """The daily bars of ``symbol`` from ``start`` to ``end`` (both included; defaults
        1990-01-01 and today in New York), fetching from the provider only what the cache
        lacks.

        :returns: a ``pandas.DataFrame`` indexed by a ``DatetimeIndex`` named ``date`` with
            columns ``open``, ``high``, ``low``, ``close`` (float64) and ``volume`` (int64);
            with ``adj_close``, an ``adj_close`` column after ``close`` (the close adjusted for
            splits and dividends, as yfinance's ``Adj Close``). With ``with_report``, the tuple
            ``(frame, FetchReport)``; the report is also :attr:`last_report`.
        :param adjust: ``"splits"`` (default), ``"all"`` (splits and dividends) or ``"none"``.
        :param offline: never ask the provider; the report lists what is missing.
        :param closed_only: leave out bars that are not final yet.
        :param force_refresh: fetch the whole range again.
        :raises UnknownSymbol, RateLimited, Unreachable, ProviderError, DatabaseError,
            InvalidInput: all :class:`marketcache.Error`.
        """
        batch, report = self._read(
            symbol, start, end, adjust, offline, closed_only, adj_close, force_refresh, True
        )
        frame = pandas_frame(batch)
        return (frame, FetchReport.from_json(report)) if with_report else frame

    def get_bars_polars(
        self,
        symbol: str,
        start: DateLike = None,
        end: DateLike = None,
        adjust: Adjust = "splits",
        offline: bool = False,
        closed_only: bool = False,
        *,
        adj_close: bool = False,
        force_refresh: bool = False,
        with_report: bool = False,
    ) -> pl.DataFrame:
        """:meth:`get_bars` as a ``polars.DataFrame``: a ``date`` column (``pl.Date``), then
        ``open``, ``high``, ``low``, ``close`` (``Float64``), [``adj_close``,] ``volume``
        (``Int64``), taken from Arrow without a copy."""
        import polars as pl

        batch, report = self._read(
            symbol, start, end, adjust, offline, closed_only, adj_close, force_refresh, False
        )
        frame = pl.DataFrame(batch)  # through the Arrow PyCapsule interface, without a copy
        return (frame, FetchReport.from_json(report)) if with_report else frame

    def get_bars_arrow(
        self,
        symbol: str,
        start: DateLike = None,
        end: DateLike = None,
        adjust: Adjust = "splits",
        offline: bool = False,
        closed_only: bool = False,
        *,
        adj_close: bool = False,
        force_refresh: bool = False,
        with_report: bool = False,
    ) -> pa.Table:
        """:meth:`get_bars` as a ``pyarrow.Table`` (``date`` as ``date32``), built once in Rust
        and handed over through the Arrow C data interface. The schema's metadata names the
        symbol (``marketcache.symbol``), the price basis and the adjustment."""
        import pyarrow as pa

        batch, report = self._read(
            symbol, start, end, adjust, offline, closed_only, adj_close, force_refresh, False
        )
        table = pa.Table.from_batches([batch])
        return (table, FetchReport.from_json(report)) if with_report else table

    def warm(
        self, symbols: str | Sequence[str], start: DateLike = None, end: DateLike = None
    ) -> list[dict[str, Any]]:
        """Fills the cache for ``symbols`` over the range (as many at once as the provider
        allows), going on past a symbol that fails.

        :returns: one dict per symbol: ``symbol``, ``bars``, ``first_date``, ``last_date``,
            ``upstream_requests``, ``fetched_bars``, ``elapsed_ms`` and ``error`` (the failure
            with its causes, or ``None``).
        """
        names = [symbols] if isinstance(symbols, str) else list(symbols)
        return json.loads(self._native.warm(names, iso_day(start, "start"), iso_day(end, "end")))

    def stats(self) -> dict[str, Any]:
        """What the cache holds: totals (symbols, bars, bytes on disk) and one entry per
        symbol (bars, first and last day, covered ranges)."""
        return json.loads(self._native.stats())

    def clear(
        self,
        symbol: str | None = None,
        *,
        before: DateLike = None,
        everything: bool = False,
    ) -> dict[str, int]:
        """Removes ``symbol``'s bars and coverage (only those before ``before`` when given),
        so they are fetched again when next read. Clearing every symbol needs
        ``everything=True``.

        :returns: ``bars_deleted`` and ``coverage_spans_changed``.
        """
        if symbol is None and not everything:
            raise InvalidInput(
                "symbol: name the symbol to clear, or pass everything=True to clear every symbol"
            )
        if symbol is not None and everything:
            raise InvalidInput("everything: cannot be combined with a symbol")
        return json.loads(self._native.clear(symbol, iso_day(before, "before")))

    def backtest(
        self,
        symbol: str,
        strategy: str = "sma-cross",
        start: DateLike = None,
        end: DateLike = None,
        *,
        initial_cash: float = 10_000.0,
        fees: float = 0.0,
        slippage: float = 0.0,
        offline: bool = False,
        strict: bool = False,
        **params: int | float | str,
    ) -> tuple[dict[str, Any], pd.Series]:
        """Backtests ``strategy`` with ``params`` (``fast=20, slow=50``; defaults from
        :func:`marketcache.strategies`) on the split-adjusted bars, beside buy-and-hold, with
        vectorbt's ``from_signals`` conventions (fills at the signal bar's close, long only).

        Unless ``strict``, a provider that cannot be reached is no failure when the cache holds
        the range but its last 7 days: the run uses the cached bars and ``result["data"]``
        says what was missing.

        :returns: ``(result, equity)``: ``result`` holds ``metrics`` and ``buy_and_hold``
            (sharpe, sortino, cagr, max_drawdown, …), ``parameters``, ``trades`` and ``data``
            (the :class:`FetchReport`); ``equity`` is the account's value at every bar, a
            ``pandas.Series`` indexed by ``date``.
        """
        import pandas as pd

        pairs = [(name, _parameter_text(name, value)) for name, value in params.items()]
        text, batch = self._native.backtest(
            symbol,
            strategy,
            pairs,
            iso_day(start, "start"),
            iso_day(end, "end"),
            float(initial_cash),
            float(fees),
            float(slippage),
            offline,
            strict,
        )
        result = json.loads(text)
        result["data"] = FetchReport.from_json(json.dumps(result["data"]))
        curve = batch.to_pandas()
        equity = pd.Series(
            curve["equity"].to_numpy(),
            index=pd.DatetimeIndex(pd.to_datetime(curve["date"]), name="date"),
            name="equity",
        )
        return result, equity

    def optimize(
        self,
        symbol: str,
        strategy: str = "sma-cross",
        ranges: Mapping[str, RangeLike] | None = None,
        start: DateLike = None,
        end: DateLike = None,
        *,
        metric: str = "sharpe",
        initial_cash: float = 10_000.0,
        fees: float = 0.0,
        slippage: float = 0.0,
        train_until: DateLike = None,
        offline: bool = False,
        strict: bool = False,
    ) -> pd.DataFrame:
        """Backtests every combination of ``ranges`` (a parameter left out searches its
        default range; sma-cross's default grid is 11,900 combinations) on all cores.

        :param metric: the ranking: sharpe, sortino, calmar, cagr, total-return,
            final-equity, max-drawdown, win-rate or average-trade-return.
        :param train_until: rank on the bars up to this day; the best combinations are also
            run on the later bars (``attrs["search"]["best"][i]["out_of_sample"]``).
        :returns: a ``pandas.DataFrame`` of every combination, best first: one column per
            parameter, then the metrics (NaN where undefined, such as a Sharpe ratio without
            trades), ``trades`` and ``closed_trades``. ``frame.attrs["search"]`` holds the
            search's summary (sizes, split, best with out-of-sample metrics, data report).
        """
        pairs = [(name, _range_text(name, value)) for name, value in (ranges or {}).items()]
        batch, text = self._native.optimize(
            symbol,
            strategy,
            pairs,
            iso_day(start, "start"),
            iso_day(end, "end"),
            metric,
            float(initial_cash),
            float(fees),
            float(slippage),
            iso_day(train_until, "train_until"),
            offline,
            strict,
        )
        frame = batch.to_pandas()
        summary = json.loads(text)
        summary["data"] = FetchReport.from_json(json.dumps(summary["data"]))
        frame.attrs["search"] = summary
        return frame


def strategies() -> list[dict[str, Any]]:
    """Every strategy :meth:`Cache.backtest` and :meth:`Cache.optimize` take, with each
    parameter's type, bounds, default and default search range."""
    return json.loads(_native.strategies())
