"""A maintainer's planet from first update to steady state, against a real loopback server."""

from __future__ import annotations

import asyncio
import gc
import json
import os
from contextlib import suppress
from pathlib import Path
from typing import Any

import feedparser
import pytest

from aggregator.publish_manifest import MANIFEST
from aggregator.records import CleanEntry, ParsedEntry
from tests.conftest import FeedServer, Planet

SOURCES = {
    "/libcom/rss.xml": ("libcom.atom.xml", "application/atom+xml", "libcom.org", 10),
    "/acr/feed/": ("anticapitalist.rss.xml", "application/rss+xml", "Anti*Capitalist", 26),
    "/sr/feed/": ("marxist.rss.xml", "application/rss+xml; charset=UTF-8", "Socialist Rev", 12),
    "/ist/feed/": ("ist.rss.xml", "text/xml", "IST", 10),
    "/usc/feed/": ("usc.rdf", "application/rdf+xml", "Ukraine Solidarity Campaign", 5),
}
TOTAL = sum(count for *_rest, count in SOURCES.values())
OUTPUTS = ("index.html", "atom.xml", "rss.xml", "feed.json", "opml.xml")


def _serve_sources(planet: Planet, feed_server: FeedServer, **planet_keys: object) -> None:
    feeds = []
    for path, (fixture, content_type, name, _count) in SOURCES.items():
        url = feed_server.serve_fixture(path, fixture, content_type=content_type)
        feeds.append({"url": url, "name": name, "tags": ["test"], "language": "en"})
    planet.write_config(feeds, **planet_keys)


def _states(planet: Planet) -> dict[str, dict[str, object]]:
    result = planet.run("feeds", "--json")
    assert result.exit_code == 0, result.output
    return {state["url"]: state for state in json.loads(result.stdout)}


def _snapshot(output: Path) -> dict[str, tuple[int, bytes]]:
    """Every published file but the status pages, which show when each feed was last polled."""
    return {
        path.relative_to(output).as_posix(): (path.stat().st_mtime_ns, path.read_bytes())
        for path in output.rglob("*")
        if path.is_file() and not path.name.startswith("status.") and path.name != MANIFEST
    }


def test_first_update_stores_every_entry_and_publishes_every_file(
    planet: Planet, feed_server: FeedServer
) -> None:
    _serve_sources(planet, feed_server)
    result = planet.run("-v", "update")
    assert result.exit_code == 0, result.output
    assert f"{TOTAL} new" in result.stdout
    assert "0 failed" in result.stdout
    assert result.stderr == ""
    for name in OUTPUTS:
        assert (planet.output / name).stat().st_size > 0, name
    states = _states(planet)
    counts = {url.split(":", 2)[2].split("/", 1)[1]: s["entry_count"] for url, s in states.items()}
    assert counts == {path.lstrip("/"): count for path, (*_r, count) in SOURCES.items()}
    assert {state["status"] for state in states.values()} == {"ok"}
    assert all(state["last_http_status"] == 200 for state in states.values())


def test_second_update_finds_nothing_new_and_rewrites_only_the_status_pages(
    planet: Planet, feed_server: FeedServer
) -> None:
    _serve_sources(planet, feed_server)
    planet.run("-v", "update")
    before = _snapshot(planet.output)
    result = planet.run("-v", "update", "--all")
    assert result.exit_code == 0, result.output
    assert "0 new, 0 updated, 5 unchanged, 0 failed" in result.stdout
    assert "wrote 2 files" in result.stdout
    assert _snapshot(planet.output) == before
    for path in SOURCES:
        assert [seen.status for seen in feed_server.requests_for(path)] == [200, 304]


def test_update_without_all_respects_each_feeds_interval(
    planet: Planet, feed_server: FeedServer
) -> None:
    _serve_sources(planet, feed_server)
    planet.run("-v", "update")
    result = planet.run("-v", "update")
    assert "polled 0 feeds" in result.stdout
    assert all(len(feed_server.requests_for(path)) == 1 for path in SOURCES)


