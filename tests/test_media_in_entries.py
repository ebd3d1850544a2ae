"""Podcasts, videos and embedded players: what reaches subscribers, and what never does."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest

from aggregator.normalize import IFRAME_SANDBOX, NormalizeOptions, normalize_entry
from aggregator.parse import parse_feed
from aggregator.records import CleanEntry, Enclosure
from tests.conftest import FeedServer, Planet

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
PODCAST = "https://podcast.workers.test/feed/podcast/"
FETCHED = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _podcast(iframe_hosts: frozenset[str]) -> list[CleanEntry]:
    parsed = parse_feed((FEEDS / "podcast.rss.xml").read_bytes(), PODCAST, {})
    options = NormalizeOptions(iframe_hosts=iframe_hosts)
    return [normalize_entry(entry, PODCAST, FETCHED, options) for entry in parsed.entries]


def _iframes(markup: str) -> list[lxml.html.HtmlElement]:
    return list(lxml.html.fragment_fromstring(markup, create_parent="div").iter("iframe"))


def test_enclosures_are_kept_with_absolute_urls_and_only_real_types_and_lengths() -> None:
    grunwick, women, liverpool = _podcast(frozenset())
    assert grunwick.enclosures == (
        Enclosure("https://media.workers.test/episodes/041-grunwick.mp3", "audio/mpeg", 48213094),
    )
    # A relative URL resolves against the entry; "Audio/MP4" is a type, an empty length is not.
    assert women.enclosures == (
        Enclosure(
            "https://podcast.workers.test/episodes/040-women-against-pit-closures.m4a",
            "audio/mp4",
            None,
        ),
    )
    # "12 MB" is no byte count; a javascript: enclosure is dropped altogether.
    assert liverpool.enclosures == (
        Enclosure("https://media.workers.test/video/liverpool-1911.mp4", "video/mp4", None),
    )


def test_players_from_allowed_hosts_are_kept_sandboxed_and_every_other_iframe_goes() -> None:
    hosts = frozenset({"www.youtube-nocookie.com", "player.vimeo.com"})
    grunwick, women, _ = _podcast(hosts)
    (player,) = _iframes(grunwick.content)
    assert player.get("src") == "https://www.youtube-nocookie.com/embed/Gr4nw1ck76?start=12"
    assert player.get("sandbox") == IFRAME_SANDBOX
    assert player.get("loading") == "lazy"
    assert player.get("title") == "Grunwick: the documentary"
    assert player.get("allow") is None and player.text is None
    assert "tracker.advertising.test" not in grunwick.content
    # An old embed over http is upgraded rather than lost.
    (vimeo,) = _iframes(women.content)
    assert vimeo.get("src") == "https://player.vimeo.com/video/19840385"


def test_with_no_allowed_hosts_no_iframe_survives_and_its_fallback_text_is_gone() -> None:
    for entry in _podcast(frozenset()):
        assert _iframes(entry.content) == []
        assert "Watch it on YouTube" not in entry.content


def test_only_a_listed_host_counts_not_a_look_alike() -> None:
    hosts = frozenset({"www.youtube.com"})
    parsed = parse_feed((FEEDS / "podcast.rss.xml").read_bytes(), PODCAST, {})
    for src in (
        "https://www.youtube.com.evil.test/embed/x",
        "https://evil.test/?www.youtube.com",
        "https://user@evil.test/www.youtube.com/",
        "javascript://www.youtube.com/%0aalert(1)",
    ):
        entry = replace(parsed.entries[0], content=f'<iframe src="{src}"></iframe>')
        clean = normalize_entry(entry, PODCAST, FETCHED, NormalizeOptions(iframe_hosts=hosts))
        assert _iframes(clean.content) == [], src


def test_images_load_lazily() -> None:
    entries = _podcast(frozenset())
    libcom = parse_feed((FEEDS / "libcom.atom.xml").read_bytes(), "https://libcom.org/rss.xml", {})
    entries += [
        normalize_entry(entry, "https://libcom.org/rss.xml", FETCHED, NormalizeOptions())
        for entry in libcom.entries
    ]
    images = [
        image
        for entry in entries
        for image in lxml.html.fragment_fromstring(entry.content, create_parent="div").iter("img")
    ]
    assert len(images) >= 4
    assert all(image.get("loading") == "lazy" for image in images)


@pytest.fixture
def podcast_planet(planet: Planet, feed_server: FeedServer) -> Planet:
    url = feed_server.serve_fixture("/podcast", "podcast.rss.xml")
    planet.write_config([{"url": url, "name": "Working Class History"}])
    result = planet.run("update")
    assert result.exit_code == 0, result.output
    return planet


def test_enclosures_reach_every_published_feed(podcast_planet: Planet) -> None:
    output = podcast_planet.output
    atom = feedparser.parse(output / "atom.xml")
    rss = feedparser.parse(output / "rss.xml")
    document = json.loads((output / "feed.json").read_text(encoding="utf-8"))
    by_title = {entry.title: entry for entry in atom.entries}
    grunwick = by_title["Episode 41: The Grunwick strike, 1976\u201378"]
    assert [(e.href, e.type, e.length) for e in grunwick.enclosures] == [
        ("https://media.workers.test/episodes/041-grunwick.mp3", "audio/mpeg", "48213094")
    ]
    rss_grunwick = next(entry for entry in rss.entries if entry.title == grunwick.title)
    assert [(e.href, e.type, e.length) for e in rss_grunwick.enclosures] == [
        ("https://media.workers.test/episodes/041-grunwick.mp3", "audio/mpeg", "48213094")
    ]
    attachments = {item["title"]: item.get("attachments") for item in document["items"]}
    assert attachments["Episode 41: The Grunwick strike, 1976\u201378"] == [
        {
            "url": "https://media.workers.test/episodes/041-grunwick.mp3",
            "mime_type": "audio/mpeg",
            "size_in_bytes": 48213094,
        }
    ]
    # RSS requires a length; an unknown one is written as 0, as the RSS profile advises.
    women = next(entry for entry in rss.entries if entry.title.startswith("Episode 40"))
    assert women.enclosures[0].length == "0"
    assert "javascript" not in (output / "atom.xml").read_text(encoding="utf-8")


def test_published_players_stay_sandboxed_in_the_combined_feed(podcast_planet: Planet) -> None:
    atom = feedparser.parse(podcast_planet.output / "atom.xml", sanitize_html=False)
    grunwick = next(entry for entry in atom.entries if entry.title.startswith("Episode 41"))
    (player,) = _iframes(grunwick.content[0].value)
    assert player.get("sandbox") == IFRAME_SANDBOX
    assert player.get("src", "").startswith("https://www.youtube-nocookie.com/embed/")


def test_an_empty_iframe_host_list_turns_players_off(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve_fixture("/podcast", "podcast.rss.xml")
    planet.write_config([{"url": url}], iframe_hosts=[])
    planet.run("update")
    assert "<iframe" not in (planet.output / "atom.xml").read_text(encoding="utf-8")


def test_a_host_written_as_a_url_is_a_check_error_with_its_line(planet: Planet) -> None:
    planet.write_config([], iframe_hosts=["https://www.youtube.com/"])
    result = planet.run("check")
    assert result.exit_code == 2
    assert f"{planet.config}:9: planet.iframe_hosts" in result.stderr, result.stderr
    assert "without scheme or path" in result.stderr
