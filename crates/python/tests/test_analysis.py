"""warm, stats, clear, backtest and optimize from Python: the same results as the CLI's."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

import marketcache


def cli_json(binary: str, database_url: str, *args: str) -> dict:
    run = subprocess.run(
        [binary, "--database-url", database_url, "--provider", "synthetic", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_warm_stats_and_clear(database_url: str) -> None:
    cache = marketcache.Cache(database_url, "synthetic")
    warmed = cache.warm(["AAPL", "MSFT"], "2019-01-01", "2020-12-31")
    assert [row["symbol"] for row in warmed] == ["AAPL", "MSFT"]
    assert all(row["error"] is None and row["bars"] == 505 for row in warmed)
    stats = cache.stats()
    held = {entry["symbol"]: entry["bars"] for entry in stats["symbols"]}
    assert held == {"AAPL@synthetic": 505, "MSFT@synthetic": 505}
    cleared = cache.clear("MSFT", before="2020-01-01")
    assert cleared["bars_deleted"] == 252
    with pytest.raises(marketcache.InvalidInput, match="everything=True"):
        cache.clear()
    assert cache.clear(everything=True)["bars_deleted"] == 505 + 253
    assert cache.stats()["symbols"] == []


def test_backtest_matches_the_cli(database_url: str, marketcache_binary: str) -> None:
    cache = marketcache.Cache(database_url, "synthetic")
    result, equity = cache.backtest("AAPL", "sma-cross", "2000-01-01", "2020-12-31", fast=20, slow=50, fees=0.001)
    expected = cli_json(
        marketcache_binary, database_url, "backtest", "AAPL", "--start", "2000-01-01", "--end", "2020-12-31",
        "--param", "fast=20", "--param", "slow=50", "--fees", "0.001", "--offline",
    )
    assert result["parameters"] == {"fast": 20, "slow": 50}
    assert result["metrics"] == expected["metrics"]
    assert result["buy_and_hold"] == expected["buy_and_hold"]
    assert isinstance(equity, pd.Series) and equity.index.name == "date"
    assert len(equity) == result["metrics"]["bars"]
    assert equity.iloc[-1] == pytest.approx(result["metrics"]["final_equity"], rel=1e-12)
    assert result["data"].upstream_requests > 0
    with pytest.raises(marketcache.InvalidInput, match="fast"):
        cache.backtest("AAPL", "sma-cross", fast=60, slow=50)
    with pytest.raises(marketcache.InvalidInput, match="unknown"):
        cache.backtest("AAPL", "momentum")


def test_optimize_returns_every_combination_best_first_as_the_cli_ranks_it(database_url: str, marketcache_binary: str) -> None:
    cache = marketcache.Cache(database_url, "synthetic")
    grid = cache.optimize("MSFT", "sma-cross", {"fast": range(5, 31), "slow": "20..80:5"}, "2005-01-01", "2020-12-31", train_until="2016-12-31")
    combinations = sum(1 for f in range(5, 31) for s in range(20, 81, 5) if f < s)
    assert len(grid) == combinations
    assert list(grid.columns[:2]) == ["fast", "slow"] and grid["fast"].dtype == np.int64
    sharpe = grid["sharpe"].dropna().to_numpy()
    assert (np.diff(sharpe) <= 0).all()
    summary = grid.attrs["search"]
    assert summary["evaluated"] == combinations and summary["train_until"] == "2016-12-31"
    best = summary["best"][0]
    assert best["out_of_sample"] is not None
    assert {"fast": int(grid.iloc[0]["fast"]), "slow": int(grid.iloc[0]["slow"])} == best["parameters"]
    expected = cli_json(
        marketcache_binary, database_url, "optimize", "MSFT", "--fast", "5..30", "--slow", "20..80:5",
        "--start", "2005-01-01", "--end", "2020-12-31", "--train-until", "2016-12-31", "--offline",
    )
    for ours, theirs in zip(summary["best"], expected["top"]):
        assert ours["parameters"] == {"fast": theirs["fast"], "slow": theirs["slow"]}
        assert ours["metrics"] == theirs["metrics"]
        assert ours["out_of_sample"] == theirs["out_of_sample"]
    # The table's rows are the same runs: the best row's metrics are the CLI's best.
    assert grid.iloc[0]["sharpe"] == expected["top"][0]["metrics"]["sharpe"]


def test_strategies_list_their_defaults() -> None:
    catalog = {entry["name"]: entry for entry in marketcache.strategies()}
    assert set(catalog) >= {"sma-cross", "ema-cross", "rsi", "bollinger", "macd", "buy-and-hold"}
    fast = catalog["sma-cross"]["parameters"][0]
    assert (fast["name"], fast["default"], fast["default_range"]) == ("fast", "50", "5..100")
