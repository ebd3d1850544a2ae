"""`aggregator run`: polls on its own, publishes, and stops cleanly on SIGTERM or Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FeedServer, Planet

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Daemon feed</title>
<link>https://example.org/</link><description>d</description>
<item><title>Strike at the depot</title><link>https://example.org/strike</link>
<pubDate>Mon, 30 Jan 2023 10:15:00 +0000</pubDate></item></channel></rss>"""


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"daemon exited early: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{path} never appeared: {process.communicate()}")
        time.sleep(0.1)


def _start(planet: Planet) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "-c", str(planet.config),
         "--database", planet.database_url, "run", "--poll-interval", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_daemon_polls_publishes_and_stops_cleanly(
    planet: Planet, feed_server: FeedServer, stop_signal: signal.Signals
) -> None:
    url = feed_server.serve("/feed", RSS)
    planet.write_config([{"url": url, "name": "Daemon feed", "interval": "1h"}])
    process = _start(planet)
    _wait_for(planet.output / "index.html", process)
    time.sleep(1.5)
    process.send_signal(stop_signal)
    try:
        _out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("daemon did not stop within 30 s of the signal")
    assert process.returncode == 0, err
    assert "Strike at the depot" in (planet.output / "index.html").read_text()
    assert "daemon stopped" in err
    assert "Traceback" not in err
    assert len(feed_server.requests_for("/feed")) == 1, "a 1h interval was polled again"


def test_daemon_refuses_a_broken_config_before_starting(planet: Planet) -> None:
    planet.config.write_text("planet: {title: T}\nfeeds: []\n")
    process = _start(planet)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "'link' is required" in err
