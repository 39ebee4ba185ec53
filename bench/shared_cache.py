#!/usr/bin/env python3
"""Shared-cache benchmarks of the `marketcache` binary, each figure measured in this run.

- `GET /api/bars/AAPL?start=2000-01-01` with the default end (today) against the same read with
  a past end, wrk at 32 connections, on a server over SQLite: a read ending today must not ask
  upstream or write each time;
- N racing cold `get MSFT 2000-2009` processes (150 ms per synthetic request) on one SQLite
  file (20) and, when MARKETCACHE_TEST_POSTGRES_URL names a server, on one PostgreSQL database
  (20 and 60): wall time, failures, and upstream requests against the 21 chunks needed;
- the nine-ticker warm of 1990-2025 with 200 ms requests and 4 at once, against the time its
  requests need at full use of the 4 slots.

Needs `wrk` (apt-get install wrk) and a release build: cargo build --release, then
python3 bench/shared_cache.py from the repository root.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid

from common import BIN, start_table, synthetic_env

GET_2000S = ["get", "MSFT", "--start", "2000-01-01", "--end", "2009-12-31"]
CHUNKS_2000S = 21



def requests_of(stderr):
    found = re.search(r", (\d+) upstream requests", stderr)
    return int(found.group(1)) if found else 0


def race(url, count):
    started = time.perf_counter()
    children = [
        subprocess.Popen(
            [BIN, "--database-url", url, "--latency-ms", "150", *GET_2000S],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=synthetic_env(),
        )
        for _ in range(count)
    ]
    outcomes = [(child.wait(), child.stderr.read()) for child in children]
    elapsed = time.perf_counter() - started
    failures = sum(1 for code, _ in outcomes if code != 0)
    requests = sum(requests_of(stderr) for _, stderr in outcomes)
    return elapsed, failures, requests


def postgres_database():
    admin = os.environ.get("MARKETCACHE_TEST_POSTGRES_URL")
    if not admin:
        return None, None
    name = f"marketcache_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
    return admin, name


def drop(admin, name):
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE {name} WITH (FORCE)"], check=True)


def racing_rows(folder):
    rows = []
    elapsed, failures, requests = race(f"sqlite://{folder}/race.sqlite", 20)
    rows.append(("SQLite: 20 racing cold `get` processes", elapsed, failures, requests))
    admin, _ = postgres_database()
    if admin:
        for count in (20, 60):
            admin, name = postgres_database()
            url = admin.rsplit("/", 1)[0] + "/" + name
            subprocess.run([BIN, "--database-url", url, "migrate"], capture_output=True, env=synthetic_env())
            elapsed, failures, requests = race(url, count)
            drop(admin, name)
            rows.append((f"PostgreSQL: {count} racing cold `get` processes", elapsed, failures, requests))
    return [
        f"| {label} | {elapsed:.2f} s, {failures} failed, {requests} upstream requests "
        f"| {CHUNKS_2000S} requests, 0 failed |"
        for label, elapsed, failures, requests in rows
    ]


def wrk_rate(url):
    subprocess.run(["wrk", "-t2", "-c32", "-d2s", url], capture_output=True)
    out = subprocess.run(["wrk", "-t2", "-c32", "-d10s", url], capture_output=True, text=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def open_end_rows(folder):
    url = f"sqlite://{folder}/api.sqlite"
    server = subprocess.Popen(
        [BIN, "--database-url", url, "serve", "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=synthetic_env(),
    )
    try:
        base = re.search(r"http://[\d.:]+", server.stdout.readline()).group(0)
        today = f"{base}/api/bars/AAPL?start=2000-01-01"
        past = f"{base}/api/bars/AAPL?start=2000-01-01&end=2025-12-31"
        subprocess.run(["curl", "-s", "-o", "/dev/null", today], check=True)
        to_today, to_past = wrk_rate(today), wrk_rate(past)
    finally:
        server.terminate()
        server.wait()
    return [
        f"| GET /api/bars/AAPL?start=2000-01-01 (end today), wrk 32 connections | {to_today:,.0f} req/s "
        f"| within 10% of the past-end read |",
        f"| same with end=2025-12-31 | {to_past:,.0f} req/s (ratio {to_today / to_past:.2f}) | |",
    ]


def warm_row(folder):
    url = f"sqlite://{folder}/warm.sqlite"
    started = time.perf_counter()
    result = subprocess.run(
        [BIN, "--database-url", url, "--latency-ms", "200", "--concurrency", "4",
         "warm", "--start", "1990-01-01", "--end", "2025-12-31"],
        capture_output=True, text=True, env=synthetic_env(),
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"warm failed: {result.stderr}")
    total = re.search(r"(\d+) upstream requests; ([\d.]+) (ms|s)\b", result.stdout)
    if not total:
        sys.exit(f"no summary line in: {result.stdout}")
    requests = int(total.group(1))
    # The warm's own time, packing excluded (printed on a line of its own).
    fetching = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    ideal = requests * 0.2 / 4
    return [
        f"| nine-ticker warm 1990-2025, 200 ms requests, 4 at once | {fetching:.2f} s for {requests} requests "
        f"({ideal / fetching:.1%} of the {ideal:.2f} s the 4 slots allow; whole process {elapsed:.2f} s) | >= 99% |"
    ]


def main():
    start_table()
    with tempfile.TemporaryDirectory() as folder:
        for row in open_end_rows(folder) + racing_rows(folder) + warm_row(folder):
            print(row, flush=True)


if __name__ == "__main__":
    main()
