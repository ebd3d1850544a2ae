"""Peak memory of `aggregator update` against hostile servers, beside a well-behaved baseline.

    python bench/hostile_memory.py [--bomb-mib 1024] [--limit 10MiB]

Serves, on 127.0.0.1: a gzip bomb (BOMB_MIB of zeros compressed to about a thousandth of that),
an endless body, a server that drips one byte a second, and one ordinary feed. Runs a real
`python -m aggregator update` in a child process for the baseline (ordinary feed alone) and for
the hostile set, and prints each child's peak resident memory (from wait4's rusage) and time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Baseline</title>'
    b"<link>https://example.org/</link><description>d</description>"
    + b"".join(
        b"<item><title>Story %d</title><link>https://example.org/%d</link>"
        b"<description>A paragraph of text about a strike.</description></item>" % (n, n)
        for n in range(20)
    )
    + b"</channel></rss>"
)


def gzip_bomb(mebibytes: int) -> bytes:
    """Compress zeros chunk by chunk, so building the bomb itself needs little memory."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1024 * 1024)
    parts = [compressor.compress(zeros) for _ in range(mebibytes)]
    parts.append(compressor.flush())
    return b"".join(parts)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up on these answers is what they are for, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(bomb: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            try:
                self.answer()
            except (BrokenPipeError, ConnectionResetError):
                return

        def answer(self) -> None:
            if self.path == "/bomb":
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(bomb)))
                self.end_headers()
                self.wfile.write(bomb)
            elif self.path == "/endless":
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Connection", "close")
                self.end_headers()
                chunk = b"<item>" + b"x" * 65536 + b"</item>"
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    self.wfile.write(chunk)
            elif self.path == "/drip":
                self.send_response(200)
                self.send_header("Content-Length", str(len(FEED)))
                self.end_headers()
                for index in range(min(len(FEED), 30)):
                    self.wfile.write(FEED[index : index + 1])
                    self.wfile.flush()
                    time.sleep(1)
            else:
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(FEED)))
                self.end_headers()
                self.wfile.write(FEED)

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(folder: Path, port: int, paths: list[str], limit: str) -> tuple[float, float, str]:
    """Peak RSS in MiB and wall time of one `aggregator update` over these paths."""
    feeds = "\n".join(
        f"  - {{url: 'http://127.0.0.1:{port}{path}', name: '{path}'}}" for path in paths
    )
    config = folder / "feeds.yaml"
    config.write_text(
        "planet: {title: Bench, link: 'https://bench.example/'}\n"
        f"defaults: {{timeout: 10s, max_body_size: {limit}}}\nfeeds:\n{feeds}\n"
    )
    for leftover in folder.glob("aggregator.db*"):
        leftover.unlink()
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "-c", str(config), "update"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout = child.stdout.read().decode() if child.stdout else ""
    stderr = child.stderr.read().decode() if child.stderr else ""
    _pid, status, usage = os.wait4(child.pid, 0)
    elapsed = time.monotonic() - started
    # A successful update prints nothing (it is quiet for cron); its exit code says how it ended.
    summary = (stdout.strip().splitlines() or [f"exit {os.waitstatus_to_exitcode(status)}"])[-1]
    failures = "; ".join(line.split(": ", 2)[-1] for line in stderr.splitlines() if line)
    return usage.ru_maxrss / 1024, elapsed, f"{summary} | {failures}"


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--bomb-mib", type=int, default=1024)
    arguments.add_argument("--limit", default="10MiB")
    options = arguments.parse_args()
    bomb = gzip_bomb(options.bomb_mib)
    server = serve(bomb)
    port = server.server_address[1]
    print(f"gzip bomb: {len(bomb) / 1024:.0f} KiB that inflate to {options.bomb_mib} MiB")
    print(f"{'run':<34} {'peak RSS':>10} {'wall':>8}  result")
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        for name, paths in [
            ("baseline: one ordinary feed", ["/ok"]),
            ("gzip bomb + ordinary feed", ["/bomb", "/ok"]),
            ("endless body + ordinary feed", ["/endless", "/ok"]),
            ("all hostile + ordinary feed", ["/bomb", "/endless", "/drip", "/ok"]),
        ]:
            peak, elapsed, result = run(folder, port, paths, options.limit)
            print(f"{name:<34} {peak:>7.1f} MiB {elapsed:>7.1f}s  {result}")
    server.shutdown()


if __name__ == "__main__":
    main()
