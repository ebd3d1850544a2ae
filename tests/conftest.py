"""Shared test fixtures: a real HTTP server on 127.0.0.1, a fresh database, a planet on disk.

Set AGGREGATOR_TEST_DATABASE_URL (for example
postgresql+psycopg://postgres@127.0.0.1:5432/test) to run the tests that use a database
against that one instead of a temporary SQLite file (its public schema is emptied before each
test); the tests that use none are then deselected, as the pass without it runs them.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from aggregator.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"
FEEDS = FIXTURES / "feeds"
SHARED = Path(__file__).resolve().parents[2] / "shared"
TEST_DATABASE_ENV = "AGGREGATOR_TEST_DATABASE_URL"


@dataclass
class Route:
    body: bytes
    content_type: str = "application/xml; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True
    last_modified: bool = True
    gzip: bool = False
    delay: float = 0.0
    modified_at: float = field(default_factory=time.time)
    drip: float = 0.0
    endless: bool = False


# A misbehaving route stops by itself even if the client never hangs up.
MISBEHAVIOUR_LIMIT_SECONDS = 30


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    status: int


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gives up (a timeout test) is expected, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FeedServer:
    """Serves fixture feeds like a well-behaved origin: ETag, Last-Modified, 304s, gzip."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes | str, **options: Any) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(body=data, **options)
        return self.url(path)

    def serve_fixture(self, path: str, name: str, **options: Any) -> str:
        return self.serve(path, (FEEDS / name).read_bytes(), **options)

    def requests_for(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.requests if seen.path == path]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        route = self.routes.get(handler.path)
        headers = {key.lower(): value for key, value in handler.headers.items()}
        status, body, reply_headers = self._answer(route, headers)
        with self._lock:
            self.requests.append(Seen("GET", handler.path, headers, status))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if route is not None and route.delay:
                time.sleep(route.delay)
            if route is not None and route.endless:
                self._reply_endless(handler, reply_headers)
            else:
                self._reply(handler, status, body, reply_headers, route.drip if route else 0.0)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _reply(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        reply_headers: dict[str, str],
        drip: float = 0.0,
    ) -> None:
        handler.send_response(status)
        for key, value in reply_headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if not drip:
                handler.wfile.write(body)
                return
            deadline = time.monotonic() + MISBEHAVIOUR_LIMIT_SECONDS
            for index in range(len(body)):
                if time.monotonic() > deadline:
                    return
                handler.wfile.write(body[index : index + 1])
                handler.wfile.flush()
                time.sleep(drip)

    def _reply_endless(self, handler: BaseHTTPRequestHandler, headers: dict[str, str]) -> None:
        """A body that never ends: no length, chunks until the client gives up."""
        handler.send_response(200)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        chunk = b"<item>" + b"x" * 65536 + b"</item>"
        deadline = time.monotonic() + MISBEHAVIOUR_LIMIT_SECONDS
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while time.monotonic() < deadline:
                handler.wfile.write(chunk)

    def _answer(
        self, route: Route | None, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        if route is None:
            return 404, b"not found", {"Content-Type": "text/plain"}
        reply = dict(route.headers)
        if route.status != 200:
            return route.status, route.body, reply
        reply["Content-Type"] = route.content_type
        etag = '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'
        modified = formatdate(route.modified_at, usegmt=True)
        if route.etag:
            reply["ETag"] = etag
        if route.last_modified:
            reply["Last-Modified"] = modified
        if (route.etag and headers.get("if-none-match") == etag) or (
            not route.etag and route.last_modified and headers.get("if-modified-since") == modified
        ):
            return 304, b"", reply
        body = route.body
        if route.gzip and "gzip" in headers.get("accept-encoding", ""):
            body = gzip.compress(body)
            reply["Content-Encoding"] = "gzip"
        return 200, body, reply

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# The fixtures through which a test reaches the database under test.
DATABASE_FIXTURES = frozenset({"database_url", "postgresql_url"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With another database under test, run only the tests that reach it: the others do the
    same on any database, and the pass without the variable runs them."""
    if not os.environ.get(TEST_DATABASE_ENV):
        return
    reaching: list[pytest.Item] = []
    elsewhere: list[pytest.Item] = []
    for item in items:
        (reaching if _reaches_database(item) else elsewhere).append(item)
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = reaching


def _reaches_database(item: pytest.Item) -> bool:
    return not DATABASE_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def pytest_report_header() -> str | None:
    if not os.environ.get(TEST_DATABASE_ENV):
        return None
    return (
        f"{TEST_DATABASE_ENV} is set: only the tests that use a database run (the others are "
        "deselected; the pass without it runs them)"
    )


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own settings must not leak into a test."""
    monkeypatch.delenv("AGGREGATOR_CONFIG", raising=False)
    monkeypatch.delenv("AGGREGATOR_DATABASE_URL", raising=False)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = os.environ.get(TEST_DATABASE_ENV)
    if not url:
        return f"sqlite:///{tmp_path / 'planet.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
def postgresql_url() -> str:
    url = os.environ.get(TEST_DATABASE_ENV, "")
    if not url.startswith("postgresql"):
        pytest.skip(f"needs PostgreSQL: set {TEST_DATABASE_ENV} to a postgresql:// URL")
    return url


@dataclass
class Planet:
    """A planet in a temporary folder: its feeds.yaml, database and output folder."""

    root: Path
    database_url: str

    @property
    def config(self) -> Path:
        return self.root / "feeds.yaml"

    @property
    def output(self) -> Path:
        return self.root / "public"

    def write_config(self, feeds: list[dict[str, Any]], **planet: Any) -> None:
        document = {
            "planet": {
                "title": "Test Planet",
                "link": "https://planet.test/",
                "description": "Left and labour news for tests",
                "owner": {"name": "Test Owner", "email": "owner@planet.test"},
                # The fixture feeds were written in 2022 and 2023.
                "retention": "forever",
                **planet,
            },
            "defaults": {"interval": "1h", "timeout": "5s"},
            "feeds": feeds,
        }
        self.config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    def run(self, *args: str) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli,
            ["-c", str(self.config), "--database", self.database_url, *args],
            catch_exceptions=False,
        )


@pytest.fixture
def planet(tmp_path: Path, database_url: str) -> Planet:
    return Planet(root=tmp_path, database_url=database_url)


def shared_path(*parts: str) -> Path:
    """A path in ../shared, or a skip for a clone that does not have it beside it."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: ../shared sits beside the clone in CI only")
    return path


def shared_corpus(*parts: str) -> Path:
    """A path in ../shared/corpus (the feedparser test feeds), or a skip."""
    return shared_path("corpus", *parts)
