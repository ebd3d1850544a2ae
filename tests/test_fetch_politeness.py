"""How we behave as a client: conditional GET, identity, compression, limits, concurrency."""

from __future__ import annotations

import asyncio
import gzip
import tempfile
import tracemalloc
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.fetch import FetchPolicy, fetch_all
from aggregator.records import FetchRequest, FetchResult
from tests.conftest import FeedServer, Planet

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<link>https://example.org/</link><description>d</description>
<item><title>One</title><link>https://example.org/1</link><guid>https://example.org/1</guid>
<pubDate>Mon, 30 Jan 2023 10:15:00 +0000</pubDate></item></channel></rss>"""


def _fetch(requests: list[FetchRequest], policy: FetchPolicy) -> list[FetchResult]:
    async def collect() -> list[FetchResult]:
        return [result async for result in fetch_all(requests, policy)]

    return asyncio.run(collect())


def test_second_update_sends_validators_and_gets_304(planet: Planet, feed_server: FeedServer):
    url = feed_server.serve("/feed", RSS)
    planet.write_config([{"url": url, "name": "One"}])
    assert planet.run("-v", "update").exit_code == 0
    assert planet.run("-v", "update", "--all").exit_code == 0
    first, second = feed_server.requests_for("/feed")
    assert "if-none-match" not in first.headers
    assert second.headers["if-none-match"].startswith('"')
    assert "if-modified-since" in second.headers
    assert second.status == 304


def test_last_modified_alone_is_enough_for_a_304(planet: Planet, feed_server: FeedServer):
    url = feed_server.serve("/feed", RSS, etag=False)
    planet.write_config([{"url": url}])
    planet.run("-v", "update")
    result = planet.run("-v", "update", "--all")
    assert feed_server.requests_for("/feed")[-1].status == 304
    assert "1 unchanged" in result.stdout


def test_user_agent_names_the_project_and_the_planet(planet: Planet, feed_server: FeedServer):
    url = feed_server.serve("/feed", RSS)
    planet.write_config([{"url": url}])
    planet.run("-v", "update")
    agent = feed_server.requests_for("/feed")[0].headers["user-agent"]
    assert agent.startswith("aggregator/")
    assert "https://planet.test/" in agent


def test_gzip_responses_are_accepted_and_decoded(planet: Planet, feed_server: FeedServer):
    url = feed_server.serve("/feed", RSS, gzip=True)
    planet.write_config([{"url": url}])
    result = planet.run("-v", "update")
    assert "gzip" in feed_server.requests_for("/feed")[0].headers["accept-encoding"]
    assert "1 new" in result.stdout


def test_body_over_the_limit_is_cut_off_while_streaming(feed_server: FeedServer):
    big = RSS.replace("<title>One</title>", "<title>" + "x" * 200_000 + "</title>")
    url = feed_server.serve("/big", big)
    request = FetchRequest(feed_id=1, url=url, max_body_size=50_000)
    (result,) = _fetch([request], FetchPolicy(user_agent="test"))
    assert result.content is None
    assert result.error is not None and "larger than" in result.error


def test_gzip_bomb_is_measured_after_decompression(feed_server: FeedServer):
    bomb = gzip.compress(b"<rss>" + b" " * 5_000_000)
    url = feed_server.serve(
        "/bomb", bomb, headers={"Content-Encoding": "gzip"}, etag=False, last_modified=False
    )
    request = FetchRequest(feed_id=1, url=url, max_body_size=1_000_000)
    (result,) = _fetch([request], FetchPolicy(user_agent="test"))
    assert len(bomb) < 1_000_000
    assert result.error is not None and "larger than" in result.error


def test_a_server_slower_than_the_timeout_is_recorded_as_failing(
    planet: Planet, feed_server: FeedServer
):
    slow = feed_server.serve("/slow", RSS, delay=3)
    fast = feed_server.serve("/fast", RSS.replace("example.org/1", "example.org/2"))
    planet.write_config([{"url": slow, "timeout": "1s"}, {"url": fast}])
    result = planet.run("-v", "update")
    assert result.exit_code == 0
    assert "timed out" in result.stderr
    assert "1 new" in result.stdout


def test_feeds_are_fetched_concurrently_but_at_most_two_per_host(feed_server: FeedServer):
    urls = [feed_server.serve(f"/feed{n}", RSS, delay=0.3) for n in range(6)]
    requests = [FetchRequest(feed_id=n, url=url) for n, url in enumerate(urls)]
    results = _fetch(requests, FetchPolicy(user_agent="test"))
    assert sorted(result.feed_id for result in results) == list(range(6))
    assert all(result.status_code == 200 for result in results)
    assert feed_server.max_in_flight == 2


def test_unreachable_host_is_a_failure_in_words(feed_server: FeedServer):
    closed = FetchRequest(feed_id=1, url="http://127.0.0.1:9/feed", timeout=5)
    (result,) = _fetch([closed], FetchPolicy(user_agent="test"))
    assert result.status_code is None
    assert result.error is not None and result.error.startswith("cannot connect")
    assert result.started_at <= datetime.now(UTC)


def test_http_errors_carry_their_status(feed_server: FeedServer):
    url = feed_server.serve("/gone", "no", status=500)
    (result,) = _fetch([FetchRequest(feed_id=1, url=url)], FetchPolicy(user_agent="test"))
    assert result.status_code == 500
    assert result.error == "HTTP 500 Internal Server Error"


def test_a_redirect_loop_is_an_error_not_a_hang(feed_server: FeedServer):
    feed_server.serve("/a", "", status=302, headers={"Location": feed_server.url("/b")})
    feed_server.serve("/b", "", status=302, headers={"Location": feed_server.url("/a")})
    request = FetchRequest(feed_id=1, url=feed_server.url("/a"))
    (result,) = _fetch([request], FetchPolicy(user_agent="test"))
    assert result.error is not None and "redirects" in result.error


def test_deflate_responses_are_decoded(feed_server: FeedServer) -> None:
    url = feed_server.serve(
        "/deflate", zlib.compress(RSS.encode()), headers={"Content-Encoding": "deflate"}
    )
    (result,) = _fetch([FetchRequest(feed_id=1, url=url)], FetchPolicy(user_agent="test"))
    assert result.content == RSS.encode()


def test_a_corrupt_or_unasked_compression_is_a_failure_in_words(feed_server: FeedServer) -> None:
    corrupt = feed_server.serve(
        "/corrupt", b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"}
    )
    odd = feed_server.serve("/odd", RSS, headers={"Content-Encoding": "zstd"})
    results = _fetch(
        [FetchRequest(feed_id=1, url=corrupt), FetchRequest(feed_id=2, url=odd)],
        FetchPolicy(user_agent="test"),
    )
    errors = {result.feed_id: result.error for result in results}
    assert errors[1] is not None and errors[1].startswith("the compressed response is corrupt")
    assert errors[2] == "the server used a compression we did not ask for: zstd"


def test_a_large_gzip_body_within_the_limit_arrives_whole(feed_server: FeedServer) -> None:
    big = RSS.replace("<title>One</title>", "<title>" + "word " * 400_000 + "</title>")
    url = feed_server.serve("/big", big, gzip=True)
    (result,) = _fetch([FetchRequest(feed_id=1, url=url)], FetchPolicy(user_agent="test"))
    assert result.content == big.encode()


def test_a_run_holds_tasks_for_the_fetches_in_its_room_not_for_every_feed(
    feed_server: FeedServer,
) -> None:
    """Memory stays flat as the list of feeds grows: a fetch becomes a task only once it has
    a place in the caller's room, which the caller gives back when done with the result."""
    urls = [feed_server.serve(f"/feed{n}", RSS, delay=0.05) for n in range(60)]
    requests = [FetchRequest(feed_id=n, url=url) for n, url in enumerate(urls)]
    most_tasks = 0

    async def collect() -> list[FetchResult]:
        nonlocal most_tasks
        room = asyncio.Semaphore(4)
        results = []
        async for result in fetch_all(requests, FetchPolicy(user_agent="test"), room=room):
            most_tasks = max(most_tasks, len(asyncio.all_tasks()))
            results.append(result)
            room.release()
        return results

    results = asyncio.run(collect())
    assert sorted(result.feed_id for result in results) == list(range(60))
    assert all(result.status_code == 200 for result in results)
    # The fetches in the room, the one starting them, and this one.
    assert most_tasks <= 4 + 2


