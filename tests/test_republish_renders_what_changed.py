"""A publish renders again only the listings whose files would change; the others keep their
files untouched, so that a cron job's publish after an update that found little new costs a few
pages instead of thousands.

Whether a listing is rendered is decided by a digest of its inputs (publish_manifest), so the
digest must cover everything a listing's files show. The property tests hold it to the rendered
files: for made-up sites and any one change to a feed, a story or the site's settings, a listing
whose files change must have a new digest. The planet tests hold a real publish to what it
renders, keeps and repairs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import publish_manifest
from aggregator.publish import Listing, PageRenderer, SiteView, listings
from aggregator.publish_manifest import MANIFEST, PageDigests
from aggregator.records import EntryView, FeedView
from aggregator.store import details_document
from aggregator.views import FeedEntries, StoredEntry
from tests.conftest import FeedServer, Planet
from tests.test_entry_markup import (
    ALSO,
    CONTENTS,
    ENCLOSURES,
    FEED_DETAILS,
    IDS,
    LANGUAGES,
    MOMENTS,
    SITE_LANGUAGES,
    TEXT,
    URLS,
    entry_details,
    optional,
    sites,
    tuples,
)
from tests.test_planet_pages import _config

STATUSES = st.sampled_from(["ok", "moved", "failing", "gone", "new", "disabled"])
# What a poll changes in a feed's row and nothing else: the state the status page shows.
POLLING = {
    "last_fetched_at": optional(MOMENTS),
    "last_success_at": optional(MOMENTS),
    "last_http_status": optional(st.sampled_from([200, 304, 404, 500])),
    "last_error": optional(TEXT),
    "consecutive_errors": st.integers(0, 9),
    "failing_since": optional(MOMENTS),
    "moved_to": optional(URLS),
    "moved_confirmations": st.integers(0, 3),
    "next_due_at": optional(MOMENTS),
    "entry_count": st.integers(0, 10**5),
}
FEED_CHANGES: dict[str, st.SearchStrategy[Any]] = {
    "url": URLS,
    "name": TEXT,
    "link": optional(URLS),
    "avatar": optional(URLS),
    "tags": tuples(TEXT),
    "language": LANGUAGES,
    "status": STATUSES,
    "details": FEED_DETAILS,
    **POLLING,
}
ENTRY_CHANGES: dict[str, st.SearchStrategy[Any]] = {
    "guid": IDS,
    "link": optional(URLS),
    "title": TEXT,
    "author": optional(TEXT),
    "summary": TEXT,
    "content": CONTENTS,
    "language": LANGUAGES,
    "categories": tuples(TEXT),
    "published": MOMENTS,
    "updated": optional(MOMENTS),
    "first_seen": MOMENTS,
    "enclosures": tuples(ENCLOSURES),
    "details": entry_details(None),
    "also": tuples(ALSO),
}
SITE_CHANGES: dict[str, st.SearchStrategy[Any]] = {
    "title": TEXT,
    "link": st.sampled_from(["https://planet.test/", "https://other.test/planet/"]),
    "description": TEXT,
    "owner_name": optional(TEXT),
    "owner_email": optional(TEXT),
    "language": SITE_LANGUAGES,
    "items_per_page": st.integers(1, 3),
    "feed_items": st.integers(1, 5),
    "archive_pages": st.integers(1, 3),
    "websub_hub": optional(URLS),
    "iframe_hosts": tuples(st.sampled_from(["www.youtube-nocookie.com", "player.vimeo.com"])),
}


def _every_listing(site: SiteView) -> SiteView:
    """The made-up site with every kind of listing: each feed's own stories as its source page
    reads them (rows, not views), a tag and a language page, and unique story ids."""
    entries = [replace(entry, id=number) for number, entry in enumerate(site.entries, 1)]
    return _with_entries(replace(site, entries=entries))


def _with_entries(site: SiteView) -> SiteView:
    """The listings' entries made again from the front page's, after a change to them."""
    entries = site.entries
    tagged = [entry for entry in entries if entry.feed.id == site.feeds[0].id]
    return replace(
        site,
        sources={
            feed.id: _as_read([entry for entry in entries if entry.feed.id == feed.id], feed)
            for feed in site.feeds
        },
        tags={"solidarity": tagged} if tagged else {},
        languages={"fr": list(entries)},
    )


def _as_read(entries: Sequence[EntryView], feed: FeedView) -> FeedEntries:
    """A source's stories as store.source_entries hands them to its page."""
    rows = [
        StoredEntry(
            id=entry.id,
            feed_id=feed.id,
            guid=entry.guid,
            link=entry.link,
            title=entry.title,
            author=entry.author,
            summary=entry.summary,
            content=entry.content,
            language=entry.language,
            categories=json.dumps(list(entry.categories)),
            published_at=_as_stored(entry.published),
            updated_at=_as_stored(entry.updated) if entry.updated else None,
            first_seen_at=_as_stored(entry.first_seen),
            enclosures=json.dumps(
                [{"url": e.url, "type": e.type, "length": e.length} for e in entry.enclosures]
            ),
            details=json.dumps(details_document(entry.details)),
            duplicate_of=None,
        )
        for entry in entries
    ]
    return FeedEntries(rows, feed, {entry.id: entry.also for entry in entries if entry.also})


