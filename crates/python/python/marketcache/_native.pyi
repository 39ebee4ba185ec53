"""Types of the native module (Rust, PyO3). Use the package's public API instead:
:class:`marketcache.Cache` and :func:`marketcache.download`."""

from os import PathLike

import numpy
import pyarrow

__version__: str

class NativeCache:
    def __init__(
        self,
        database_url: str | None = None,
        provider: str | None = None,
        csv_dir: str | PathLike[str] | None = None,
        latency_ms: int | None = None,
        max_span_days: int | None = None,
        concurrency: int | None = None,
        pool_size: str | None = None,
        freshness: str | None = None,
    ) -> None: ...
    @property
    def database(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def today(self) -> str: ...
    def bars(
        self,
        symbols: list[str],
        start: str | None = None,
        end: str | None = None,
        adjust: str = "splits",
        offline: bool = False,
        closed_only: bool = False,
        adj_close: bool = False,
        force_refresh: bool = False,
        numpy: bool = False,
    ) -> list[tuple[pyarrow.RecordBatch | dict[str, numpy.ndarray], str] | Exception]: ...
    def warm(self, symbols: list[str], start: str | None = None, end: str | None = None) -> str: ...
    def stats(self) -> str: ...
    def clear(self, symbol: str | None = None, before: str | None = None) -> str: ...
    def backtest(
        self,
        symbol: str,
        strategy: str,
        params: list[tuple[str, str]],
        start: str | None = None,
        end: str | None = None,
        initial_cash: float = 10000.0,
        fees: float = 0.0,
        slippage: float = 0.0,
        offline: bool = False,
        strict: bool = False,
    ) -> tuple[str, pyarrow.RecordBatch]: ...
    def optimize(
        self,
        symbol: str,
        strategy: str,
        ranges: list[tuple[str, str]],
        start: str | None = None,
        end: str | None = None,
        metric: str = "sharpe",
        initial_cash: float = 10000.0,
        fees: float = 0.0,
        slippage: float = 0.0,
        train_until: str | None = None,
        offline: bool = False,
        strict: bool = False,
    ) -> tuple[pyarrow.RecordBatch, str]: ...

def strategies() -> str: ...
