#!/usr/bin/env python3
"""A cache of 1,000 symbols x 35 years (about 6 million bars), as whole processes of the release
binary (after `cargo build --release`), on SQLite and, with MARKETCACHE_TEST_POSTGRES_URL, on
PostgreSQL (in a scratch database, dropped afterwards):

- the warm of 1,000 made-up symbols 1990-2025 with a zero-latency upstream: bars per second;
- `get S0001 --offline` (35 years, whole process) with 9 symbols stored and with 1,000:
  the median of 15 runs each, which must not grow with the cache;
- `stats` with 1,000 symbols (whole process, median of 5);
- bytes per bar on disk.

Standard library only; `psql` for the scratch PostgreSQL database. Prints a Markdown table.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import BIN, start_table, synthetic_env

SYMBOLS = [f"S{n:04d}" for n in range(1, 1001)]



def run(url, *args):
    started = time.perf_counter()
    result = subprocess.run([BIN, "--database-url", url, *args], capture_output=True, text=True, env=synthetic_env())
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{args[0]} failed: {result.stderr[-2000:]}")
    return elapsed, result.stdout


def median_time(url, args, times):
    return statistics.median(run(url, *args)[0] for _ in range(times))


def warm(url, symbols):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(symbols))
    try:
        elapsed, _ = run(url, "warm", "--file", listing.name, "--start", "1990-01-01", "--end", "2025-12-31")
    finally:
        os.unlink(listing.name)
    return elapsed


def figures(url, name):
    get = ["get", "S0001", "--start", "1990-01-01", "--end", "2025-12-31", "--offline", "-o", os.devnull]
    warm(url, SYMBOLS[:9])
    read_small = median_time(url, get, 15)
    warm_time = warm(url, SYMBOLS[9:])
    read_large = median_time(url, get, 15)
    stats_time = median_time(url, ["stats", "--json"], 5)
    _, text = run(url, "stats", "--json")
    import json
    stats = json.loads(text)
    bars = stats["total_bars"]
    rows = [
        f"| {name}: warm of 991 symbols 1990-2025, zero-latency upstream | {warm_time:.1f} s, "
        f"{bars * 991 / 1000 / warm_time:,.0f} bars/s | - |",
        f"| {name}: `get S0001 --offline` 35 years, whole process, 9 vs 1,000 symbols stored | "
        f"{read_small * 1000:.1f} ms vs {read_large * 1000:.1f} ms (ratio {read_large / read_small:.2f}) | flat |",
        f"| {name}: `stats` with 1,000 symbols ({bars:,} bars), whole process | {stats_time * 1000:.0f} ms | < 1 s |",
        f"| {name}: bytes per bar on disk | {stats['bytes_per_bar']:.1f} | - |",
    ]
    return rows


def postgres_rows():
    admin = os.environ.get("MARKETCACHE_TEST_POSTGRES_URL")
    if not admin:
        return ["| PostgreSQL | skipped: set MARKETCACHE_TEST_POSTGRES_URL | |"]
    database = f"marketcache_scale_{os.getpid()}"
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {database}"], check=True)
    try:
        return figures(admin.rsplit("/", 1)[0] + "/" + database, "PostgreSQL")
    finally:
        subprocess.run(["psql", admin, "-qc", f"DROP DATABASE {database} WITH (FORCE)"], check=False)


def main():
    start_table()
    with tempfile.TemporaryDirectory() as folder:
        for row in figures(f"sqlite://{folder}/scale.sqlite", "SQLite"):
            print(row, flush=True)
    for row in postgres_rows():
        print(row, flush=True)


if __name__ == "__main__":
    main()
