"""The Python package against its peers, in one run on one machine: a cached 35-year read of
one symbol (9,067 bars) into a pandas DataFrame, median over 100 calls in one process, beside
ArcticDB's read of the same bars and Python's sqlite3 with pandas.read_sql; a fresh
interpreter's import plus first cached read; the 11,900-combination SMA grid from Python
against the CLI writing every combination.

Run it in a virtual environment holding the package (pip install ./crates/python), pandas,
pyarrow, polars and, for the peer, arcticdb (pip install arcticdb); the release CLI must be
built (cargo build --release). Prints a Markdown table."""

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

from common import BIN, start_table, synthetic_env

START, END = "1990-01-01", "2025-12-31"
CALLS = 100


def median_ms(read, calls=CALLS):
    read()  # warm
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def ours(database_url):
    import marketcache

    cache = marketcache.Cache(database_url, "synthetic")
    frame = cache.get_bars("AAPL", START, END)
    assert len(frame) == 9067, len(frame)
    return frame, {
        "pandas": median_ms(lambda: cache.get_bars("AAPL", START, END)),
        "polars": median_ms(lambda: cache.get_bars_polars("AAPL", START, END)),
        "arrow": median_ms(lambda: cache.get_bars_arrow("AAPL", START, END)),
    }


def arcticdb_read(frame, folder):
    try:
        import arcticdb
    except ImportError:
        return None
    library = arcticdb.Arctic(f"lmdb://{folder}/arctic").get_library("bars", create_if_missing=True)
    library.write("AAPL", frame)
    return median_ms(lambda: library.read("AAPL").data)


def sqlite_baseline(frame, folder):
    import pandas as pd

    path = os.path.join(folder, "baseline.db")
    with sqlite3.connect(path) as connection:
        frame.reset_index().assign(date=lambda f: f["date"].dt.strftime("%Y-%m-%d")).to_sql("bars", connection, index=False)
        connection.execute("CREATE INDEX bars_date ON bars(date)")
    connection = sqlite3.connect(path)
    query = "SELECT date, open, high, low, close, volume FROM bars WHERE date BETWEEN ? AND ? ORDER BY date"
    return median_ms(
        lambda: pd.read_sql(query, connection, params=(START, END), parse_dates=["date"], index_col="date"),
        calls=20,
    )


def first_read(database_url, kind):
    """A fresh interpreter: import marketcache and read the cached series once (median of 5)."""
    method = {"pandas": "get_bars", "arrow": "get_bars_arrow"}[kind]
    code = (
        "import time; t = time.perf_counter(); import marketcache; "
        f"marketcache.Cache({database_url!r}, 'synthetic').{method}('AAPL', {START!r}, {END!r}); "
        "print((time.perf_counter() - t) * 1000)"
    )
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(5)]
    return statistics.median(runs)


def grid(database_url, folder):
    import marketcache

    cache = marketcache.Cache(database_url, "synthetic")
    python_times, cli_times = [], []
    output = os.path.join(folder, "grid.csv")
    command = [BIN, "--database-url", database_url, "optimize", "AAPL", "--start", START, "--end", END, "--offline", "--output", output]
    for _ in range(3):
        started = time.perf_counter()
        table = cache.optimize("AAPL", "sma-cross", start=START, end=END, offline=True)
        python_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run(command, env=synthetic_env(), capture_output=True, check=True)
        cli_times.append(time.perf_counter() - started)
    assert len(table) == 11900, len(table)
    return statistics.median(python_times), statistics.median(cli_times)


def main():
    start_table()
    with tempfile.TemporaryDirectory() as folder:
        database_url = f"sqlite://{folder}/cache.db"
        frame, read = ours(database_url)
        arctic = arcticdb_read(frame, folder)
        baseline = sqlite_baseline(frame, folder)
        print(f"| `Cache.get_bars('AAPL', 1990..2025)` cached -> pandas, median of {CALLS} | {read['pandas']:.3f} ms | <= 0.5 ms, faster than ArcticDB |")
        print(f"| the same -> polars / pyarrow | {read['polars']:.3f} ms / {read['arrow']:.3f} ms | - |")
        if arctic is None:
            print("| ArcticDB `library.read` of the same bars | not installed (pip install arcticdb) | - |")
        else:
            print(f"| ArcticDB `library.read` of the same bars (LMDB) | {arctic:.3f} ms (ours {arctic / read['pandas']:.1f}x faster) | - |")
        print(f"| sqlite3 + `pandas.read_sql` of the same bars | {baseline:.2f} ms | - |")
        print(f"| fresh interpreter: import + first cached read, pyarrow / pandas | {first_read(database_url, 'arrow'):.0f} ms / {first_read(database_url, 'pandas'):.0f} ms | <= 150 ms |")
        python_s, cli_s = grid(database_url, folder)
        print(f"| 11,900-combination SMA grid, every combination: Python `optimize` / CLI `optimize --output` | {python_s:.2f} s / {cli_s:.2f} s (ratio {python_s / cli_s:.2f}) | within 10% |")


if __name__ == "__main__":
    main()
