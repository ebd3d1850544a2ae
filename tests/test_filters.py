"""Include and exclude rules in feeds.yaml: what a maintainer keeps off the planet."""

from __future__ import annotations

import json
from textwrap import dedent

import feedparser
import pytest

from aggregator.config import compile_pattern
from tests.conftest import FeedServer, Planet


def _titles(planet: Planet) -> list[str]:
    return [entry.title for entry in feedparser.parse(planet.output / "atom.xml").entries]


def _stored(planet: Planet) -> int:
    return sum(state["entry_count"] for state in json.loads(planet.run("feeds", "--json").stdout))


def test_events_and_book_promotions_can_be_dropped_by_category(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve_fixture("/acr", "anticapitalist.rss.xml")
    planet.write_config([{"url": url, "exclude": {"category": ["Events", "Books"]}}])
    assert planet.run("update").exit_code == 0
    # 4 books and the 2 events that carry a category; 2 more events have none (see below).
    assert _stored(planet) == 26 - 6
    titles = _titles(planet)
    assert "NEU National Strike rally" not in titles and "Mind Fuck" not in titles
    assert "Heading for a general strike in Denmark?" in titles


def test_links_and_regular_expressions_catch_the_uncategorised_ones(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve_fixture("/acr", "anticapitalist.rss.xml")
    planet.write_config([{"url": url, "exclude": {"link": ["/(event|product)/"]}}])
    planet.run("update")
    assert _stored(planet) == 18


def test_include_keeps_only_matching_entries_and_defaults_apply_to_every_feed(
    planet: Planet, feed_server: FeedServer
) -> None:
    marxist = feed_server.serve_fixture("/sr", "marxist.rss.xml")
    usc = feed_server.serve_fixture("/usc", "usc.rdf")
    planet.write_config(
        [{"url": marxist, "include": {"title": ["Russia", "Russian"]}}, {"url": usc}]
    )
    text = planet.config.read_text().replace(
        "defaults:\n", "defaults:\n  exclude:\n    text: [Zimmerwald]\n"
    )
    planet.config.write_text(text)
    assert planet.run("check").exit_code == 0, planet.run("check").stderr
    planet.run("update")
    counts = {s["url"]: s["entry_count"] for s in json.loads(planet.run("feeds", "--json").stdout)}
    assert counts == {marxist: 2, usc: 4}


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("book", "A new book launch", True),
        ("book", "Shared on Facebook", False),
        ("Read More", "ends with ... read   more", True),
        ("/^Book/", "Book launch", True),
        ("/^Book/", "A Book launch", False),
        ("C++", "Learning C++ at the union", True),
    ],
)
def test_plain_words_match_whole_words_and_slashes_mean_a_regular_expression(
    pattern: str, text: str, matches: bool
) -> None:
    assert bool(compile_pattern(pattern).search(text)) is matches


def test_a_bad_regular_expression_is_a_check_error_with_its_line(planet: Planet) -> None:
    planet.config.write_text(
        dedent(
            """\
            planet: {title: T, link: "https://planet.test/"}
            feeds:
              - url: https://one.test/feed
                exclude:
                  title: ["/([unclosed/"]
                  colour: [red]
            """
        )
    )
    result = planet.run("check")
    assert result.exit_code == 2
    assert f"{planet.config}:5: feeds[0].exclude.title: '/([unclosed/' is not a valid regular" in (
        result.stderr
    )
    assert f"{planet.config}:6: feeds[0].exclude.colour: unknown key 'colour'" in result.stderr