def test_a_changed_feed_adds_exactly_its_new_entries(
    planet: Planet, feed_server: FeedServer
) -> None:
    _serve_sources(planet, feed_server)
    planet.run("-v", "update")
    feed_server.serve_fixture(
        "/acr/feed/", "anticapitalist.v2.rss.xml", content_type="application/rss+xml"
    )
    result = planet.run("-v", "update", "--all")
    assert "2 new, 0 updated, 4 unchanged" in result.stdout
    v2 = (Path(__file__).parent / "fixtures/feeds/anticapitalist.v2.rss.xml").read_bytes()
    new_titles = {entry.title for entry in feedparser.parse(v2).entries[:2]}
    atom = feedparser.parse((planet.output / "atom.xml").read_bytes())
    published_titles = {entry.title for entry in atom.entries}
    assert new_titles <= published_titles
    acr = next(s for url, s in _states(planet).items() if url.endswith("/acr/feed/"))
    assert acr["entry_count"] == 28


def test_broken_and_unreachable_feeds_fail_alone_with_their_reason(
    planet: Planet, feed_server: FeedServer
) -> None:
    good = feed_server.serve_fixture("/good", "marxist.rss.xml")
    failing = {
        feed_server.serve_fixture("/broken", "broken.xml"): "not a readable feed",
        feed_server.serve_fixture("/empty", "empty.xml"): "empty response",
        feed_server.serve_fixture("/page", "not-a-feed.html", content_type="text/html"): (
            "web page"
        ),
        feed_server.serve("/error", "oops", status=500): "HTTP 500",
        feed_server.url("/missing"): "HTTP 404",
        "http://127.0.0.1:9/feed": "cannot connect",
    }
    planet.write_config([{"url": good, "name": "Good"}] + [{"url": url} for url in failing])
    result = planet.run("-v", "update")
    assert result.exit_code == 0, result.output
    assert "12 new" in result.stdout
    assert f"{len(failing)} failed" in result.stdout
    states = _states(planet)
    for url, reason in failing.items():
        assert url in result.stderr
        assert states[url]["status"] == "failing"
        assert reason in str(states[url]["last_error"]), (url, states[url]["last_error"])
        assert states[url]["consecutive_errors"] == 1
    assert states[good]["status"] == "ok"
    assert "Florenzi" in (planet.output / "index.html").read_text(encoding="utf-8")


def test_a_feed_that_breaks_keeps_what_it_had(planet: Planet, feed_server: FeedServer) -> None:
    url = feed_server.serve_fixture("/feed", "usc.rdf")
    planet.write_config([{"url": url, "name": "USC"}])
    planet.run("-v", "update")
    feed_server.serve_fixture("/feed", "broken.xml")
    result = planet.run("-v", "update", "--all")
    assert result.exit_code == 0
    (state,) = _states(planet).values()
    assert state["status"] == "failing"
    assert state["entry_count"] == 5
    assert len(feedparser.parse((planet.output / "atom.xml").read_bytes()).entries) == 5


def test_a_feed_that_recovers_is_ok_again(planet: Planet, feed_server: FeedServer) -> None:
    url = feed_server.serve("/feed", "oops", status=503)
    planet.write_config([{"url": url}])
    planet.run("-v", "update")
    feed_server.serve_fixture("/feed", "usc.rdf")
    planet.run("-v", "update", "--all")
    (state,) = _states(planet).values()
    assert state["status"] == "ok"
    assert state["consecutive_errors"] == 0
    assert state["last_error"] is None


def test_removed_and_disabled_feeds_are_not_polled_or_shown(
    planet: Planet, feed_server: FeedServer
) -> None:
    usc = feed_server.serve_fixture("/usc", "usc.rdf")
    ist = feed_server.serve_fixture("/ist", "ist.rss.xml")
    planet.write_config([{"url": usc, "name": "USC"}, {"url": ist, "name": "IST"}])
    planet.run("-v", "update")
    planet.write_config([{"url": usc, "name": "USC", "enabled": False}])
    result = planet.run("-v", "update", "--all")
    assert "polled 0 feeds" in result.stdout
    states = _states(planet)
    assert list(states) == [usc]
    assert states[usc]["status"] == "disabled"
    opml = (planet.output / "opml.xml").read_text(encoding="utf-8")
    assert ist not in opml


