#!/usr/bin/env python3
"""The server under simple abuse, as whole processes (after `cargo build --release`):

- a burst of 150 unauthenticated `GET /api/cache/stats` at 50 at once against a 60-symbol
  SQLite cache (1990-2025): the server's peak and final RSS, and the median answer time;
- 300 slow clients that never finish their headers, then 20 ordinary requests: how long the
  ordinary ones wait, with the default open-file limit and with 128 descriptors (`ulimit -n`).

Standard library only. Prints a Markdown table with the machine it ran on.
"""

import concurrent.futures
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import BIN, start_table, synthetic_env

PORT = 18431
BASE = f"http://127.0.0.1:{PORT}"



def warm(database):
    symbols = [f"S{i:02d}" for i in range(1, 61)]
    subprocess.run(
        [BIN, "--database-url", f"sqlite://{database}", "warm", *symbols,
         "--start", "1990-01-01", "--end", "2025-12-31"],
        check=True, capture_output=True, env=synthetic_env(),
    )


def serve(database, descriptors=None):
    def limit():
        if descriptors:
            resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, descriptors))
    server = subprocess.Popen(
        [BIN, "--database-url", f"sqlite://{database}", "serve", "--bind", f"127.0.0.1:{PORT}"],
        env=synthetic_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=limit,
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{BASE}/api/health", timeout=1).read()
            return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    sys.exit("the server did not start")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def timed_get(path):
    started = time.perf_counter()
    urllib.request.urlopen(f"{BASE}{path}", timeout=60).read()
    return time.perf_counter() - started


def stats_burst(database):
    server = serve(database)
    try:
        peak = rss_mb(server.pid)
        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            answers = [pool.submit(timed_get, "/api/cache/stats") for _ in range(150)]
            while not all(answer.done() for answer in answers):
                peak = max(peak, rss_mb(server.pid))
                time.sleep(0.02)
            times = [answer.result() for answer in answers]
        after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait()
    return (f"| 150 `GET /api/cache/stats` at 50 at once, 60 symbols, SQLite | peak RSS {peak:.0f} MB, "
            f"{after:.0f} MB after; median {statistics.median(times) * 1000:.0f} ms | < 150 MB |")


def slowloris(database, descriptors=None):
    server = serve(database, descriptors)
    slow = []
    try:
        for _ in range(300):
            try:
                client = socket.create_connection(("127.0.0.1", PORT), timeout=5)
                client.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                slow.append(client)
            except OSError:
                break
        time.sleep(0.2)
        times = [timed_get("/api/health") for _ in range(20)]
    finally:
        for client in slow:
            client.close()
        server.terminate()
        server.wait()
    limit = f"{descriptors} descriptors" if descriptors else "default open-file limit"
    return (f"| 300 clients that never finish their headers, then 20 `GET /api/health` ({limit}) | "
            f"median {statistics.median(times) * 1000:.0f} ms, longest {max(times) * 1000:.0f} ms | "
            f"served; a slow client closed after 10 s, sooner (down to 0.25 s) while over half the slots are taken |")


def main():
    start_table()
    with tempfile.TemporaryDirectory() as folder:
        database = os.path.join(folder, "abuse.sqlite")
        warm(database)
        print(stats_burst(database), flush=True)
        print(slowloris(database), flush=True)
        print(slowloris(database, 128), flush=True)


if __name__ == "__main__":
    main()