def _as_stored(moment: datetime) -> str:
    """A date as the database gives it back as text: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def _rendered(site: SiteView) -> dict[str, tuple[str, list[tuple[str, bytes]]]]:
    """Each listing's digest and files, by its path."""
    renderer = PageRenderer(site)
    digests = PageDigests(site, renderer.slugs)
    return {
        listing.path: (digests.of(listing), renderer.listing_files(listing))
        for listing in listings(site, renderer.slugs)
    }


def _changed_feed(site: SiteView, feed_id: int, name: str, value: Any) -> SiteView:
    feeds = [replace(feed, **{name: value}) if feed.id == feed_id else feed for feed in site.feeds]
    by_id = {feed.id: feed for feed in feeds}
    entries = [replace(entry, feed=by_id[entry.feed.id]) for entry in site.entries]
    return _with_entries(replace(site, feeds=feeds, entries=entries))


def _changed_entry(site: SiteView, index: int, name: str, value: Any) -> SiteView:
    entries = list(site.entries)
    entries[index] = replace(entries[index], **{name: value})
    return _with_entries(replace(site, entries=entries))


def _assert_digest_covers_files(before: SiteView, after: SiteView) -> None:
    old, new = _rendered(before), _rendered(after)
    for path in old.keys() & new.keys():
        if old[path][1] != new[path][1]:
            assert old[path][0] != new[path][0], f"{path} changed but its digest did not"


PROPERTY = settings(max_examples=120, deadline=None)


@PROPERTY
@given(data=st.data(), site=sites(), name=st.sampled_from(sorted(FEED_CHANGES)))
def test_a_change_to_a_feed_that_shows_on_a_page_changes_its_digest(
    data: st.DataObject, site: SiteView, name: str
) -> None:
    site = _every_listing(site)
    feed = data.draw(st.sampled_from(site.feeds))
    value = data.draw(FEED_CHANGES[name])
    _assert_digest_covers_files(site, _changed_feed(site, feed.id, name, value))


@PROPERTY
@given(data=st.data(), site=sites(), name=st.sampled_from(sorted(ENTRY_CHANGES)))
def test_a_change_to_a_story_that_shows_on_a_page_changes_its_digest(
    data: st.DataObject, site: SiteView, name: str
) -> None:
    site = _every_listing(site)
    index = data.draw(st.integers(0, len(site.entries) - 1))
    value = data.draw(ENTRY_CHANGES[name])
    _assert_digest_covers_files(site, _changed_entry(site, index, name, value))


@PROPERTY
@given(data=st.data(), site=sites(), name=st.sampled_from(sorted(SITE_CHANGES)))
def test_a_change_to_the_sites_settings_that_shows_on_a_page_changes_its_digest(
    data: st.DataObject, site: SiteView, name: str
) -> None:
    site = _every_listing(site)
    value = data.draw(SITE_CHANGES[name])
    _assert_digest_covers_files(site, _with_entries(replace(site, **{name: value})))


@PROPERTY
@given(data=st.data(), site=sites())
def test_a_poll_changes_no_listings_digest(data: st.DataObject, site: SiteView) -> None:
    """What a poll writes shows only on the status page and in status.json, which are always
    written: without this, every cron run would render every page again."""
    site = _every_listing(site)
    polled = site
    for feed in site.feeds:
        for name, values in POLLING.items():
            polled = _changed_feed(polled, feed.id, name, data.draw(values))
    before, after = _rendered(site), _rendered(polled)
    assert {path: digest for path, (digest, _) in after.items()} == {
        path: digest for path, (digest, _) in before.items()
    }


