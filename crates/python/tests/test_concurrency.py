"""One cache shared by threads and by separate processes: reads run in parallel (the GIL is
released) and a missing range is fetched from the provider once, whoever asks."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import marketcache

LATENCY_MS = 150


def cold_read(database_url: str, symbol: str) -> int:
    """Opens the cache in this process and reads a cold range: the requests it made."""
    cache = marketcache.Cache(database_url, "synthetic", latency_ms=LATENCY_MS)
    frame, report = cache.get_bars(symbol, "2000-01-01", "2009-12-31", with_report=True)
    assert len(frame) == 2515
    return report.upstream_requests


def chunks_of_a_cold_read(tmp_path) -> int:
    cache = marketcache.Cache(f"sqlite://{tmp_path / 'alone.db'}", "synthetic")
    return cache.get_bars("MSFT", "2000-01-01", "2009-12-31", with_report=True)[1].upstream_requests


def test_threads_share_one_fetch_and_read_in_parallel(database_url: str, tmp_path) -> None:
    chunks = chunks_of_a_cold_read(tmp_path)
    cache = marketcache.Cache(database_url, "synthetic", latency_ms=LATENCY_MS)
    with ThreadPoolExecutor(8) as pool:
        reports = list(pool.map(lambda _: cache.get_bars("MSFT", "2000-01-01", "2009-12-31", with_report=True)[1], range(8)))
    assert sum(report.upstream_requests for report in reports) == chunks
    # Four symbols of 2 years each, one request of 150 ms per chunk at most 4 at once: in
    # parallel they take about what one takes; one after another, four times as long.
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda s: cache.get_bars(s, "2018-01-01", "2018-06-29"), ["AAPL", "NVDA", "AMD", "TSLA"]))
    assert time.perf_counter() - started < 4 * LATENCY_MS / 1000 * 0.8


def test_three_processes_fetch_each_chunk_once(database_url: str, tmp_path) -> None:
    chunks = chunks_of_a_cold_read(tmp_path)
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        requests = pool.starmap(cold_read, [(database_url, "MSFT")] * 3)
    assert sum(requests) == chunks, requests


def _use_inherited(cache: marketcache.Cache, queue: multiprocessing.Queue) -> None:
    try:
        cache.get_bars("AAPL", "2020-01-01", "2020-01-31")
        queue.put("no error")
    except marketcache.Error as error:
        queue.put(str(error))


@pytest.mark.skipif(not hasattr(multiprocessing, "get_context"), reason="needs multiprocessing")
def test_a_cache_does_not_cross_a_fork(tmp_path) -> None:
    cache = marketcache.Cache(f"sqlite://{tmp_path / 'fork.db'}", "synthetic")
    cache.get_bars("AAPL", "2020-01-01", "2020-01-31")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_use_inherited, args=(cache, queue))
    child.start()
    child.join(30)
    assert "open a Cache in each process" in queue.get(timeout=5)
    # A cache opened in the child works: the runtime is rebuilt there.
    child = context.Process(target=lambda: queue.put(cold_read(f"sqlite://{tmp_path / 'child.db'}", "AAPL")))
    child.start()
    child.join(60)
    assert queue.get(timeout=5) > 0
