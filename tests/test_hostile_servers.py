"""Sources that misbehave: each one is recorded with its reason and its next poll, and the
other feeds of the same run are not affected.

Every test polls a well-behaved feed beside the misbehaving one.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from aggregator.config import parse_duration
from tests.conftest import FeedServer, Planet

GOOD_PATH = "/good/feed/"


def _rss(*items: tuple[str, datetime], extra: str = "") -> str:
    body = "".join(
        f"<item><title>{title}</title><link>https://example.org/{index}</link>"
        f"<guid>https://example.org/{index}</guid>"
        f"<pubDate>{format_datetime(moment)}</pubDate></item>"
        for index, (title, moment) in enumerate(items)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile test</title>'
        f"<link>https://example.org/</link><description>d</description>{extra}{body}"
        "</channel></rss>"
    )


FEED = _rss(("Dockers strike", datetime(2024, 5, 1, tzinfo=UTC)))


def _run(
    planet: Planet, feed_server: FeedServer, hostile: dict[str, Any], *args: str, **keys: Any
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Write feeds.yaml with the hostile feed and a good one, update, return both states."""
    good_url = feed_server.serve_fixture(GOOD_PATH, "usc.rdf")
    planet.write_config([{"name": "Hostile", **hostile}, {"url": good_url, "name": "Good"}], **keys)
    result = planet.run("-v", "update", *args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    states = {state["url"]: state for state in json.loads(planet.run("feeds", "--json").stdout)}
    good = states[good_url]
    assert good["status"] == "ok" and good["entry_count"] == 5, good
    _assert_scheduled(states[hostile["url"]], hostile)
    return result, states[hostile["url"]], good


def _assert_scheduled(state: dict[str, Any], hostile: dict[str, Any]) -> None:
    """Whatever happened, the next poll is consistent with the feed's state."""
    if state["status"] == "gone":
        assert state["next_due_at"] is None
        return
    interval = parse_duration(hostile.get("interval", "1h"))
    if state["status"] == "failing":
        backoff = min(interval * 2 ** state["consecutive_errors"], max(interval, timedelta(days=1)))
        assert _delay(state) >= backoff * 0.9, (state, backoff)
    else:
        low = parse_duration(hostile.get("min_interval", "15m"))
        high = parse_duration(hostile.get("max_interval", "1d"))
        # Due times count from the end of processing, a moment after the fetch started.
        assert low <= _delay(state) <= high + timedelta(minutes=1), state


def _delay(state: dict[str, Any]) -> timedelta:
    due = datetime.fromisoformat(state["next_due_at"])
    return due - datetime.fromisoformat(state["last_fetched_at"])


def _assert_backoff(state: dict[str, Any], expected: timedelta) -> None:
    assert expected * 0.89 <= _delay(state) <= expected * 1.11, (_delay(state), expected)


def test_a_server_that_drips_one_byte_at_a_time_is_cut_off_by_the_total_timeout(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/drip", FEED, drip=0.5)
    _result, state, _good = _run(planet, feed_server, {"url": url, "timeout": "2s"})
    assert state["status"] == "failing"
    assert state["last_error"] == "timed out after 2 s"
    _assert_backoff(state, timedelta(hours=2))


def test_an_endless_body_stops_at_the_size_limit(planet: Planet, feed_server: FeedServer) -> None:
    url = feed_server.serve("/endless", "", endless=True)
    _result, state, _good = _run(planet, feed_server, {"url": url, "max_body_size": "1MiB"})
    assert state["status"] == "failing"
    assert state["last_error"] == "response larger than 1 MiB; download stopped"


def test_a_gzip_bomb_stops_at_the_size_limit_after_decompression(
    planet: Planet, feed_server: FeedServer
) -> None:
    bomb = gzip.compress(b"<rss>" + b"\0" * 50_000_000, compresslevel=9)
    url = feed_server.serve(
        "/bomb", bomb, headers={"Content-Encoding": "gzip"}, etag=False, last_modified=False
    )
    _result, state, _good = _run(planet, feed_server, {"url": url, "max_body_size": "2MiB"})
    assert len(bomb) < 2 * 1024 * 1024
    assert state["last_error"] == "response larger than 2 MiB; download stopped"


def test_a_redirect_loop_is_an_error_not_a_hang(planet: Planet, feed_server: FeedServer) -> None:
    feed_server.serve("/a", "", status=302, headers={"Location": feed_server.url("/b")})
    feed_server.serve("/b", "", status=302, headers={"Location": feed_server.url("/a")})
    _result, state, _good = _run(planet, feed_server, {"url": feed_server.url("/a")})
    assert state["status"] == "failing"
    assert "more than 5 redirects" in state["last_error"]
    assert len(feed_server.requests_for("/a")) <= 3


@pytest.mark.parametrize("code", [301, 308])
def test_a_permanent_redirect_is_followed_from_then_on_and_reported(
    planet: Planet, feed_server: FeedServer, code: int
) -> None:
    new = feed_server.serve("/new/feed", FEED)
    old = feed_server.serve("/old/feed", "", status=code, headers={"Location": new})
    _result, state, _good = _run(planet, feed_server, {"url": old})
    assert state["status"] == "moved"
    assert state["moved_to"] == new
    assert state["entry_count"] == 1
    item_line = planet.config.read_text().splitlines().index("- name: Hostile") + 1
    assert f"{planet.config}:{item_line}: {old} has moved permanently to {new}" in state["advice"]
    check = planet.run("check")
    assert check.exit_code == 0
    assert f"change its url there to {new}" in check.stderr
    planet.run("-v", "update", "--all")
    assert len(feed_server.requests_for("/old/feed")) == 1
    assert len(feed_server.requests_for("/new/feed")) == 2
    text = planet.config.read_text().replace(old, new)
    planet.config.write_text(text)
    states = json.loads(planet.run("feeds", "--json").stdout)
    moved = next(s for s in states if s["url"] == new)
    assert moved["status"] == "ok" and moved["entry_count"] == 1 and moved["moved_to"] is None
    assert len(states) == 2
    assert "warning" not in planet.run("check").stderr


@pytest.mark.parametrize("code", [302, 307])
def test_a_temporary_redirect_changes_nothing(
    planet: Planet, feed_server: FeedServer, code: int
) -> None:
    elsewhere = feed_server.serve("/elsewhere", FEED)
    url = feed_server.serve("/feed", "", status=code, headers={"Location": elsewhere})
    _result, state, _good = _run(planet, feed_server, {"url": url})
    assert state["status"] == "ok" and state["moved_to"] is None
    planet.run("-v", "update", "--all")
    assert len(feed_server.requests_for("/feed")) == 2


def test_a_permanent_redirect_after_a_temporary_one_is_not_remembered(
    planet: Planet, feed_server: FeedServer
) -> None:
    final = feed_server.serve("/final", FEED)
    middle = feed_server.serve("/middle", "", status=301, headers={"Location": final})
    url = feed_server.serve("/feed", "", status=302, headers={"Location": middle})
    _result, state, _good = _run(planet, feed_server, {"url": url})
    assert state["status"] == "ok" and state["moved_to"] is None


def test_gone_stops_polling_until_the_maintainer_edits_the_feed(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/gone", "Gone", status=410)
    _result, state, _good = _run(planet, feed_server, {"url": url})
    assert state["status"] == "gone"
    assert state["next_due_at"] is None
    assert "gone for good" in state["last_error"]
    assert "is gone (HTTP 410)" in state["advice"]
    planet.run("-v", "update", "--all")
    assert len(feed_server.requests_for("/gone")) == 1
    feed_server.serve("/gone", FEED)
    planet.config.write_text(planet.config.read_text().replace("name: Hostile", "name: Back"))
    result = planet.run("-v", "update")
    assert "1 new" in result.stdout
    assert len(feed_server.requests_for("/gone")) == 2


def test_errors_back_off_exponentially_and_the_first_success_resets(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/flaky", "down", status=404)
    _result, state, _good = _run(planet, feed_server, {"url": url, "interval": "1h"})
    first_failure = state["failing_since"]
    for errors, expected in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 24), (6, 24)]:
        assert state["consecutive_errors"] == errors
        assert state["failing_since"] == first_failure
        _assert_backoff(state, timedelta(hours=expected))
        _result, state, _good = _run(planet, feed_server, {"url": url, "interval": "1h"}, "--all")
    feed_server.serve("/flaky", FEED)
    _result, state, _good = _run(planet, feed_server, {"url": url, "interval": "1h"}, "--all")
    assert state["status"] == "ok"
    assert state["consecutive_errors"] == 0 and state["failing_since"] is None
    assert state["last_error"] is None


@pytest.mark.parametrize(
    ("code", "retry_after", "at_least"),
    [
        (429, "21600", timedelta(hours=6)),
        (503, "HTTP-DATE", timedelta(hours=9)),
    ],
)
def test_retry_after_is_respected(
    planet: Planet, feed_server: FeedServer, code: int, retry_after: str, at_least: timedelta
) -> None:
    if retry_after == "HTTP-DATE":
        retry_after = format_datetime(datetime.now(UTC) + timedelta(hours=9), usegmt=True)
    url = feed_server.serve("/busy", "slow down", status=code, headers={"Retry-After": retry_after})
    _result, state, _good = _run(planet, feed_server, {"url": url})
    assert state["status"] == "failing"
    assert f"HTTP {code}" in state["last_error"] and "asks us to wait until" in state["last_error"]
    assert _delay(state) >= at_least - timedelta(seconds=5)
    assert _delay(state) <= at_least + timedelta(minutes=1)


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "", "application/json"])
def test_a_feed_with_a_wrong_or_missing_content_type_is_still_read(
    planet: Planet, feed_server: FeedServer, content_type: str
) -> None:
    url = feed_server.serve("/typed", FEED, content_type=content_type)
    _result, state, _good = _run(planet, feed_server, {"url": url})
    assert state["status"] == "ok" and state["entry_count"] == 1


