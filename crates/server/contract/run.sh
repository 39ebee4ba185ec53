#!/usr/bin/env bash
# The HTTP API against its own OpenAPI document, checked by a tool nobody here wrote:
# schemathesis generates valid and invalid requests from /api/openapi.json and runs every check
# it has (no server error, status codes and bodies as documented, valid data accepted, invalid
# data refused, …) against a server on loopback over the offline synthetic provider and a fresh
# SQLite file. hooks.py keeps generated requests to the rules between fields that the document
# states in words and in its x- extensions. Bounded: MAX_EXAMPLES per operation (default 25)
# and CONTRACT_TIMEOUT seconds in all (default 600). Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/contract-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==4.32.5"
fi
(cd "$root" && cargo build -q --bin marketcache)

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="contract-check-token"
# A debug build answers: small grids and few jobs at once keep the searches the tool starts
# from taking both cores for minutes (the document states the limit it is given).
MARKETCACHE_API_TOKEN="$token" "$target/debug/marketcache" --provider synthetic \
  --database-url "sqlite://$work/contract.db" serve --bind "127.0.0.1:$port" \
  --max-grid-combinations 5000 --max-jobs 4 >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1 && break
  sleep 0.1
done

cd "$here"
PYTHONPATH="$here" SCHEMATHESIS_HOOKS=hooks timeout "${CONTRACT_TIMEOUT:-600}" "$venv/bin/schemathesis" run \
  "http://127.0.0.1:$port/api/openapi.json" \
  --checks all --phases "${PHASES:-examples,coverage,fuzzing,stateful}" \
  --max-examples "${MAX_EXAMPLES:-25}" --workers 2 --request-timeout 30 \
  -H "Authorization: Bearer $token" "$@"
