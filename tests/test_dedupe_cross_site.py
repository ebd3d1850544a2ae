"""The same story shown once: canonical links, feeds that change ids, republished statements."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.dedupe import (
    CONTAINED,
    MIN_SHARED,
    SAME_TEXT,
    Candidate,
    canonical_url,
    containment,
    could_share_text,
    index_values,
    link_key,
    parse_fingerprint,
    same_story,
    similarity,
    with_keys,
)
from aggregator.normalize import NormalizeOptions, normalize_entry
from aggregator.parse import parse_feed
from tests.conftest import FeedServer, Planet

PAIRS = Path(__file__).parent / "fixtures" / "dedupe_pairs.json"
STATEMENT = (
    "<p>Left-wing groups and trade unions in Britain have come together to launch a united "
    "campaign for an immediate recall Labour conference, to fight back against the right wing's "
    "attacks on party democracy. Delegates from constituency parties, affiliated unions and "
    "socialist societies met online on Saturday and agreed a plan of action.</p><p>The "
    "campaign demands that the suspension of elected officers is lifted, that local parties may "
    "discuss any motion they choose, and that the leadership stops expelling members for their "
    "opinions. Speakers from the bakers' and the fire brigades' unions promised support.</p>"
)


def _rss(title: str, items: list[tuple[str, str, str, datetime]]) -> str:
    body = "".join(
        f"<item><title>{item_title}</title><link>{link}</link><guid>{guid}</guid>"
        f"<pubDate>{format_datetime(moment)}</pubDate>"
        f"<description><![CDATA[{STATEMENT if 'Recall' in item_title else '<p>Other.</p>'}"
        "]]></description></item>"
        for item_title, link, guid, moment in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://example.org/</link><description>d</description>{body}</channel></rss>"
    )


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "HTTPS://Example.ORG:443/a/b?utm_source=rss&id=3#comments",
            "https://example.org/a/b?id=3",
        ),
        ("http://example.org:80", "http://example.org/"),
        (
            "http://example.org:8080/x?fbclid=1&gclid=2&mc_cid=3&mc_eid=4",
            "http://example.org:8080/x",
        ),
    ],
)
def test_links_are_written_one_way(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_http_https_and_www_are_the_same_page() -> None:
    keys = {
        link_key("http://www.marxist.com/recall.htm"),
        link_key("https://marxist.com/recall.htm?utm_medium=feed"),
        link_key("https://WWW.marxist.com/recall.htm#top"),
    }
    assert keys == {"marxist.com/recall.htm"}


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_canonical_links_never_fail_and_are_stable(text: str) -> None:
    once = canonical_url(text)
    assert canonical_url(once) == once


@given(
    st.sampled_from(["http", "https"]),
    st.sampled_from(["", "www."]),
    st.from_regex(r"[a-z]{1,10}(/[a-z0-9]{1,8}){0,3}", fullmatch=True),
    st.lists(st.sampled_from(["utm_source=x", "utm_campaign=y", "fbclid=z", "gclid=w"])),
)
def test_tracking_and_scheme_never_change_the_key(
    scheme: str, www: str, path: str, tracking: list[str]
) -> None:
    query = ("?" + "&".join(tracking)) if tracking else ""
    assert link_key(f"{scheme}://{www}example.org/{path}{query}") == f"example.org/{path}"


def _entries(document: str, url: str) -> list:
    parsed = parse_feed(document.encode(), url, {})
    fetched = datetime(2021, 2, 10, tzinfo=UTC)
    return with_keys(normalize_entry(e, url, fetched, NormalizeOptions()) for e in parsed.entries)


def _candidate(entry, entry_id: int = 1) -> Candidate:  # type: ignore[no-untyped-def]
    from aggregator.dedupe import parse_fingerprint

    return Candidate(entry_id, 99, entry.link_key, parse_fingerprint(entry.fingerprint),
                     entry.published)  # fmt: skip


def _from_pair(side: dict[str, str]):  # type: ignore[no-untyped-def]
    moment = datetime.fromisoformat(side["published"])
    item = (
        f"<item><title>{side['title']}</title><link>{side['link']}</link>"
        f"<guid>{side['link']}</guid><pubDate>{format_datetime(moment)}</pubDate>"
        f"<description><![CDATA[{side['html']}]]></description></item>"
    )
    document = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://example.org/</link><description>d</description>{item}</channel></rss>"
    )
    (entry,) = _entries(document, "https://example.org/feed")
    return entry


def test_a_sketch_is_the_one_earlier_versions_stored() -> None:
    """Stored sketches are compared with the sketches of new entries: were the hashing of the
    shingles to change, a republication of a story stored before an upgrade would no longer be
    found. The values below are those an earlier version stored."""
    published = datetime(2021, 2, 9, tzinfo=UTC)
    item = ("Recall conference now", "https://left.example/recall", "r1", published)
    document = _rss("Left News", [item])
    (entry,) = _entries(document, "https://left.example/feed")
    values = entry.fingerprint.split()
    assert len(values) == 64
    assert values[:4] == ["006dc619778e95d5", "032a34e5f872c500", "03af5914e7bcc76d",
                          "0b6897ab979214ce"]  # fmt: skip
    assert values[-1] == "a4ca123bb3f3b62d"


def test_the_labelled_pairs_are_judged_with_high_precision_and_recall() -> None:
    pairs = json.loads(PAIRS.read_text(encoding="utf-8"))
    assert len(pairs) >= 60
    found = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    mistakes = []
    for pair in pairs:
        first, second = _from_pair(pair["a"]), _from_pair(pair["b"])
        judged = same_story(first, _candidate(second))
        key = ("t" if judged == pair["same"] else "f") + ("p" if judged else "n")
        found[key] += 1
        if judged != pair["same"]:
            mistakes.append(pair["id"])
    precision = found["tp"] / max(1, found["tp"] + found["fp"])
    recall = found["tp"] / max(1, found["tp"] + found["fn"])
    print(f"precision {precision:.3f} recall {recall:.3f} {found} mistakes: {mistakes}")
    assert precision >= 0.99, mistakes
    assert recall >= 0.95, mistakes


def test_a_republished_statement_is_shown_once_with_also_published_by(
    planet: Planet, feed_server: FeedServer
) -> None:
    day = datetime(2021, 2, 1, 10, tzinfo=UTC)
    original = feed_server.serve("/marxist", _rss("In Defence of Marxism", [
        ("Recall Conference Campaign launched", "https://www.marxist.com/recall.htm",
         "https://www.marxist.com/recall.htm", day),
        ("Myanmar coup", "https://www.marxist.com/myanmar.htm", "m1", day),
    ]))  # fmt: skip
    copy = feed_server.serve("/sr", _rss("Socialist Revolution", [
        ("Recall Conference Campaign: Members Fight to Take Back Control",
         "https://socialistrevolution.org/recall-conference/", "sr-1", day + timedelta(days=1)),
    ]))  # fmt: skip
    same_link = feed_server.serve("/appeal", _rss("Socialist Appeal", [
        ("Unions back the recall campaign", "http://marxist.com/recall.htm?utm_source=rss",
         "sa-9", day + timedelta(hours=3)),
    ]))  # fmt: skip
    planet.write_config([
        {"url": copy, "name": "Socialist Revolution"},
        {"url": same_link, "name": "Socialist Appeal"},
        {"url": original, "name": "In Defence of Marxism"},
    ])  # fmt: skip
    assert planet.run("update").exit_code == 0
    atom = feedparser.parse(planet.output / "atom.xml")
    assert sorted(entry.title for entry in atom.entries) == [
        "Myanmar coup",
        "Recall Conference Campaign launched",
    ]
    page = lxml.html.parse(str(planet.output / "index.html")).getroot()
    also = page.find(".//p[@class='also']")
    assert also is not None
    assert [a.text for a in also.findall("a")] == ["Socialist Appeal", "Socialist Revolution"]
    counts = {s["name"]: s["entry_count"] for s in json.loads(planet.run("feeds", "--json").stdout)}
    assert counts == {"Socialist Revolution": 1, "Socialist Appeal": 1, "In Defence of Marxism": 2}


def test_a_feed_that_changes_ids_on_every_fetch_is_caught_by_its_links(
    planet: Planet, feed_server: FeedServer
) -> None:
    day = datetime(2021, 2, 1, 10, tzinfo=UTC)
    first = _rss("Flaky ids", [("Story", "https://flaky.example/story?utm_source=a", "id-1", day)])
    url = feed_server.serve("/flaky", first)
    planet.write_config([{"url": url}])
    planet.run("update")
    second = _rss("Flaky ids", [("Story", "https://flaky.example/story?utm_source=b", "id-2", day)])
    feed_server.serve("/flaky", second)
    result = planet.run("-v", "update", "--all")
    assert "0 new" in result.stdout
    (state,) = json.loads(planet.run("feeds", "--json").stdout)
    assert state["entry_count"] == 1


def test_two_stories_that_share_a_headline_are_both_shown() -> None:
    day = datetime(2021, 2, 1, 10, tzinfo=UTC)
    a = _entries(_rss("a", [("Solidarity with the strikers!", "https://a.example/1", "a1", day)]),
                 "https://a.example/feed")[0]  # fmt: skip
    b = _entries(_rss("b", [("Solidarity with the strikers!", "https://b.example/7", "b7", day)]),
                 "https://b.example/feed")[0]  # fmt: skip
    assert not same_story(a, _candidate(b))


def test_the_lookup_table_finds_every_pair_judged_the_same_story() -> None:
    """A new entry is compared only with entries that share a link or a looked-up sketch
    value with it, in either order of arrival; that must never hide a real duplicate."""
    pairs = json.loads(PAIRS.read_text(encoding="utf-8"))
    checked = 0
    for pair in pairs:
        first, second = _from_pair(pair["a"]), _from_pair(pair["b"])
        if not same_story(first, _candidate(second)):
            continue
        checked += 1
        for new, stored in ((first, second), (second, first)):
            shared = set(index_values(parse_fingerprint(new.fingerprint))) & set(
                index_values(parse_fingerprint(stored.fingerprint))
            )
            same_link = new.link_key is not None and new.link_key == stored.link_key
            assert len(shared) >= MIN_SHARED or same_link, pair["id"]
    assert checked >= 30


@given(
    st.sets(st.integers(0, 400), min_size=12, max_size=120),
    st.sets(st.integers(0, 400), min_size=12, max_size=120),
)
def test_the_quick_check_never_rejects_what_the_full_comparison_accepts(
    first_values: set[int], second_values: set[int]
) -> None:
    first, second = sorted(first_values)[:64], sorted(second_values)[:64]
    shared = len(set(first) & set(second))
    accepted = (
        similarity(first, second) >= SAME_TEXT
        or max(containment(first, second), containment(second, first)) >= CONTAINED
    )
    if accepted:
        assert could_share_text(shared, len(first), len(second))
