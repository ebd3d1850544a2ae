"""`aggregator run`: a real daemon process against the loopback server.

It polls on its own, publishes, reloads an edited feeds.yaml (and keeps running when the edit is
broken), logs one line per event, and stops cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.base import STATE_STOPPED

from aggregator import daemon as daemon_module
from aggregator import jobs
from aggregator.config import load_settings
from aggregator.daemon import DaemonOptions
from tests.conftest import FeedServer, Planet

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Daemon feed</title>
<link>https://example.org/</link><description>d</description>
<item><title>Strike at the depot</title><link>https://example.org/strike</link>
<pubDate>Mon, 30 Jan 2023 10:15:00 +0000</pubDate></item></channel></rss>"""
UNIT = Path(__file__).parents[1] / "contrib" / "aggregator.service"


class Daemon:
    def __init__(
        self,
        planet: Planet,
        *args: str,
        command: list[str] | None = None,
        run_args: tuple[str, ...] = (),
    ) -> None:
        self.log = planet.root / "daemon.log"
        self.handle = self.log.open("w")
        self.process = subprocess.Popen(
            command
            or [sys.executable, "-m", "aggregator", "-c", str(planet.config),
                "--database", planet.database_url, *args, "run", "--poll-interval", "1",
                "--publish-delay", "0.5", *run_args],
            stdout=subprocess.DEVNULL,
            stderr=self.handle,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, condition: object, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            done = condition() if callable(condition) else str(condition) in self.text()
            if done:
                return
            if self.process.poll() is not None:
                pytest.fail(f"daemon exited early ({self.process.returncode}):\n{self.text()}")
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"timed out waiting for {condition!r}:\n{self.text()}")
            time.sleep(0.1)

    def stop(self, stop_signal: signal.Signals = signal.SIGTERM, seconds: float = 30) -> int:
        self.process.send_signal(stop_signal)
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"daemon did not stop within {seconds} s:\n{self.text()}")
        finally:
            self.handle.close()


def _page(planet: Planet) -> str:
    page = planet.output / "index.html"
    return page.read_text() if page.exists() else ""


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_daemon_polls_publishes_and_stops_cleanly(
    planet: Planet, feed_server: FeedServer, daemons: list[Daemon], stop_signal: signal.Signals
) -> None:
    url = feed_server.serve("/feed", RSS)
    planet.write_config([{"url": url, "name": "Daemon feed", "interval": "1h"}])
    daemon = Daemon(planet)
    daemons.append(daemon)
    daemon.wait_for(lambda: (planet.output / "index.html").exists())
    daemon.wait_for("update: polled 1 feeds in")
    time.sleep(1.5)
    assert daemon.stop(stop_signal) == 0
    log = daemon.text()
    assert "Strike at the depot" in _page(planet)
    assert "daemon stopped" in log and "Traceback" not in log
    assert "1 new, 0 updated, 0 unchanged (304), 0 failed" in log
    assert len(feed_server.requests_for("/feed")) == 1, "a 1h interval was polled again"


