#!/usr/bin/env bash
# The HTTP API's performance: p50 of GET /api/bars/AAPL 1990-2025 (JSON and CSV) on one
# connection, and a load test of cached one-year ranges over 50 symbols from a second process
# (wrk) with p99 latency, plus the server's peak RSS; on SQLite, and on PostgreSQL when
# MARKETCACHE_TEST_POSTGRES_URL names a server (a scratch database is created and dropped).
# Needs `wrk` (apt-get install wrk) and a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/marketcache
# Offline and reproducible: made-up bars (stored under SYMBOL@synthetic keys).
export MARKETCACHE_PROVIDER=synthetic
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
symbols=(AAPL)
for i in $(seq -w 1 49); do symbols+=("S$i"); done
cat > "$work/rotate.lua" <<LUA
local symbols = {$(printf '"%s",' "${symbols[@]}")}
local n = 0
request = function()
  n = n + 1
  local year = 1991 + (n % 34)
  local path = "/api/bars/" .. symbols[(n % #symbols) + 1] .. "?start=" .. year .. "-01-01&end=" .. year .. "-12-31"
  return wrk.format("GET", path)
end
LUA

measure() {
  local url=$1 label=$2
  env -u RUST_LOG "$BIN" --database-url "$url" warm "${symbols[@]}" --start 1990-01-01 --end 2025-12-31 >/dev/null 2>&1
  "$BIN" --database-url "$url" serve --bind 127.0.0.1:0 > "$work/serve.out" 2>/dev/null &
  server=$!
  for _ in $(seq 1 50); do grep -q Listening "$work/serve.out" && break; sleep 0.1; done
  local base
  base=$(grep -o 'http://[0-9.:]*' "$work/serve.out" | head -1)
  local bars="$base/api/bars/AAPL?start=1990-01-01&end=2025-12-31"
  curl -s "$bars" >/dev/null
  p50() { wrk -t1 -c1 -d5s --latency "$1" | awk '/^ +50%/ {print $2}'; }
  echo "| $label: GET /api/bars/AAPL 1990-2025 cached, JSON, p50 (one connection) | $(p50 "$bars") | <= 5 ms |"
  echo "| $label: same as CSV, p50 | $(p50 "$bars&format=csv") | <= 5 ms |"
  # Steady state is what is measured: a first pass brings every symbol's series into the
  # server's memory (a second range of a symbol reads its whole stored span once).
  wrk -t2 -c32 -d2s -s "$work/rotate.lua" "$base" >/dev/null
  local load
  load=$(wrk -t2 -c32 -d10s --latency -s "$work/rotate.lua" "$base")
  echo "| $label: one-year ranges of 50 cached symbols, wrk 2 threads x 32 connections | $(echo "$load" | awk '/Requests\/sec/ {print $2}') req/s, p50 $(echo "$load" | awk '/^ +50%/ {print $2}'), p99 $(echo "$load" | awk '/^ +99%/ {print $2}') | >= 5,000 req/s |"
  echo "| $label: server peak RSS under that load | $(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/$server/status) | <= 100 MB |"
  kill -TERM "$server"; wait "$server" 2>/dev/null || true
}

echo "machine: $(uname -m), $(nproc) cores"
echo "| measure | result | target |"
echo "|---|---|---|"
measure "sqlite://$work/api.sqlite" "SQLite"
if [ -n "${MARKETCACHE_TEST_POSTGRES_URL:-}" ]; then
  name="marketcache_api_bench_$$"
  psql "$MARKETCACHE_TEST_POSTGRES_URL" -qc "CREATE DATABASE $name"
  measure "${MARKETCACHE_TEST_POSTGRES_URL%/*}/$name" "PostgreSQL"
  psql "$MARKETCACHE_TEST_POSTGRES_URL" -qc "DROP DATABASE $name WITH (FORCE)"
fi
