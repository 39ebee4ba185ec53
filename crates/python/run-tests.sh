#!/usr/bin/env bash
# Builds the Python package into a fresh virtual environment and runs its tests
# (crates/python/tests): pandas, polars and pyarrow from PyPI, the extension from this
# workspace with maturin. The CLI tests compare against needs a build of the marketcache binary
# (cargo build, or cargo test --workspace). PostgreSQL as for cargo test:
# MARKETCACHE_TEST_POSTGRES_URL, and MARKETCACHE_REQUIRE_POSTGRES=1 to fail without it.
set -euo pipefail
cd "$(dirname "$0")"
target="${CARGO_TARGET_DIR:-../../target}"
venv="$target/python-tests-venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "maturin>=1.7,<2" pytest pandas polars pyarrow numpy
# shellcheck disable=SC1091
. "$venv/bin/activate"
maturin develop -q ${MATURIN_PROFILE:+--profile "$MATURIN_PROFILE"}
python -m pytest tests -q -rs "$@"
