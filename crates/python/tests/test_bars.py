"""Reads through the Python package: DataFrames with their types and index, equal to what the
CLI prints and writes (CSV, Parquet) for the same request, and the errors by kind."""

from __future__ import annotations

import io
import subprocess

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import marketcache


def synthetic(database_url: str, **options: object) -> marketcache.Cache:
    return marketcache.Cache(database_url, "synthetic", **options)


def cli(binary: str, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [binary, "--database-url", database_url, "--provider", "synthetic", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return run


def test_get_bars_is_a_dataframe_indexed_by_date_and_a_second_read_asks_nobody(database_url: str) -> None:
    cache = synthetic(database_url)
    frame, report = cache.get_bars("AAPL", "2020-01-01", "2020-12-31", with_report=True)
    assert isinstance(frame, pd.DataFrame)
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "date"
    assert frame.index.dtype == np.dtype("datetime64[ns]")
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.dtypes.tolist() == [np.float64] * 4 + [np.int64]
    assert len(frame) == 253  # NYSE sessions of 2020
    assert frame.index.is_monotonic_increasing and frame.index[0] == pd.Timestamp("2020-01-02")
    assert report.fetched_bars == 253 and report.upstream_requests > 0
    assert report.providers == ("synthetic",)

    again, second = cache.get_bars("AAPL", "2020-01-01", "2020-12-31", with_report=True)
    assert second.upstream_requests == 0 and second.cached_bars == 253
    assert cache.last_report == second
    pd.testing.assert_frame_equal(frame, again)
    # The frame owns its memory: it can be changed in place like any other.
    again.iloc[0, 0] = 1.0
    again["close"] *= 2
    assert cache.get_bars("AAPL", "2020-01-01", "2020-12-31").iloc[0, 0] != 1.0


def test_the_frame_equals_the_cli_csv_of_the_same_request(database_url: str, marketcache_binary: str) -> None:
    frame = synthetic(database_url).get_bars("MSFT", "1995-01-01", "2024-12-31")
    printed = cli(marketcache_binary, database_url, "get", "MSFT", "--start", "1995-01-01", "--end", "2024-12-31", "--offline")
    expected = pd.read_csv(io.StringIO(printed.stdout), index_col="date", parse_dates=["date"])
    expected.index = expected.index.astype("datetime64[ns]")
    assert len(frame) > 7000
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)


def test_polars_and_arrow_hold_the_same_bars(database_url: str) -> None:
    cache = synthetic(database_url)
    frame = cache.get_bars("NVDA", "2010-01-01", "2012-12-31")
    table = cache.get_bars_arrow("NVDA", "2010-01-01", "2012-12-31")
    assert isinstance(table, pa.Table)
    assert table.schema.field("date").type == pa.date32()
    assert table.schema.metadata[b"marketcache.symbol"] == b"NVDA"
    polars = cache.get_bars_polars("NVDA", "2010-01-01", "2012-12-31")
    assert isinstance(polars, pl.DataFrame)
    assert polars.schema == pl.Schema(
        {"date": pl.Date, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64, "close": pl.Float64, "volume": pl.Int64}
    )
    for other in (table.to_pandas(), polars.to_pandas()):
        other = other.set_index(pd.DatetimeIndex(pd.to_datetime(other["date"]), name="date")).drop(columns="date")
        pd.testing.assert_frame_equal(frame, other.astype(frame.dtypes.to_dict()), check_exact=True, check_index_type=False)


def test_the_cli_parquet_reads_back_equal_in_pyarrow_and_polars(database_url: str, marketcache_binary: str, tmp_path) -> None:
    frame = synthetic(database_url).get_bars("AMD", "2000-01-01", "2020-12-31", adj_close=True)
    path = tmp_path / "amd.parquet"
    cli(marketcache_binary, database_url, "get", "AMD", "--start", "2000-01-01", "--end", "2020-12-31", "--adj-close", "-o", str(path))
    table = pq.read_table(path)
    assert table.column_names == ["date", "open", "high", "low", "close", "adj_close", "volume"]
    from_arrow = table.to_pandas().set_index("date")
    from_polars = pl.read_parquet(path).to_pandas().set_index("date")
    for read in (from_arrow, from_polars):
        read.index = pd.DatetimeIndex(pd.to_datetime(read.index), name="date").astype("datetime64[ns]")
        pd.testing.assert_frame_equal(frame, read, check_exact=True)


def test_adj_close_is_the_close_adjusted_for_dividends_too(yahoo, database_url: str) -> None:
    cache = marketcache.Cache(database_url, "yahoo")
    split = cache.get_bars("AAPL", "2020-08-31", "2020-11-06", adj_close=True)
    total = cache.get_bars("AAPL", "2020-08-31", "2020-11-06", adjust="all")
    np.testing.assert_array_equal(split["adj_close"].to_numpy(), total["close"].to_numpy())
    # The 0.205 dividend of 2020-11-06 scales every earlier close by 1 - 0.205 / close(11-05).
    factor = 1 - 0.205 / split.loc["2020-11-05", "close"]
    before = split.loc[:"2020-11-05"]
    np.testing.assert_allclose(before["adj_close"] / before["close"], factor, rtol=1e-12)
    assert split.loc["2020-11-06", "adj_close"] == split.loc["2020-11-06", "close"]
    assert len(yahoo.requests) == 1


def test_errors_are_raised_by_kind_with_the_field_and_the_rule(database_url: str) -> None:
    cache = synthetic(database_url)
    with pytest.raises(marketcache.InvalidInput, match="symbol") as bad_symbol:
        cache.get_bars("AA PL")
    assert isinstance(bad_symbol.value, ValueError) and isinstance(bad_symbol.value, marketcache.Error)
    with pytest.raises(marketcache.InvalidInput, match="February 2020 has 29 days"):
        cache.get_bars("AAPL", "2020-02-30")
    with pytest.raises(marketcache.InvalidInput, match="adjust must be one of none, splits, all"):
        cache.get_bars("AAPL", adjust="dividends")  # type: ignore[arg-type]
    with pytest.raises(marketcache.InvalidInput, match="start"):
        cache.get_bars("AAPL", start=3.5)  # type: ignore[arg-type]
    with pytest.raises(marketcache.InvalidInput, match="provider 'nope' is invalid"):
        marketcache.Cache(database_url, "nope")
    with pytest.raises(marketcache.InvalidInput, match="pool_size"):
        marketcache.Cache(database_url, "synthetic", pool_size=-1)


def test_an_unreachable_provider_is_unreachable_and_offline_serves_the_cache(database_url: str) -> None:
    synthetic(database_url).get_bars("TSLA", "2021-01-01", "2021-01-31")
    cache = marketcache.Cache(database_url)  # Yahoo, pointed at a closed local port
    with pytest.raises(marketcache.Unreachable, match="provider yahoo could not be reached"):
        cache.get_bars("MSFT", "2021-01-01", "2021-01-31")
    frame, report = cache.get_bars("MSFT", "2021-01-01", "2021-01-31", offline=True, with_report=True)
    assert frame.empty and report.missing


def test_an_unknown_symbol_is_unknown_symbol(yahoo, database_url: str) -> None:
    cache = marketcache.Cache(database_url, "yahoo")
    with pytest.raises(marketcache.UnknownSymbol):
        cache.get_bars("ZZZZ", "2020-09-01", "2020-09-30")
