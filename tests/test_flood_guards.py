"""A new feed with hundreds of old posts, a source that posts stale news, a planet that keeps a
window: what reaches the front page and the database."""

from __future__ import annotations

import json

import feedparser
import yaml

from tests.conftest import FeedServer, Planet


def _front_page(planet: Planet) -> list[tuple[str, str]]:
    """(source, title) of every entry of the combined Atom feed."""
    parsed = feedparser.parse(planet.output / "atom.xml")
    return [(entry.source.title, entry.title) for entry in parsed.entries]


def _stored(planet: Planet) -> dict[str, int]:
    states = json.loads(planet.run("feeds", "--json").stdout)
    return {state["name"]: state["entry_count"] for state in states}


def _set_defaults(planet: Planet, **values: object) -> None:
    document = yaml.safe_load(planet.config.read_text(encoding="utf-8"))
    document["defaults"].update(values)
    planet.config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def test_a_new_feed_puts_only_its_newest_entries_on_the_front_page(
    planet: Planet, feed_server: FeedServer
) -> None:
    marxist = {"url": feed_server.serve_fixture("/sr", "marxist.rss.xml"), "name": "SR"}
    planet.write_config([marxist], feed_items=100)
    assert planet.run("update").exit_code == 0
    assert len(_front_page(planet)) == 12

    acr = feed_server.serve_fixture("/acr", "anticapitalist.rss.xml")
    planet.write_config([marxist, {"url": acr, "name": "ACR"}], feed_items=100)
    _set_defaults(planet, new_feed_items=5)
    assert planet.run("update").exit_code == 0
    shown = _front_page(planet)
    assert sum(source == "ACR" for source, _ in shown) == 5
    assert sum(source == "SR" for source, _ in shown) == 12
    # The rest is stored, not lost: the feed's own page and later pruning know it.
    assert _stored(planet)["ACR"] == 26
    newest = feedparser.parse(planet.output / "atom.xml").entries
    acr_titles = [entry.title for entry in newest if entry.source.title == "ACR"]
    assert "Heading for a general strike in Denmark?" in acr_titles

    # What the feed publishes later comes through as usual.
    feed_server.serve_fixture("/acr", "anticapitalist.v2.rss.xml")
    assert planet.run("update", "--all").exit_code == 0
    assert sum(source == "ACR" for source, _ in _front_page(planet)) == 7


def test_new_feed_items_can_be_set_per_feed(planet: Planet, feed_server: FeedServer) -> None:
    usc = {"url": feed_server.serve_fixture("/usc", "usc.rdf"), "name": "USC"}
    planet.write_config([usc], feed_items=100)
    planet.run("update")
    acr = feed_server.serve_fixture("/acr", "anticapitalist.rss.xml")
    planet.write_config([usc, {"url": acr, "name": "ACR", "new_feed_items": 3}], feed_items=100)
    planet.run("update")
    assert sum(source == "ACR" for source, _ in _front_page(planet)) == 3


def test_a_planet_starting_out_shows_every_feed_in_full(
    planet: Planet, feed_server: FeedServer
) -> None:
    acr = feed_server.serve_fixture("/acr", "anticapitalist.rss.xml")
    planet.write_config([{"url": acr, "name": "ACR", "new_feed_items": 3}], feed_items=100)
    planet.run("update")
    assert len(_front_page(planet)) == 26


def test_max_age_keeps_stale_entries_off_the_front_page(
    planet: Planet, feed_server: FeedServer
) -> None:
    podcast = {"url": feed_server.serve_fixture("/pod", "podcast.rss.xml"), "name": "WCH"}
    marxist = {"url": feed_server.serve_fixture("/sr", "marxist.rss.xml"), "name": "SR"}
    planet.write_config([podcast, marxist], feed_items=100)
    _set_defaults(planet, max_age="3650d")
    planet.run("update")
    assert {source for source, _ in _front_page(planet)} == {"WCH", "SR"}

    # The Socialist Revolution fixture is from 2021, the podcast's from November 2026.
    _set_defaults(planet, max_age="1000d")
    planet.run("publish")
    assert {source for source, _ in _front_page(planet)} == {"WCH"}
    assert _stored(planet) == {"WCH": 3, "SR": 12}

    marxist["max_age"] = "3650d"
    planet.write_config([podcast, marxist], feed_items=100)
    _set_defaults(planet, max_age="1000d")
    planet.run("publish")
    assert {source for source, _ in _front_page(planet)} == {"WCH", "SR"}


