"""What every benchmark script here shares: the release binary, an offline environment, and
the header of the Markdown table the scripts print (the README's performance rows)."""

import os
import platform
import sys

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target"))
BIN = os.path.join(TARGET, "release", "marketcache")


def synthetic_env(**extra):
    """The environment without any MARKETCACHE_ setting or DATABASE_URL of the caller's, on the
    offline synthetic provider: runs are reproducible and never reach a real provider."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETCACHE_") and k != "DATABASE_URL"}
    env.pop("RUST_LOG", None)
    env["MARKETCACHE_PROVIDER"] = "synthetic"
    env.update(extra)
    return env


def start_table():
    """Stops unless the release binary is built; prints the machine and the table's header."""
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores")
    print("| measure | result | target |")
    print("|---|---|---|")
