"""The jobs the CLI and the daemon run: each is one call, with no pipeline logic of its own.

Settings are always loaded before the database is opened, so a broken feeds.yaml never touches
the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from aggregator import store
from aggregator.config import Settings
from aggregator.db import database_exists, open_database, storage_errors
from aggregator.lock import run_lock
from aggregator.probe import Probe, probe_all
from aggregator.publish import SiteView, render_opml, write_site
from aggregator.records import EntryView, FeedView, PublishResult, UpdateResult
from aggregator.update import Progress, fetch_policy, run_update


def open_store(settings: Settings) -> sessionmaker[Session]:
    return open_database(settings.database_url)


@contextmanager
def exclusive(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[None]:
    """Hold the run lock: raises AlreadyRunning when another update or daemon has it."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    with run_lock(settings.database_url, engine):
        yield


def update(
    settings: Settings,
    sessions: sessionmaker[Session],
    ignore_schedule: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    started: Callable[[int], None] | None = None,
) -> UpdateResult:
    return run_update(sessions, settings, ignore_schedule, progress, should_stop, started)


def publish(settings: Settings, sessions: sessionmaker[Session]) -> PublishResult:
    """Write the site; cheap when nothing changed, since unchanged files are not rewritten."""
    planet = settings.planet
    with storage_errors(), sessions.begin() as session:
        store.sync_feeds(session, settings.feeds, datetime.now(UTC))
        feeds = store.feed_views(session)
        entries = store.front_entries(
            session,
            {feed.id: feed for feed in feeds},
            max(planet.items_per_page, planet.feed_items),
            datetime.now(UTC),
            max_age={feed.url: feed.max_age for feed in settings.feeds if feed.max_age},
        )
    return write_site(_site(settings, feeds, entries), settings.output_dir)


def export_opml(settings: Settings, sessions: sessionmaker[Session]) -> str:
    return render_opml(_site(settings, feed_states(settings, sessions), []))


def probe(settings: Settings, urls: list[str]) -> list[Probe]:
    return probe_all(urls, fetch_policy(settings))


def _site(settings: Settings, feeds: list[FeedView], entries: list[EntryView]) -> SiteView:
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
    with storage_errors(), open_store(settings).begin() as session:
        return store.feed_views(session)


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
