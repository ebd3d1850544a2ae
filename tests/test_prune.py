"""`aggregator prune`: old entries are emptied, never what the site shows, and never return."""

from __future__ import annotations

import json

import feedparser

from tests.conftest import FeedServer, Planet


def _counts(planet: Planet) -> dict[str, int]:
    states = json.loads(planet.run("feeds", "--json").stdout)
    return {state["name"]: state["entry_count"] for state in states}


def test_prune_keeps_what_is_shown_and_pruned_entries_never_come_back(
    planet: Planet, feed_server: FeedServer
) -> None:
    marxist = feed_server.serve_fixture("/sr", "marxist.rss.xml")
    usc = feed_server.serve_fixture("/usc", "usc.rdf")
    planet.write_config(
        [{"url": marxist, "name": "SR"}, {"url": usc, "name": "USC"}],
        feed_items=4,
        items_per_page=3,
    )
    assert planet.run("update").exit_code == 0
    shown = [entry.title for entry in feedparser.parse(planet.output / "atom.xml").entries]
    assert _counts(planet) == {"SR": 12, "USC": 5}

    result = planet.run("prune", "--older-than", "30d")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "pruned 13 entries and 0 fetch records"
    assert _counts(planet) == {"SR": 4, "USC": 0}

    result = planet.run("-v", "update", "--all")
    assert "0 new, 0 updated" in result.stdout
    assert _counts(planet) == {"SR": 4, "USC": 0}
    after = [entry.title for entry in feedparser.parse(planet.output / "atom.xml").entries]
    assert after == shown


def test_prune_uses_the_configured_retention(planet: Planet, feed_server: FeedServer) -> None:
    planet.write_config([{"url": feed_server.serve_fixture("/usc", "usc.rdf")}], retention="3650d")
    planet.run("update")
    assert planet.run("prune").stdout.strip() == "pruned 0 entries and 0 fetch records"


def test_a_bad_age_is_a_usage_error(planet: Planet) -> None:
    planet.write_config([])
    result = planet.run("prune", "--older-than", "soon")
    assert result.exit_code == 2
    assert "--older-than" in result.stderr
