"""The jobs the CLI and the daemon run: each is one call, with no pipeline logic of its own.

Settings are always loaded before the database is opened, so a broken feeds.yaml never touches
the database. Publishing's modules (Jinja2 and the templates' helpers, 3.6 MiB) are loaded when
a job first publishes: `aggregator update` stores before it publishes, and its memory peaks
while it stores, beside its parsing processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from aggregator import store
from aggregator.config import Settings
from aggregator.db import database_exists, engine_of, open_database, storage_errors
from aggregator.feed_state import advice
from aggregator.fetch import user_agent
from aggregator.lock import run_lock
from aggregator.records import EntryView, FeedHealth, FeedView, PublishResult, UpdateResult
from aggregator.update import Progress, fetch_policy, run_update, stop_parsing_server
from aggregator.websub import notify_hub

if TYPE_CHECKING:
    from aggregator.probe import Probe
    from aggregator.publish import SiteView


def open_store(settings: Settings) -> sessionmaker[Session]:
    return open_database(settings.database_url)


@contextmanager
def exclusive(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[None]:
    """Hold the run lock: raises AlreadyRunning when another update or daemon has it."""
    with run_lock(settings.database_url, engine_of(sessions)):
        yield


def update(
    settings: Settings,
    sessions: sessionmaker[Session],
    ignore_schedule: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    started: Callable[[int], None] | None = None,
    keep_parsing_server: bool = True,
) -> UpdateResult:
    """Poll the due feeds and store what they hold.

    The daemon keeps its parsing processes' server from one update to the next; a single run
    (`keep_parsing_server=False`) ends it, before the publish that follows in processes of
    its own.
    """
    try:
        return run_update(sessions, settings, ignore_schedule, progress, should_stop, started)
    finally:
        if not keep_parsing_server:
            stop_parsing_server()


RECENT = timedelta(days=30)


def publish(settings: Settings, sessions: sessionmaker[Session]) -> PublishResult:
    """Write the site; cheap when nothing changed, since unchanged files are not rewritten.

    When a WebSub hub is configured, it is told of every combined feed that changed.
    """
    from aggregator.publish import write_site
    from aggregator.publish_manifest import PageManifest
    from aggregator.publish_pool import RENDER_HERE_FIRST, PagePool

    with storage_errors(), sessions.begin() as session:
        store.sync_feeds(session, settings.feeds, datetime.now(UTC))
    # Then one read-only transaction for reading and writing the site: the source pages'
    # entries are read as their pages are written, every page shows the same state of the
    # database, and an update running meanwhile is not held up (it would be if this
    # transaction had written).
    with storage_errors(), sessions.begin() as session:
        site = read_site(settings, session)
        # After a publish into this folder, most listings are usually kept (publish_manifest)
        # and the few to render need no workers; without one, every listing is rendered.
        manifest = PageManifest.read(settings.output_dir)
        render_here = RENDER_HERE_FIRST if manifest.previous else 0
        with PagePool.for_setting(settings.planet.publish_workers, site, render_here) as pool:
            result = write_site(site, settings.output_dir, pool, manifest)
    if site.websub_hub:
        changed = [name for name in result.written if name.endswith((".xml", ".json"))]
        topics = [f"{site.link}{name}" for name in changed if name not in _NOT_FEEDS]
        if topics:
            notify_hub(site.websub_hub, topics, user_agent(site.link))
    return result


_NOT_FEEDS = frozenset({"opml.xml", "status.json"})


def read_site(settings: Settings, session: Session) -> SiteView:
    """Everything the site shows; the source pages' entries are read as they are asked for,
    so `session` must stay open while the site is written."""
    planet = settings.planet
    now = datetime.now(UTC)
    max_age = {feed.url: feed.max_age for feed in settings.feeds if feed.max_age}
    per_page = planet.items_per_page
    lines = {feed.url: feed.line for feed in settings.feeds}
    feeds = store.feed_views(session)
    by_id = {feed.id: feed for feed in feeds}
    entries = store.front_entries(
        session, by_id, max(per_page * planet.archive_pages, planet.feed_items), now, max_age
    )
    sources = store.SourceEntries(session, by_id, per_page, now, max_age)
    tagged: dict[str, list[int]] = {}
    for feed in feeds:
        for tag in feed.tags:
            tagged.setdefault(tag, []).append(feed.id)
    tags = {
        tag: store.front_entries(session, by_id, per_page, now, max_age, store.in_feeds(ids))
        for tag, ids in sorted(tagged.items(), key=lambda item: item[0].casefold())
    }
    languages = {
        code: store.front_entries(session, by_id, per_page, now, max_age, store.in_language(code))
        for code in store.entry_languages(session)
    }
    recent = store.recent_counts(session, now - RECENT)
    health = [
        FeedHealth(
            feed=feed,
            recent_entries=recent.get(feed.id, 0),
            advice=advice(feed, str(settings.path), lines.get(feed.url)),
        )
        for feed in feeds
    ]
    return replace(
        _site(settings, feeds, entries),
        sources=sources,
        tags=tags,
        languages={code: found for code, found in languages.items() if found},
        health=health,
    )


def export_opml(settings: Settings, sessions: sessionmaker[Session]) -> str:
    from aggregator.publish import render_opml

    return render_opml(_site(settings, feed_states(settings, sessions), []))


def probe(settings: Settings, urls: list[str]) -> list[Probe]:
    # Imported here: probing parses, and an update whose feeds are read by parsing processes
    # does not load the parsing libraries at all (see aggregator.read_entries).
    from aggregator.probe import probe_all

    return probe_all(urls, fetch_policy(settings))


def _site(settings: Settings, feeds: list[FeedView], entries: list[EntryView]) -> SiteView:
    from aggregator.publish import SiteView

    planet = settings.planet
    return SiteView(
        title=planet.title,
        link=planet.link if planet.link.endswith("/") else planet.link + "/",
        description=planet.description,
        owner_name=planet.owner.name,
        owner_email=planet.owner.email,
        language=planet.language,
        items_per_page=planet.items_per_page,
        feed_items=planet.feed_items,
        entries=entries,
        feeds=feeds,
        archive_pages=planet.archive_pages,
        websub_hub=planet.websub_hub,
        theme=settings.theme_dir,
        iframe_hosts=planet.iframe_hosts,
    )


def sync_configuration(settings: Settings, sessions: sessionmaker[Session]) -> None:
    with storage_errors(), sessions.begin() as session:
        store.sync_feeds(session, settings.feeds, datetime.now(UTC))


def feed_states(settings: Settings, sessions: sessionmaker[Session]) -> list[FeedView]:
    with storage_errors(), sessions.begin() as session:
        store.sync_feeds(session, settings.feeds, datetime.now(UTC))
        return store.feed_views(session)


def stored_feed_states(settings: Settings) -> list[FeedView]:
    """What the database knows of the feeds, without creating a database that is not there."""
    if not database_exists(settings.database_url):
        return []
    sessions = open_store(settings)
    try:
        with storage_errors(), sessions.begin() as session:
            return store.feed_views(session)
    finally:
        engine_of(sessions).dispose()


def prune(
    settings: Settings, sessions: sessionmaker[Session], older_than: timedelta | None
) -> store.PruneCounts:
    """Drop old entries' content and old fetch history, never what the site still shows.

    `older_than` None is a planet that keeps everything (`retention: forever`).
    """
    planet = settings.planet
    if older_than is None:
        return store.PruneCounts(entries=0, attempts=0)
    with storage_errors(), sessions.begin() as session:
        return store.prune(
            session,
            datetime.now(UTC) - older_than,
            keep_newest=max(planet.items_per_page, planet.feed_items),
        )