def test_a_web_page_names_the_feed_to_subscribe_to(planet: Planet, feed_server: FeedServer) -> None:
    url = feed_server.serve_fixture("/home", "not-a-feed.html", content_type="text/html")
    _result, state, _good = _run(planet, feed_server, {"url": url})
    assert state["status"] == "failing"
    assert state["last_error"] == "this is a web page; its feed is at https://example.org/feed/"


@pytest.mark.parametrize(("etag", "last_modified"), [(True, False), (False, True), (False, False)])
def test_an_unchanged_feed_is_not_parsed_again_whatever_validators_it_sends(
    planet: Planet, feed_server: FeedServer, etag: bool, last_modified: bool
) -> None:
    url = feed_server.serve("/plain", FEED, etag=etag, last_modified=last_modified)
    _run(planet, feed_server, {"url": url})
    result, state, _good = _run(planet, feed_server, {"url": url}, "--all")
    assert "0 new, 0 updated, 2 unchanged" in result.stdout
    statuses = [seen.status for seen in feed_server.requests_for("/plain")]
    assert statuses == [200, 304 if etag or last_modified else 200]
    assert state["status"] == "ok"


def test_the_from_header_names_the_contact_when_configured(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/feed", FEED)
    _run(planet, feed_server, {"url": url}, contact="planet@example.org")
    assert feed_server.requests_for("/feed")[0].headers["from"] == "planet@example.org"


def _dated(count: int, gap: timedelta) -> str:
    now = datetime.now(UTC)
    return _rss(*((f"Post {n}", now - gap * n) for n in range(count)))


def test_a_feed_that_posts_hourly_is_polled_within_the_hour(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/hourly", _dated(20, timedelta(hours=1)))
    _result, state, _good = _run(planet, feed_server, {"url": url, "interval": "1d"})
    assert timedelta(minutes=15) <= _delay(state) <= timedelta(minutes=40)


def test_a_feed_that_posts_weekly_is_not_polled_every_ten_minutes(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/weekly", _dated(10, timedelta(weeks=1)))
    hostile = {"url": url, "interval": "10m", "min_interval": "5m", "max_interval": "1d"}
    _result, state, _good = _run(planet, feed_server, hostile)
    assert timedelta(hours=23, minutes=59) <= _delay(state) <= timedelta(days=1, minutes=1)


@pytest.mark.parametrize(
    ("extra", "headers", "at_least"),
    [
        ("<ttl>360</ttl>", {}, timedelta(hours=6)),
        (
            "<sy:updatePeriod xmlns:sy='http://purl.org/rss/1.0/modules/syndication/'>daily"
            "</sy:updatePeriod>",
            {},
            timedelta(days=1),
        ),
        ("", {"Cache-Control": "public, max-age=7200"}, timedelta(hours=2)),
    ],
)
def test_the_source_hints_are_a_floor_for_the_next_poll(
    planet: Planet,
    feed_server: FeedServer,
    extra: str,
    headers: dict[str, str],
    at_least: timedelta,
) -> None:
    url = feed_server.serve("/hinted", _rss(extra=extra), headers=headers)
    _result, state, _good = _run(planet, feed_server, {"url": url, "interval": "30m"})
    assert at_least - timedelta(seconds=5) <= _delay(state) <= at_least + timedelta(seconds=5)