@settings(max_examples=60, deadline=None)
@given(site=sites(), status=STATUSES)
def test_a_feeds_status_changes_only_the_front_pages_digests(site: SiteView, status: str) -> None:
    site = _every_listing(site)
    before = _rendered(site)
    after = _rendered(_changed_feed(site, site.feeds[0].id, "status", status))
    changed = {path for path in before if before[path][0] != after[path][0]}
    assert all(path == "index.html" or path.startswith("page/") for path in changed)
    if status != site.feeds[0].status:
        assert "index.html" in changed


# --- A planet published again -----------------------------------------------------------

BULLETIN = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
<title>Strike Bulletin</title><link>https://bulletin.example.org/</link>
<description>Daily strike news</description><language>en</language>
<lastBuildDate>{built}</lastBuildDate>
{items}
</channel></rss>
"""
ITEM = """<item><title>{title}</title><link>https://bulletin.example.org/{slug}</link>
<guid>https://bulletin.example.org/{slug}</guid><pubDate>{date}</pubDate>
<description>{title}: pickets at the depot from dawn, with the union's statement on pay,
hours and the new rota, and a call for solidarity from the trades council.</description></item>"""


def _bulletin(*titles: str) -> str:
    """The bulletin's feed with a story a day; its build date, which the feed's details keep
    (and every Atom entry's <source> repeats), is the newest story's."""
    # Newer than every fixture's stories, so that the bulletin's are on the front page.
    start = datetime(2024, 3, 1, 8, tzinfo=UTC)
    dates = [
        (start + timedelta(days=day)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        for day in range(len(titles))
    ]
    items = [
        ITEM.format(title=title, slug=title.lower().replace(" ", "-"), date=date)
        for date, title in zip(dates, titles, strict=True)
    ]
    return BULLETIN.format(items="\n".join(items), built=dates[-1])


@pytest.fixture
def republished(
    planet: Planet, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., list[str]]:
    """Update (every feed, or none) and publish the planet in this process; the listings
    rendered, by path."""
    feeds = _config(feed_server)
    feed_server.serve("/bulletin", _bulletin("Depot strike", "Rota ballot"))
    feeds.append({"url": feed_server.url("/bulletin"), "name": "Strike Bulletin"})
    planet.write_config(feeds, items_per_page=5, archive_pages=2, publish_workers=0)
    rendered: list[str] = []
    render = PageRenderer.listing_files

    def counted(self: PageRenderer, listing: Listing) -> list[tuple[str, bytes]]:
        rendered.append(listing.path)
        return render(self, listing)

    monkeypatch.setattr(PageRenderer, "listing_files", counted)

    def run(command: str = "update", *options: str) -> list[str]:
        rendered.clear()
        result = planet.run(command, *options)
        assert result.exit_code == 0, result.output
        return list(rendered)

    return run


def _listing_files(output: Path) -> dict[str, tuple[bytes, int]]:
    """The listings' files: their bytes and when they were last written."""
    found = [output / "index.html"] + [
        path
        for folder in ("sources", "tags", "languages", "page")
        if (output / folder).is_dir()
        for path in sorted((output / folder).iterdir())
    ]
    return {
        path.relative_to(output).as_posix(): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in found
    }


def test_a_publish_after_an_update_with_nothing_new_renders_no_listing(
    planet: Planet, republished: Callable[..., list[str]]
) -> None:
    first = republished("update", "--all")
    assert "sources/strike-bulletin.html" in first and "index.html" in first
    before = _listing_files(planet.output)
    assert republished("update", "--all") == []
    assert republished("publish") == []
    assert _listing_files(planet.output) == before


def test_a_new_story_renders_its_sources_listings_and_no_other_source(
    planet: Planet, feed_server: FeedServer, republished: Callable[..., list[str]]
) -> None:
    republished("update", "--all")
    before = _listing_files(planet.output)
    feed_server.serve("/bulletin", _bulletin("Depot strike", "Rota ballot", "Pay offer"))
    rendered = republished("update", "--all")
    sources = {path for path in rendered if path.startswith("sources/")}
    assert sources == {"sources/strike-bulletin.html"}
    assert "index.html" in rendered and "languages/en.html" in rendered
    # The other tags and languages show none of the bulletin's stories.
    assert not any(path.startswith("tags/") for path in rendered)
    page = (planet.output / "sources" / "strike-bulletin.html").read_text(encoding="utf-8")
    assert "Pay offer" in page
    after = _listing_files(planet.output)
    kept = [
        path for path in before if path.startswith("sources/") and "strike-bulletin" not in path
    ]
    assert kept and all(after[path] == before[path] for path in kept)


def test_a_page_deleted_or_edited_by_hand_is_rendered_again(
    planet: Planet, republished: Callable[..., list[str]]
) -> None:
    republished("update")
    page = planet.output / "sources" / "strike-bulletin.html"
    expected = page.read_bytes()
    page.unlink()
    assert republished("publish") == ["sources/strike-bulletin.html"]
    assert page.read_bytes() == expected
    page.write_bytes(expected.replace(b"Rota ballot", b"Defaced"))
    assert republished("publish") == ["sources/strike-bulletin.html"]
    assert page.read_bytes() == expected


@pytest.mark.parametrize(
    "manifest",
    [
        "",
        "{not json",
        "[]",
        '{"format": 1, "pages": []}',
        '{"format": 999, "pages": {}}',
        '{"format": 1, "pages": {"index.html": ["d", [[7, 1, 2]]]}}',
        '{"format": 1, "pages": {"index.html": [null, [["index.html", "1", 2]]]}}',
    ],
)
def test_an_unreadable_manifest_renders_every_listing(
    planet: Planet, republished: Callable[..., list[str]], manifest: str
) -> None:
    everything = republished("update")
    (planet.output / MANIFEST).write_text(manifest, encoding="utf-8")
    assert sorted(republished("publish")) == sorted(everything)
    assert republished("publish") == []


def test_another_version_renders_every_listing(
    planet: Planet, republished: Callable[..., list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = republished("update")
    monkeypatch.setattr(publish_manifest, "__version__", "0.0.0-other")
    publish_manifest.rendering_code.cache_clear()
    try:
        assert sorted(republished("publish")) == sorted(everything)
    finally:
        publish_manifest.rendering_code.cache_clear()


def test_a_theme_with_its_own_templates_renders_every_listing_every_time(
    planet: Planet, feed_server: FeedServer, republished: Callable[..., list[str]]
) -> None:
    theme = planet.root / "theme"
    theme.mkdir()
    (theme / "entry.html").write_text(
        '<article class="entry themed"><h3>{{ entry.title }}</h3></article>\n', encoding="utf-8"
    )
    feeds = [*_config(feed_server), {"url": feed_server.url("/bulletin")}]
    planet.write_config(feeds, items_per_page=5, publish_workers=0, theme="theme")
    everything = republished("publish")
    assert everything and republished("publish") == everything


def test_every_file_of_a_kept_listing_stays_in_the_site(
    planet: Planet, republished: Callable[..., list[str]]
) -> None:
    """Kept files are neither rewritten nor taken for stale pages and removed."""
    republished("update")
    before = _every_file(planet.output)
    assert republished("publish") == []
    after = _every_file(planet.output)
    assert sorted(after) == sorted(before)
    listed = [name for name in before if name.startswith(("sources/", "tags/", "languages/"))]
    assert listed and all(after[name] == before[name] for name in listed)


def _every_file(output: Path) -> dict[str, int]:
    """Every file of the site, by name, with the time it was last written."""
    return {
        path.relative_to(output).as_posix(): path.stat().st_mtime_ns
        for path in output.rglob("*")
        if path.is_file()
    }


def test_the_property_tests_change_every_field_a_page_could_show() -> None:
    """A field added to feeds, stories or the site must join the changes drawn above."""
    assert {item.name for item in fields(FeedView)} - {"id"} == set(FEED_CHANGES)
    assert {item.name for item in fields(EntryView)} - {"id", "feed"} == set(ENTRY_CHANGES)
    # The theme is the folder templates come from, which turns digests off when it has any.
    listed = {"entries", "feeds", "sources", "tags", "languages", "health", "theme"}
    assert {item.name for item in fields(SiteView)} - listed == set(SITE_CHANGES)
