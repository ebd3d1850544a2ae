"""A feed that gains one entry is sent whole. Only the entries that changed at the source are
normalized again; what is stored and published is what reading every entry would give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import FeedServer, Planet

PATH = "/union/feed/"
START = datetime(2023, 3, 1, 9, tzinfo=UTC)


def _item(number: int, body: str | None = None) -> tuple[str, str, str, datetime]:
    """Entry `number`, published on day `number`."""
    words = " ".join(f"word{number}x{index}" for index in range(40))
    return (
        f"https://union.example/news/{number}",
        f"Branch report number {number}",
        body or f"<p>The branch met on day {number}. {words}</p>",
        START + timedelta(days=number),
    )


def _rss(items: list[tuple[str, str, str, datetime]]) -> str:
    rendered = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>{format_datetime(published)}</pubDate>"
        f"<description><![CDATA[{body}]]></description></item>"
        for link, title, body, published in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Union news</title><link>https://union.example/</link>{rendered}"
        "</channel></rss>"
    )


@pytest.fixture
def normalized(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the entries normalized, in order (feeds are read in this process: fewer
    than a hundred are due)."""
    from aggregator import normalize

    real = normalize.normalize_entry
    seen: list[str] = []

    def counting(entry: Any, *args: Any) -> Any:
        seen.append(entry.guid)
        return real(entry, *args)

    monkeypatch.setattr(normalize, "normalize_entry", counting)
    return seen


def _update(planet: Planet) -> str:
    result = planet.run("-v", "update", "--all")
    assert result.exit_code == 0, result.output
    return result.stdout


def _five_entries_stored(
    planet: Planet, feed_server: FeedServer
) -> tuple[list[tuple[str, str, str, datetime]], str]:
    """The feed's five entries, newest first, and its address, after a first update."""
    items = [_item(number) for number in range(5, 0, -1)]
    url = feed_server.serve(PATH, _rss(items))
    planet.write_config([{"url": url}])
    _update(planet)
    return items, url


def _stored(planet: Planet) -> dict[str, tuple[str, str, str]]:
    engine = create_engine(planet.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT guid, title, summary, content_hash FROM entries")
            ).all()
    finally:
        engine.dispose()
    return {guid: (title, summary, digest) for guid, title, summary, digest in rows}


def test_only_the_new_entry_of_a_changed_feed_is_normalized(
    planet: Planet, feed_server: FeedServer, normalized: list[str]
) -> None:
    items, _url = _five_entries_stored(planet, feed_server)
    assert len(normalized) == 5
    normalized.clear()
    feed_server.serve(PATH, _rss([_item(6), *items]))
    output = _update(planet)
    assert normalized == ["https://union.example/news/6"]
    assert "1 new, 0 updated" in output
    assert len(_stored(planet)) == 6


def test_an_entry_edited_at_the_source_is_read_again_and_updated(
    planet: Planet, feed_server: FeedServer, normalized: list[str]
) -> None:
    items, _url = _five_entries_stored(planet, feed_server)
    normalized.clear()
    items[2] = _item(3, "<p>Correction: the branch met on Thursday, not Wednesday.</p>")
    feed_server.serve(PATH, _rss(items))
    output = _update(planet)
    assert normalized == ["https://union.example/news/3"]
    assert "0 new, 1 updated" in output
    assert _stored(planet)["https://union.example/news/3"][1].startswith("Correction:")


def test_what_is_stored_is_what_reading_every_entry_gives(
    planet: Planet, feed_server: FeedServer, tmp_path: Path
) -> None:
    items, url = _five_entries_stored(planet, feed_server)
    items[1] = _item(4, "<p>Updated: <b>the strike</b> is <i>on</i>.</p>")
    latest = [_item(7), _item(6), *items]
    feed_server.serve(PATH, _rss(latest))
    _update(planet)
    fresh = Planet(root=tmp_path / "fresh", database_url=f"sqlite:///{tmp_path / 'fresh.db'}")
    fresh.root.mkdir()
    fresh.write_config([{"url": url}])
    _update(fresh)
    assert _stored(planet) == _stored(fresh)


def test_changed_options_read_every_entry_again(
    planet: Planet, feed_server: FeedServer, normalized: list[str]
) -> None:
    """An edit of feeds.yaml takes effect at the feed's next changed body, on every entry."""
    items, url = _five_entries_stored(planet, feed_server)
    normalized.clear()
    planet.write_config([{"url": url, "excerpt_words": 10}])
    feed_server.serve(PATH, _rss([_item(6), *items]))
    output = _update(planet)
    assert len(normalized) == 6
    assert "1 new, 5 updated" in output
    assert all(len(summary.split()) <= 10 for _title, summary, _ in _stored(planet).values())


def test_a_repeated_id_does_not_replace_its_first_copy_at_every_fetch(
    planet: Planet, feed_server: FeedServer
) -> None:
    """Some sources list an entry twice under one id, a pinned copy first; the first is kept,
    and leaving out the stored one must not let the second through in its place."""
    pinned = _item(1, "<p>Pinned: join the union today.</p>")
    items = [pinned, _item(3), _item(2), _item(1)]
    url = feed_server.serve(PATH, _rss(items))
    planet.write_config([{"url": url}])
    _update(planet)
    for newest in (4, 5):
        items.insert(1, _item(newest))
        feed_server.serve(PATH, _rss(items))
        assert "1 new, 0 updated" in _update(planet)
    assert _stored(planet)["https://union.example/news/1"][1].startswith("Pinned:")
