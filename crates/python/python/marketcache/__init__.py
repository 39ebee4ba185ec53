"""marketcache: daily price bars (OHLCV) from a cache shared by every process and machine that
uses it, filled from market-data APIs only with what it lacks.

>>> import marketcache
>>> cache = marketcache.Cache()                      # settings as the marketcache CLI reads them
>>> bars = cache.get_bars("AAPL", "1990-01-01", "2025-12-31")   # pandas.DataFrame
>>> wide = marketcache.download(["AAPL", "MSFT"], start="2020-01-01")  # as yfinance.download

pandas, polars and pyarrow are imported only when a method returns their objects, so
``import marketcache`` stays fast.
"""

from marketcache._cache import Cache, FetchReport, strategies
from marketcache._download import download
from marketcache._errors import (
    DatabaseError,
    Error,
    InvalidInput,
    NoData,
    ProviderError,
    RateLimited,
    UnknownSymbol,
    Unreachable,
)
from marketcache._native import __version__

__all__ = [
    "Cache",
    "FetchReport",
    "download",
    "strategies",
    "Error",
    "InvalidInput",
    "UnknownSymbol",
    "RateLimited",
    "Unreachable",
    "ProviderError",
    "DatabaseError",
    "NoData",
    "__version__",
]