def test_daemon_refuses_a_broken_config_before_starting(planet: Planet) -> None:
    planet.config.write_text("planet: {title: T}\nfeeds: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "aggregator", "-c", str(planet.config), "run"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "'link' is required" in result.stderr


def test_an_edited_feeds_yaml_is_picked_up_and_a_broken_one_is_refused(
    planet: Planet, feed_server: FeedServer, daemons: list[Daemon]
) -> None:
    first = feed_server.serve("/first", RSS)
    second = feed_server.serve_fixture("/second", "usc.rdf")
    planet.write_config([{"url": first, "name": "First"}])
    daemon = Daemon(planet)
    daemons.append(daemon)
    daemon.wait_for("update: polled 1 feeds")
    good_text = planet.config.read_text()
    planet.config.write_text(good_text + "- {url: 'ftp://nowhere', name: Broken}\n")
    daemon.wait_for("feeds.yaml not reloaded")
    line = len(good_text.splitlines()) + 1
    assert re.search(rf"feeds.yaml:{line}: feeds\[1\]\.url: .*http:// or https://", daemon.text())
    assert daemon.process.poll() is None
    planet.write_config([{"url": first, "name": "First"}, {"url": second, "name": "Second"}])
    daemon.wait_for("reloaded")
    daemon.wait_for(lambda: "Kristina" in _page(planet))
    assert feed_server.requests_for("/second")
    assert daemon.stop() == 0


def test_sighup_reloads_feeds_yaml(
    planet: Planet, feed_server: FeedServer, daemons: list[Daemon]
) -> None:
    planet.write_config([{"url": feed_server.serve("/feed", RSS), "name": "Before"}])
    daemon = Daemon(planet)
    daemons.append(daemon)
    daemon.wait_for("update: polled 1 feeds")
    stamp = planet.config.stat()
    planet.write_config([{"url": feed_server.url("/feed"), "name": "After"}])
    os.utime(planet.config, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda: ">After<" in _page(planet))
    assert daemon.stop() == 0


def test_a_second_signal_exits_at_once_and_leaves_everything_whole(
    planet: Planet, feed_server: FeedServer, daemons: list[Daemon]
) -> None:
    slow = feed_server.serve("/slow", RSS, delay=20)
    planet.write_config([{"url": slow, "timeout": "60s"}])
    daemon = Daemon(planet)
    daemons.append(daemon)
    daemon.wait_for(lambda: feed_server.requests_for("/slow"))
    daemon.process.send_signal(signal.SIGTERM)
    daemon.wait_for("finishing the current job")
    assert daemon.stop(signal.SIGTERM, seconds=10) == 130
    result = planet.run("feeds", "--json")
    assert result.exit_code == 0


def test_a_stop_during_a_long_fetch_waits_for_the_grace_period_only(
    planet: Planet, feed_server: FeedServer, daemons: list[Daemon]
) -> None:
    slow = feed_server.serve("/slow", RSS, delay=20)
    fast = feed_server.serve_fixture("/fast", "usc.rdf")
    planet.write_config([{"url": slow, "timeout": "60s"}, {"url": fast}])
    daemon = Daemon(planet, run_args=("--grace", "2"))
    daemons.append(daemon)
    daemon.wait_for(lambda: feed_server.requests_for("/slow"))
    daemon.wait_for(lambda: feed_server.requests_for("/fast"))
    assert daemon.stop(signal.SIGTERM, seconds=40) == 0
    assert "grace period over" in daemon.text()
    states = {state["url"]: state for state in json.loads(planet.run("feeds", "--json").stdout)}
    assert states[fast]["entry_count"] == 5, "a feed finished before the stop was lost"


def test_json_logs_are_one_object_per_line(
    planet: Planet, feed_server: FeedServer, daemons: list[Daemon]
) -> None:
    planet.write_config([{"url": feed_server.serve("/feed", RSS)}])
    daemon = Daemon(planet, "--log-format", "json")
    daemons.append(daemon)
    daemon.wait_for("update: polled 1 feeds")
    assert daemon.stop() == 0
    records = [json.loads(line) for line in daemon.text().splitlines()]
    summary = next(record for record in records if record["message"].startswith("update:"))
    assert summary["level"] == "info" and summary["new"] == 1 and summary["failed"] == 0
    assert {"time", "level", "logger", "message"} <= set(records[0])


def test_the_systemd_units_execstart_runs_the_daemon(
    planet: Planet, feed_server: FeedServer, daemons: list[Daemon]
) -> None:
    planet.write_config([{"url": feed_server.serve("/feed", RSS)}])
    exec_start = next(
        line.split("=", 1)[1]
        for line in UNIT.read_text().splitlines()
        if line.startswith("ExecStart=")
    )
    command = shlex.split(exec_start)
    assert command[0] == "/srv/planet/.venv/bin/aggregator"
    assert command[1:3] == ["-c", "/srv/planet/feeds.yaml"]
    runnable = [sys.executable, "-m", "aggregator", "-c", str(planet.config),
                "--database", planet.database_url, *command[3:]]  # fmt: skip
    daemon = Daemon(planet, command=runnable)
    daemons.append(daemon)
    daemon.wait_for("daemon started")
    daemon.wait_for(lambda: (planet.output / "index.html").exists())
    assert daemon.stop() == 0


def test_a_running_daemon_keeps_cron_updates_out(
    planet: Planet, feed_server: FeedServer, daemons: list[Daemon]
) -> None:
    planet.write_config([{"url": feed_server.serve("/feed", RSS)}])
    daemon = Daemon(planet)
    daemons.append(daemon)
    daemon.wait_for("daemon started")
    result = planet.run("update", "--all")
    assert result.exit_code == 0
    assert "another aggregator is running" in result.stdout
    assert daemon.stop() == 0


def test_a_stop_that_comes_as_a_poll_asks_for_its_publish_does_not_hang(
    planet: Planet, feed_server: FeedServer
) -> None:
    """A signal can arrive just as a finished update asks for its publish. APScheduler holds
    its job stores' lock while its shutdown waits for running jobs, so a job that adds one
    then waits forever, and so does the daemon. Here the stop is started at that very moment;
    it must wait for the poll and then publish what it found."""
    planet.write_config([{"url": feed_server.serve("/feed", RSS)}])
    settings = load_settings(planet.config, planet.database_url)
    sessions = jobs.open_store(settings)
    daemon = daemon_module.Daemon(
        lambda: settings, settings, sessions, DaemonOptions(poll_seconds=3600, publish_delay=60)
    )
    stopper = threading.Thread(target=daemon._stop, daemon=True)
    add_job = daemon.scheduler.add_job

    def add_job_as_the_signal_comes(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("id") == "publish" and not stopper.is_alive():
            daemon.stopping.set()
            stopper.start()
            deadline = time.monotonic() + 1
            while daemon.scheduler.state != STATE_STOPPED and time.monotonic() < deadline:
                time.sleep(0.01)
        return add_job(*args, **kwargs)

    daemon.scheduler.add_job = add_job_as_the_signal_comes  # type: ignore[method-assign]
    daemon._schedule()
    daemon.scheduler.start()
    stopper_started = time.monotonic() + 30
    while not stopper.is_alive() and stopper.ident is None:
        assert time.monotonic() < stopper_started, "the poll never asked for a publish"
        time.sleep(0.01)
    stopper.join(timeout=30)
    assert not stopper.is_alive(), "the stop waited forever for the poll"
    assert (planet.output / "index.html").exists()
