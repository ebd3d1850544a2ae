"""Kill -9 a real `aggregator update` at random moments, many times: the next run carries on.

After every kill the SQLite database passes `PRAGMA integrity_check` and each published file is
a whole file (the old or the new version, never a partial one); after a final run every entry
is stored exactly once and every feed is fine.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import feedparser
import lxml.etree as etree
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import FeedServer, Planet

FIXTURES = {
    "libcom.atom.xml": 10,
    "anticapitalist.rss.xml": 26,
    "marxist.rss.xml": 12,
    "ist.rss.xml": 10,
    "usc.rdf": 5,
}
FEEDS_PER_FIXTURE = 5
KILLS = 15


def _serve(planet: Planet, feed_server: FeedServer, parse_workers: int) -> int:
    feeds, expected = [], 0
    for copy in range(FEEDS_PER_FIXTURE):
        for name, count in FIXTURES.items():
            url = feed_server.serve_fixture(
                f"/{copy}/{name}", name, delay=random.Random(f"{copy}{name}").uniform(0, 0.4)
            )
            feeds.append({"url": url, "name": f"{name} #{copy}"})
            expected += count
    planet.write_config(feeds, feed_items=200, items_per_page=100, parse_workers=parse_workers)
    return expected


def _assert_whole(planet: Planet) -> None:
    if planet.database_url.startswith("sqlite"):
        path = planet.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    if not planet.output.exists():
        return
    for name in ("atom.xml", "rss.xml", "opml.xml"):
        if (planet.output / name).exists():
            etree.parse(str(planet.output / name))
    if (planet.output / "feed.json").exists():
        json.loads((planet.output / "feed.json").read_text())
    if (planet.output / "index.html").exists():
        assert (planet.output / "index.html").read_text().rstrip().endswith("</html>")


# Read in the updating process, as a small planet does, and in a parsing process, as a large
# one does: a kill then also orphans the pool.
@pytest.mark.parametrize("parse_workers", [0, 1])
def test_killing_update_at_random_moments_loses_and_doubles_nothing(
    planet: Planet, feed_server: FeedServer, parse_workers: int
) -> None:
    expected = _serve(planet, feed_server, parse_workers)
    command = [sys.executable, "-m", "aggregator", "-c", str(planet.config),
               "--database", planet.database_url, "update", "--all"]  # fmt: skip
    chance = random.Random(20261121)
    finished_before_kill = 0
    for _ in range(KILLS):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(chance.uniform(0.2, 2.5))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        else:
            finished_before_kill += 1
        process.wait()
        _assert_whole(planet)
    assert finished_before_kill < KILLS, "no run was ever killed: the test proves nothing"
    final = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    _assert_whole(planet)
    engine = create_engine(planet.database_url)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM entries")).scalar()
        doubled = connection.execute(
            text("SELECT count(*) FROM (SELECT feed_id, guid FROM entries "
                 "GROUP BY feed_id, guid HAVING count(*) > 1) AS twice")
        ).scalar()  # fmt: skip
        states = connection.execute(text("SELECT DISTINCT status FROM feeds")).scalars().all()
    engine.dispose()
    assert doubled == 0
    assert stored == expected
    assert set(states) == {"ok"}
    atom = feedparser.parse((planet.output / "atom.xml").read_bytes())
    # Every copy of a fixture carries the same stories: each is published once.
    assert len(atom.entries) == sum(FIXTURES.values()) and not atom.bozo


_PARSING_POOL = """
import asyncio, os, time
from aggregator import update
readers = update.Readers(2)
pool = asyncio.run(readers.next_pool())
print(" ".join(str(pool.submit(os.getpid).result()) for _ in range(6)), flush=True)
time.sleep(600)
"""
_RENDERING_POOL = """
import os, time
from aggregator.publish import SiteView
from aggregator.publish_pool import PagePool
site = SiteView("Planet", "https://planet.example.org/", "", None, None, None, 5, 5, [], [])
pool = PagePool(2, site)
print(" ".join(str(pool.executor.submit(os.getpid).result()) for _ in range(6)), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """Running, not merely a zombie that no one has reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _parent(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("\nPPid:\t", 1)[1].split()[0])


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux's pidfds and /proc")
@pytest.mark.parametrize("script", [_PARSING_POOL, _RENDERING_POOL], ids=["parse", "render"])
def test_the_worker_processes_of_a_killed_command_end_with_it(script: str) -> None:
    """Otherwise every update or publish killed by a cron timeout or the OOM killer would
    leave its workers (and the parsing workers' server) running for good."""
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        workers = {int(pid) for pid in process.stdout.readline().split()}
        assert workers
        server = {_parent(pid) for pid in workers}
    finally:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 60
    while any(map(_alive, workers | server)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, workers | server))
