"""Shared parts of the Python package's tests: a database per test on each backend (a SQLite
file; a PostgreSQL database created and dropped, when MARKETCACHE_TEST_POSTGRES_URL names a
server), a local Yahoo replaying a recorded answer, and the release binary for comparisons."""

from __future__ import annotations

import http.server
import json
import os
import pathlib
import shutil
import subprocess
import threading
import uuid
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
REPOSITORY = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def offline_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """No setting of the caller's leaks in, no test reaches a real provider, and the working
    directory holds no .env or marketcache.toml."""
    for name in list(os.environ):
        if name.startswith("MARKETCACHE_") and name not in ("MARKETCACHE_TEST_POSTGRES_URL", "MARKETCACHE_REQUIRE_POSTGRES"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("MARKETCACHE_YAHOO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)


def _postgres_admin() -> str | None:
    url = os.environ.get("MARKETCACHE_TEST_POSTGRES_URL")
    if not url and os.environ.get("MARKETCACHE_REQUIRE_POSTGRES") == "1":
        pytest.fail("MARKETCACHE_REQUIRE_POSTGRES=1 but MARKETCACHE_TEST_POSTGRES_URL is not set")
    return url


def _psql(admin: str, statement: str) -> None:
    subprocess.run(["psql", admin, "-v", "ON_ERROR_STOP=1", "-q", "-c", statement], check=True, capture_output=True)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    """A fresh, empty database on each backend, removed after the test."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'cache.db'}"
        return
    admin = _postgres_admin()
    if not admin:
        pytest.skip("needs PostgreSQL: set MARKETCACHE_TEST_POSTGRES_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres")
    name = f"mc_py_{uuid.uuid4().hex[:12]}"
    _psql(admin, f"CREATE DATABASE {name}")
    parts = urlsplit(admin)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        _psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


NOT_FOUND = b'{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}'


class Replay(http.server.ThreadingHTTPServer):
    """A local Yahoo: every chart request gets the recorded body; requests are counted."""

    daemon_threads = True

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _ReplayHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ReplayHandler(http.server.BaseHTTPRequestHandler):
    server: Replay

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.server.requests.append(self.path)
        known = "/v8/finance/chart/AAPL" in self.path
        # Yahoo's answer for a symbol it does not know, as recorded (see the upstream crate's
        # tests/fixtures/recorded/yahoo_chart_404_not_found_MDLY.json).
        body = self.server.body if known else NOT_FOUND
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def yahoo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replay]:
    """Yahoo's chart API on 127.0.0.1, answering the recording of AAPL from 2020-08-31 to
    2020-11-06 (a 4:1 split on 08-31 and a dividend on 11-06)."""
    recorded = json.loads((FIXTURES / "yahoo2_chart-AAPL-2020-08-31-to-2020-11-07.json").read_text())
    server = Replay(json.dumps(recorded["response"]["bodyJson"]).encode())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("MARKETCACHE_YAHOO_URL", server.url)
    try:
        yield server
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def marketcache_binary() -> str:
    """The CLI built from this workspace: the newer of its release and debug builds."""
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPOSITORY / "target"))
    built = [target / profile / "marketcache" for profile in ("release", "debug")]
    built = [path for path in built if path.exists()]
    if built:
        return str(max(built, key=lambda path: path.stat().st_mtime))
    found = shutil.which("marketcache")
    if found:
        return found
    pytest.fail("build the CLI first: cargo build --release")
    raise AssertionError  # unreachable: pytest.fail raises