def test_an_edit_of_feeds_yaml_reaches_the_feed_and_its_undoing_too(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve_fixture("/usc", "usc.rdf")
    written = {
        "url": url,
        "name": "USC",
        "link": "https://usc.example.org/",
        "avatar": "https://usc.example.org/logo.png",
        "tags": ["ukraine", "solidarity"],
        "language": "en",
    }
    shown = ("name", "link", "avatar", "tags", "language")
    planet.write_config([written])
    planet.run("-v", "update")
    assert {key: _states(planet)[url][key] for key in shown} == {key: written[key] for key in shown}
    planet.write_config([{"url": url, "name": "Ukraine Solidarity", "tags": ["ukraine"]}])
    state = _states(planet)[url]
    assert (state["name"], state["tags"]) == ("Ukraine Solidarity", ["ukraine"])
    # Without a link of its own, a feed shows the site its feed names.
    assert state["link"] == "http://ukrainesolidaritycampaign.org"
    assert (state["avatar"], state["language"]) == (None, None)
    planet.write_config([written])
    assert {key: _states(planet)[url][key] for key in shown} == {key: written[key] for key in shown}
    assert _states(planet)[url]["entry_count"] == 5


def test_feeds_command_prints_a_line_per_feed(planet: Planet, feed_server: FeedServer) -> None:
    url = feed_server.serve_fixture("/usc", "usc.rdf")
    planet.write_config([{"url": url, "name": "USC"}, {"url": feed_server.url("/nope")}])
    planet.run("-v", "update")
    result = planet.run("feeds")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    ok, failing = (line.split("\t") for line in lines)
    assert ok[1] == "ok" and ok[4:7] == ["0", "200", "5"]
    assert failing[1].startswith("failing since ") and failing[4:6] == ["1", "404"]
    assert failing[7] == "HTTP 404 Not Found"


def test_publish_alone_writes_the_site_from_the_database(
    planet: Planet, feed_server: FeedServer
) -> None:
    _serve_sources(planet, feed_server)
    planet.run("-v", "update")
    for name in OUTPUTS:
        (planet.output / name).unlink()
    result = planet.run("publish")
    assert result.exit_code == 0
    assert "wrote 5 files, " in result.stdout
    assert len(feed_server.requests) == len(SOURCES)


def test_an_unexpected_error_in_one_feed_does_not_stop_the_others(
    planet: Planet, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aggregator import normalize

    real = normalize.normalize_entry

    def fragile(entry: ParsedEntry, feed_url: str, *args: Any) -> CleanEntry:
        if feed_url.endswith("/fragile"):
            raise RuntimeError("a bug")
        return real(entry, feed_url, *args)

    monkeypatch.setattr(normalize, "normalize_entry", fragile)
    fragile_url = feed_server.serve_fixture("/fragile", "usc.rdf")
    good = feed_server.serve_fixture("/good", "ist.rss.xml")
    planet.write_config([{"url": fragile_url}, {"url": good}])
    result = planet.run("-v", "update")
    assert result.exit_code == 0
    assert "10 new" in result.stdout
    states = _states(planet)
    assert states[fragile_url]["status"] == "failing"
    assert "unexpected error while reading the feed: RuntimeError" in str(
        states[fragile_url]["last_error"]
    )


def test_an_update_runs_the_garbage_collector_less_often_and_then_as_before(
    planet: Planet, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector walks every object an update holds each time it runs (see
    update.fewer_collections); a daemon's other jobs keep the process's own setting."""
    from aggregator import store, update

    while_storing: list[int] = []
    real = store.record_fetches

    def recording(*args: Any) -> Any:
        while_storing.append(gc.get_threshold()[0])
        return real(*args)

    monkeypatch.setattr(store, "record_fetches", recording)
    before = gc.get_threshold()
    assert before[0] < update.YOUNG_COLLECTION_THRESHOLD
    _serve_sources(planet, feed_server)
    assert planet.run("update").exit_code == 0
    assert while_storing
    assert min(while_storing) == update.YOUNG_COLLECTION_THRESHOLD
    assert gc.get_threshold() == before


def test_feeds_read_in_parsing_processes_publish_the_same_site(
    planet: Planet, feed_server: FeedServer, tmp_path: Path
) -> None:
    """A large run reads feeds in a pool of processes; what it stores and publishes must be
    what reading them in the updating process gives."""
    _serve_sources(planet, feed_server, parse_workers=2)
    result = planet.run("-v", "update")
    assert result.exit_code == 0, result.output
    assert f"{TOTAL} new" in result.stdout
    assert "0 failed" in result.stdout
    in_process = Planet(root=tmp_path / "in-process", database_url="")
    in_process.root.mkdir()
    in_process.database_url = f"sqlite:///{in_process.root / 'planet.db'}"
    config = planet.config.read_text(encoding="utf-8")
    assert "parse_workers: 2" in config
    in_process.config.write_text(config.replace("parse_workers: 2", "parse_workers: 0"))
    assert in_process.run("update").exit_code == 0
    pooled = {name: content for name, (_time, content) in _snapshot(planet.output).items()}
    alone = {name: content for name, (_time, content) in _snapshot(in_process.output).items()}
    assert pooled.keys() == alone.keys()
    assert [name for name in pooled if pooled[name] != alone[name]] == []


def test_a_host_that_cannot_start_parsing_processes_reads_every_feed_itself(
    planet: Planet,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Some sandboxes and serverless hosts have no working semaphores; a planet configured for
    a pool still updates there. (No real host here lacks them, hence the stand-in.)"""
    from aggregator import update

    def no_semaphores(method: str) -> None:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(update.multiprocessing, "get_context", no_semaphores)
    _serve_sources(planet, feed_server, parse_workers=2)
    result = planet.run("-v", "update")
    assert result.exit_code == 0, result.output
    assert f"{TOTAL} new" in result.stdout
    assert "0 failed" in result.stdout
    assert "cannot start parsing processes" in result.output


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_single_update_ends_its_parsing_processes_before_it_publishes(
    planet: Planet, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server that forks the parsing processes outlives them; `aggregator update` publishes
    after it stores, and would carry that server's memory through the publish."""
    from aggregator import jobs

    during_publish: list[list[str]] = []
    publish = jobs.publish

    def watched(*args: Any) -> Any:
        during_publish.append(_children())
        return publish(*args)

    monkeypatch.setattr(jobs, "publish", watched)
    _serve_sources(planet, feed_server, parse_workers=1)
    result = planet.run("-v", "update")
    assert result.exit_code == 0, result.output
    assert f"{TOTAL} new" in result.stdout
    assert len(during_publish) == 1
    assert [command for command in during_publish[0] if "forkserver" in command] == []


def _children() -> list[str]:
    """The command lines of this process's children."""
    from bench.harness import process_stats

    commands = []
    for pid, (parent, _started, _ticks) in process_stats().items():
        if parent == os.getpid():
            with suppress(OSError):
                commands.append(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "))
    return commands


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc")
def test_parsing_processes_start_with_the_libraries_their_server_loaded() -> None:
    """Loaded before the fork, the parsing libraries' pages are shared by every worker, and no
    worker pays for importing them; their objects are frozen out of the collector's sight, which
    would otherwise write to each one and so copy its page into the worker."""
    from aggregator import update

    readers = update.Readers(2)
    try:
        pool = asyncio.run(readers.next_pool())
        assert pool is not None
        pids = {pool.submit(os.getpid).result() for _ in range(4)}
        maps = [Path(f"/proc/{pid}/maps").read_text() for pid in pids]
        frozen = pool.submit(gc.get_freeze_count).result()
    finally:
        readers.close()
    assert frozen > 10_000
    for mapped in maps:
        assert "pycld2" in mapped
        assert "nh3" in mapped
        assert "lxml" in mapped


def test_parsing_processes_give_the_storing_process_the_cpu_first() -> None:
    """The one thread that stores is what a run waits for; the workers yield to it."""
    from aggregator import update

    readers = update.Readers(1)
    try:
        pool = asyncio.run(readers.next_pool())
        assert pool is not None
        theirs = pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result()
    finally:
        readers.close()
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert theirs > ours or ours == 19


@pytest.mark.parametrize(
    ("cpus", "due", "workers"), [(1, 1000, 0), (2, 99, 0), (2, 100, 2), (16, 1000, 4)]
)
def test_auto_starts_a_parsing_process_per_cpu_for_a_large_run(
    monkeypatch: pytest.MonkeyPatch, cpus: int, due: int, workers: int
) -> None:
    from aggregator import update

    monkeypatch.setattr(update.os, "cpu_count", lambda: cpus)
    assert update.Readers.for_setting("auto", due).workers == workers
    assert update.Readers.for_setting(3, due).workers == 3
