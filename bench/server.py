"""Serve a farm on fifty loopback addresses, with nginx when it is installed.

nginx (Debian's `apt-get install nginx` is enough) serves the files the way a real blog host
does: sendfile, ETag and Last-Modified with 304 answers, gzip for the feed types, keep-alive.
It runs as a child of the benchmark, in the foreground, with its own temporary prefix and
configuration, so nothing of the system's nginx setup is used or changed.

Without nginx, a threaded `http.server` does the same job more slowly: ETag (weak when
gzipped, as nginx makes it), Last-Modified, 304 for If-None-Match or If-Modified-Since, and gzip
when the client accepts it. Its CPU is spent in the benchmark's own process, not in the
measured child, so the client's figures stay comparable, but the server's slowness shows in
wall time.

Both listen on one port on each of HOSTS (127.0.0.2 to 127.0.0.51) and on nothing else, so
clients open a connection pool per host as they would on the web, and the farm is never
reachable from outside the machine.
"""

from __future__ import annotations

import errno
import gzip
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.farm import HOSTS

CONTENT_TYPES = {".rss": "application/rss+xml", ".atom": "application/atom+xml"}
_NGINX_PLACES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


@dataclass(frozen=True)
class Served:
    port: int
    server: str


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((place for place in _NGINX_PLACES if Path(place).is_file()), None)


@contextmanager
def serve_farm(folder: Path, kind: str = "auto") -> Iterator[Served]:
    """Serve `folder` until the block ends; kind is auto (nginx if found), nginx or python."""
    nginx = find_nginx() if kind in ("auto", "nginx") else None
    if kind == "nginx" and nginx is None:
        raise RuntimeError("nginx is not installed; apt-get install nginx, or use --server python")
    if nginx is not None:
        with _nginx(nginx, folder) as served:
            yield served
    else:
        with _python_server(folder) as served:
            yield served


@contextmanager
def _nginx(binary: str, folder: Path) -> Iterator[Served]:
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as prefix:
        child, port = _start_nginx(binary, Path(prefix), folder.resolve())
        try:
            yield Served(port, f"nginx {_nginx_version(binary)}")
        finally:
            _stop(child)


def _start_nginx(binary: str, prefix: Path, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start nginx on a free port, trying again when another program takes it first."""
    for _attempt in range(5):
        port = _free_port()
        config = prefix / "nginx.conf"
        config.write_text(_nginx_config(prefix, root, port))
        log = prefix / "error.log"
        with log.open("ab") as stderr:
            child = subprocess.Popen(
                [binary, "-p", str(prefix), "-c", str(config), "-e", str(log)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        if _wait_listening(port, child):
            return child, port
        _stop(child)
        message = log.read_text(errors="replace")
        if "Address already in use" not in message:
            raise RuntimeError(f"nginx did not start: {message.strip()}")
    raise RuntimeError("nginx found no free port in five attempts")


def _nginx_config(prefix: Path, root: Path, port: int) -> str:
    listens = "\n".join(f"        listen {host}:{port};" for host in HOSTS)
    types = "\n".join(f"        {kind} {ext[1:]};" for ext, kind in CONTENT_TYPES.items())
    temp = "\n".join(
        f"    {name}_temp_path {prefix}/{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
{temp}
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000;
    etag on;
    gzip on;
    gzip_types application/rss+xml application/atom+xml application/xml text/xml;
    types {{
{types}
    }}
    default_type application/octet-stream;
    server {{
{listens}
        root {root};
    }}
}}
"""


def _nginx_version(binary: str) -> str:
    answer = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return answer.stderr.strip().rpartition("/")[2] or "unknown version"


def _free_port() -> int:
    """A port free on every host: bound on the first, then tried on the others."""
    while True:
        sockets = []
        try:
            first = socket.socket()
            sockets.append(first)
            first.bind((HOSTS[0], 0))
            port = int(first.getsockname()[1])
            for host in HOSTS[1:]:
                other = socket.socket()
                sockets.append(other)
                other.bind((host, port))
            return port
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
        finally:
            for sock in sockets:
                sock.close()


def _wait_listening(port: int, child: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return False
        try:
            for host in (HOSTS[0], HOSTS[-1]):
                socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx started but does not answer")


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def _python_server(folder: Path) -> Iterator[Served]:
    handler = type("FarmHandler", (_FarmHandler,), {"root": folder.resolve(), "cache": {}})
    servers: list[ThreadingHTTPServer] = []
    try:
        port = 0
        for host in HOSTS:
            server = _Server((host, port), handler)
            port = int(server.server_address[1])
            servers.append(server)
            threading.Thread(target=server.serve_forever, daemon=True).start()
        yield Served(port, "python http.server")
    finally:
        # One at a time, each shutdown waits out its server's poll interval.
        stoppers = [threading.Thread(target=server.shutdown) for server in servers]
        for stopper in stoppers:
            stopper.start()
        for stopper, server in zip(stoppers, servers, strict=True):
            stopper.join()
            server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class _FarmHandler(BaseHTTPRequestHandler):
    """Static files with the validators and compression a real server adds."""

    protocol_version = "HTTP/1.1"
    server_version = "bench-farm"
    timeout = 60
    root: Path
    cache: dict[tuple[str, int, int], bytes]
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_HEAD(self) -> None:
        self.answer(body=False)

    def do_GET(self) -> None:
        self.answer(body=True)

    def answer(self, body: bool) -> None:
        path = (self.root / self.path.split("?", 1)[0].lstrip("/")).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        stat = path.stat()
        content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        zipped = content_type.endswith("xml") and _accepts_gzip(self.headers["Accept-Encoding"])
        tag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        etag = f"W/{tag}" if zipped else tag
        if self._not_modified(tag, int(stat.st_mtime)):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", formatdate(stat.st_mtime, usegmt=True))
            self.end_headers()
            return
        content = path.read_bytes()
        if zipped:
            key = (str(path), stat.st_mtime_ns, stat.st_size)
            with self.lock:
                packed = self.cache.get(key)
            if packed is None:
                packed = gzip.compress(content, compresslevel=1)
                with self.lock:
                    self.cache[key] = packed
            content = packed
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Last-Modified", formatdate(stat.st_mtime, usegmt=True))
        self.send_header("ETag", etag)
        if zipped:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        if body:
            self.wfile.write(content)

    def _not_modified(self, tag: str, mtime: int) -> bool:
        """If-None-Match decides when present (RFC 9110), else If-Modified-Since."""
        wanted = self.headers["If-None-Match"]
        if wanted is not None:
            tags = {part.strip().removeprefix("W/") for part in wanted.split(",")}
            return tag in tags or "*" in tags
        since = self.headers["If-Modified-Since"]
        if since is None:
            return False
        try:
            return mtime <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False


def _accepts_gzip(header: str | None) -> bool:
    for part in (header or "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