def test_entries_older_than_the_retention_window_are_not_stored(
    planet: Planet, feed_server: FeedServer
) -> None:
    podcast = {"url": feed_server.serve_fixture("/pod", "podcast.rss.xml"), "name": "WCH"}
    marxist = {"url": feed_server.serve_fixture("/sr", "marxist.rss.xml"), "name": "SR"}
    planet.write_config([podcast, marxist], retention="1000d")
    assert planet.run("update").exit_code == 0
    assert _stored(planet) == {"WCH": 3, "SR": 0}
    assert planet.run("prune").stdout.startswith("pruned 0 entries")


def test_retention_forever_keeps_everything_and_prune_prunes_nothing(
    planet: Planet, feed_server: FeedServer
) -> None:
    usc = {"url": feed_server.serve_fixture("/usc", "usc.rdf"), "name": "USC"}
    planet.write_config([usc], retention="forever", items_per_page=1, feed_items=1)
    planet.run("update")
    assert _stored(planet) == {"USC": 5}
    assert planet.run("prune").stdout.startswith("pruned 0 entries")
    assert _stored(planet) == {"USC": 5}
    assert planet.run("prune", "--older-than", "30d").stdout.startswith("pruned 4 entries")


def test_flood_guard_settings_are_checked_with_their_line(planet: Planet) -> None:
    planet.write_config([{"url": "https://example.org/feed", "new_feed_items": -1}])
    _set_defaults(planet, max_age="3 weeks")
    result = planet.run("check")
    assert result.exit_code == 2
    assert "defaults.max_age" in result.stderr
    assert "feeds[0].new_feed_items" in result.stderr


def _rss(title: str, items: list[tuple[str, str, str]]) -> str:
    """Items whose text is the headline, except the strike story's, which is STORY."""
    rendered = "".join(
        f"<item><title>{headline}</title><link>{link}</link><guid>{link}</guid><pubDate>{date}"
        f"</pubDate><description>{STORY if 'Cleaners' in headline else headline}</description>"
        "</item>"
        for headline, link, date in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://{title.lower()}.test/</link><description>d</description>"
        f"{rendered}</channel></rss>"
    )


STORY = (
    "Cleaners at the university walked out this morning over unpaid wages and the outsourcing "
    "of their jobs, and were joined on the picket line by students and lecturers from every "
    "faculty, who pledged to keep the campus shut until the contractor pays what it owes."
)


def test_a_story_on_the_front_page_stays_there_when_a_new_feed_brings_it_as_backlog(
    planet: Planet, feed_server: FeedServer
) -> None:
    strike = "https://union.test/news/cleaners-strike"
    first = feed_server.serve(
        "/first",
        _rss(
            "First",
            [("Cleaners strike at the university", strike, "Tue, 03 Jan 2023 12:00:00 GMT")],
        ),
        content_type="application/rss+xml",
    )
    planet.write_config([{"url": first, "name": "First"}], feed_items=100)
    planet.run("update")
    second = feed_server.serve(
        "/second",
        _rss(
            "Second",
            [
                ("Rent strike", "https://second.test/rent", "Fri, 06 Jan 2023 12:00:00 GMT"),
                ("Bus drivers", "https://second.test/bus", "Thu, 05 Jan 2023 12:00:00 GMT"),
                ("Cleaners strike at the university", strike, "Mon, 02 Jan 2023 12:00:00 GMT"),
            ],
        ),
        content_type="application/rss+xml",
    )
    planet.write_config(
        [{"url": first, "name": "First"}, {"url": second, "name": "Second", "new_feed_items": 2}],
        feed_items=100,
    )
    planet.run("update")
    shown = _front_page(planet)
    # The second feed published it first, so it now represents the story, which stays shown.
    assert shown.count(("Second", "Cleaners strike at the university")) == 1
    assert [title for _, title in shown].count("Cleaners strike at the university") == 1
    assert len(shown) == 3