def test_a_body_refused_at_the_size_limit_is_never_held_whole(feed_server: FeedServer) -> None:
    """Past its first mebibyte a download waits in a temporary file until it is whole, so an
    endless body refused at an 8 MiB limit costs the process about one mebibyte, not eight
    (traced while the whole fetch runs)."""
    url = feed_server.serve("/endless", "", endless=True)
    request = FetchRequest(feed_id=1, url=url, max_body_size=8 * 1024 * 1024)
    tracemalloc.start()
    try:
        [result] = _fetch([request], FetchPolicy(user_agent="test"))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.error == "response larger than 8 MiB; download stopped"
    assert peak < 3 * 1024 * 1024


def test_a_feed_larger_than_what_waits_in_memory_arrives_whole(feed_server: FeedServer) -> None:
    item = RSS.split("<item>", 1)[1].split("</item>", 1)[0]
    items = "".join(f"<item>{item.replace('/1<', f'/{n}<')}</item>" for n in range(15_000))
    body = RSS.replace(f"<item>{item}</item>", items).encode()
    assert len(body) > 2 * 1024 * 1024
    for path, options in (("/plain", {}), ("/gzip", {"headers": {"Content-Encoding": "gzip"}})):
        sent = gzip.compress(body) if options else body
        url = feed_server.serve(path, sent, **options)
        [result] = _fetch([FetchRequest(feed_id=1, url=url)], FetchPolicy(user_agent="test"))
        assert result.error is None
        assert result.content == body


def test_a_large_download_without_a_temporary_folder_is_a_clear_error(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feeds that fit in memory are still read; the one that would wait on disk fails with
    the reason, and the others of the run go on."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    small = feed_server.serve("/small", RSS)
    large = feed_server.serve("/large", b"<rss>" + b" " * (2 * 1024 * 1024) + b"</rss>")
    results = _fetch(
        [FetchRequest(feed_id=1, url=large), FetchRequest(feed_id=2, url=small)],
        FetchPolicy(user_agent="test"),
    )
    by_feed = {result.feed_id: result for result in results}
    assert by_feed[2].error is None and by_feed[2].content == RSS.encode()
    assert by_feed[1].error is not None
    assert by_feed[1].error.startswith("cannot keep the download in a temporary file: ")
    assert "missing" in by_feed[1].error
