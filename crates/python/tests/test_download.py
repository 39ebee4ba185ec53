"""``download`` against what yfinance returns: the shape of recorded ``yf.download`` results
(committed with their provenance in fixtures/), and values against a recorded Yahoo answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import marketcache

from conftest import FIXTURES


def recorded(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / name, header=[0, 1], index_col=0, parse_dates=True)


def test_several_tickers_come_back_in_yfinances_shape_on_its_trading_days(database_url: str) -> None:
    expected = recorded("yf_download_AAPL_GOOGL_TSLA_2023-01-01_2025-11-11.csv")
    cache = marketcache.Cache(database_url, "synthetic")
    # Passed in yfinance's order, not sorted: both sort the tickers within each price.
    ours = marketcache.download(["AAPL", "TSLA", "GOOGL"], start="2023-01-01", end="2025-11-11", cache=cache)
    assert ours.columns.names == ["Price", "Ticker"] == expected.columns.names
    assert ours.columns.tolist() == expected.columns.tolist()
    assert ours.index.name == "Date" == expected.index.name
    assert ours.index.tz is None
    # end is exclusive, holidays are absent: the same 717 sessions.
    assert ours.index.equals(expected.index)
    assert ours.dtypes[("Volume", "AAPL")] == np.int64


def test_one_ticker_keeps_the_two_levels_unless_asked_and_adj_close_without_auto_adjust(database_url: str) -> None:
    expected = recorded("yf_download_single_AAPL_2018-01-01_2023-12-31.csv")
    cache = marketcache.Cache(database_url, "synthetic")
    ours = marketcache.download("AAPL", start="2018-01-01", end="2023-12-31", cache=cache)
    assert ours.columns.tolist() == expected.columns.tolist()
    assert ours.index.equals(expected.index)

    flat = marketcache.download("AAPL", start="2018-01-01", end="2023-12-31", cache=cache, multi_level_index=False)
    assert flat.columns.tolist() == ["Close", "High", "Low", "Open", "Volume"]
    raw = marketcache.download("aapl", start="2018-01-01", end="2023-12-31", cache=cache, auto_adjust=False)
    assert [price for price, _ in raw.columns] == ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    by_ticker = marketcache.download("AAPL MSFT", start="2023-01-01", end="2023-02-01", cache=cache, group_by="ticker")
    assert by_ticker.columns.names == ["Ticker", "Price"]
    assert by_ticker.columns.tolist()[:5] == [("AAPL", p) for p in ("Open", "High", "Low", "Close", "Volume")]


def test_values_follow_yahoos_adjusted_prices(yahoo, database_url: str) -> None:
    """Yahoo's recorded chart for AAPL (a 4:1 split on 2020-08-31, a dividend on 11-06) served
    locally: download's auto-adjusted bars against yfinance's, recorded in July 2025."""
    expected = recorded("yf_download_single_AAPL_2018-01-01_2023-12-31.csv").loc["2020-08-31":"2020-11-06"]
    cache = marketcache.Cache(database_url, "yahoo")
    ours = marketcache.download("AAPL", start="2020-08-31", end="2020-11-07", cache=cache)
    assert ours.index.equals(expected.index) and len(ours) == 49
    np.testing.assert_array_equal(ours[("Volume", "AAPL")].to_numpy(), expected[("Volume", "AAPL")].to_numpy())
    # yfinance's July 2025 download also holds the dividends paid since: one constant factor
    # apart (float32 values in the file), so the returns are the same.
    for price in ("Open", "High", "Low", "Close"):
        ratio = (expected[(price, "AAPL")] / ours[(price, "AAPL")]).to_numpy()
        assert np.ptp(ratio) / ratio.mean() < 2e-6, price
    # The factor is the 19 quarterly dividends from 2021 to mid-2025, about 0.13 % each.
    assert 0.97 < ratio.mean() < 0.98
    again = marketcache.download("AAPL", start="2020-08-31", end="2020-11-07", cache=cache)
    pd.testing.assert_frame_equal(ours, again)
    assert len(yahoo.requests) == 1


def test_a_failed_ticker_is_left_empty_with_a_warning_and_bad_arguments_are_refused(yahoo, database_url: str) -> None:
    cache = marketcache.Cache(database_url, "yahoo")
    with pytest.warns(UserWarning, match="1 failed download"):
        frame = marketcache.download(["AAPL", "ZZZZ"], start="2020-09-01", end="2020-10-01", cache=cache)
    assert frame[("Close", "AAPL")].notna().all()
    assert frame[("Close", "ZZZZ")].isna().all()
    for arguments, field in (
        ({"interval": "1h"}, "interval"),
        ({"actions": True}, "actions"),
        ({"group_by": "price"}, "group_by"),
        ({"period": "3w"}, "period"),
        ({"colour": "blue"}, "colour"),
    ):
        with pytest.raises(marketcache.InvalidInput, match=field):
            marketcache.download("AAPL", cache=cache, **arguments)
