#!/usr/bin/env python3
"""Whole-process benchmarks of the `marketcache` binary, medians of repeated runs.

- `warm` of the nine seed tickers (1990-01-01..2025-12-31) with a zero-latency synthetic
  provider into an empty SQLite file;
- `get AAPL` 1990-2025 from a warm cache as a whole process, CSV to a file;
- `optimize AAPL` over the SMA-crossover grid (11,900 combinations) as a whole process, and its
  peak memory;
- bytes on disk per bar (bars table with its index) on SQLite and, when
  MARKETCACHE_TEST_POSTGRES_URL is set, on PostgreSQL (pg_total_relation_size).

Run from the repository root after `cargo build --release`: python3 bench/whole_process.py
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from common import BIN, synthetic_env

RANGE = ["--start", "1990-01-01", "--end", "2025-12-31"]


def run(args, env=None):
    started = time.perf_counter()
    result = subprocess.run([BIN, *args], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return elapsed, result.stdout


def peak_rss_mb(args, env):
    """Max resident set size of one run, read by a wrapper process from its only child."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True, check=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", probe, BIN, *args], capture_output=True, text=True, env=env, check=True)
    return int(result.stdout.strip()) / 1024


def main():
    # Offline and reproducible: made-up bars (stored under SYMBOL@synthetic keys).
    env = synthetic_env(MARKETCACHE_SYNTHETIC_LATENCY_MS="0")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        warm_times = []
        for attempt in range(5):
            url = f"sqlite://{folder}/warm{attempt}.sqlite"
            elapsed, _ = run(["--database-url", url, "warm", *RANGE], env)
            warm_times.append(elapsed)
        rows.append(("warm 9 tickers, zero-latency synthetic, empty SQLite", f"{statistics.median(warm_times):.2f} s", "<= 3 s"))

        url = f"sqlite://{folder}/warm0.sqlite"
        output = os.path.join(folder, "aapl.csv")
        get_times = []
        for _ in range(30):
            elapsed, _ = run(["--database-url", url, "get", "AAPL", *RANGE, "--output", output], env)
            get_times.append(elapsed)
        lines = sum(1 for _ in open(output)) - 1
        rows.append((f"`marketcache get AAPL` 1990-2025 cached, CSV to a file ({lines} bars), whole process",
                     f"{statistics.median(get_times) * 1000:.1f} ms", "<= 20 ms"))

        optimize = ["--database-url", url, "optimize", "AAPL", *RANGE, "--fast", "5..100", "--slow", "10..300:2"]
        optimize_times = [run(optimize, env)[0] for _ in range(5)]
        rows.append(("`marketcache optimize AAPL` 11,900 SMA combinations over 9,067 cached bars, whole process",
                     f"{statistics.median(optimize_times):.2f} s", "<= 1 s"))
        rows.append(("peak memory (max RSS) of that optimize process", f"{peak_rss_mb(optimize, env):.0f} MB", "<= 200 MB"))

        _, stats = run(["--database-url", url, "stats", "--json"], env)
        stats = json.loads(stats)
        rows.append((f"SQLite bytes per bar after warm ({stats['total_bars']} bars, table + primary key)",
                     f"{stats['bar_table_bytes'] / stats['total_bars']:.1f}", "<= 80"))
        run(["--database-url", url, "compact"], env)
        _, stats = run(["--database-url", url, "stats", "--json"], env)
        stats = json.loads(stats)
        rows.append(("SQLite bytes per bar after `marketcache compact`",
                     f"{stats['bar_table_bytes'] / stats['total_bars']:.1f}", "<= 80"))

    admin = os.environ.get("MARKETCACHE_TEST_POSTGRES_URL")
    if admin:
        name = f"marketcache_bench_{uuid.uuid4().hex[:10]}"
        base = admin.rsplit("/", 1)[0]
        subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
        try:
            url = f"{base}/{name}"
            elapsed, _ = run(["--database-url", url, "warm", *RANGE], env)
            rows.append(("warm 9 tickers into empty PostgreSQL (one run)", f"{elapsed:.2f} s", "-"))
            _, stats = run(["--database-url", url, "stats", "--json"], env)
            stats = json.loads(stats)
            rows.append((f"PostgreSQL bytes per bar after warm ({stats['total_bars']} bars, pg_total_relation_size)",
                         f"{stats['bar_table_bytes'] / stats['total_bars']:.1f}", "<= 120"))
            run(["--database-url", url, "compact"], env)
            _, stats = run(["--database-url", url, "stats", "--json"], env)
            stats = json.loads(stats)
            rows.append(("PostgreSQL bytes per bar after `marketcache compact`",
                         f"{stats['bar_table_bytes'] / stats['total_bars']:.1f}", "<= 120"))
        finally:
            subprocess.run(["psql", admin, "-qc", f"DROP DATABASE {name} WITH (FORCE)"], check=False)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print("| measure | median | target |\n|---|---|---|")
    for measure, value, target in rows:
        print(f"| {measure} | {value} | {target} |")


if __name__ == "__main__":
    main()
