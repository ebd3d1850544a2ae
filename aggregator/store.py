"""Every read and write of the database during an update and for publishing.

Each feed's result is written in one transaction with a fixed number of statements however many
entries it carries: one select of the known ids, one multi-row insert, one bulk update.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from aggregator.config import FeedConfig
from aggregator.models import Entry, Feed, FetchAttempt
from aggregator.records import CleanEntry, DueFeed, EntryView, FeedView, FetchResult, ParsedFeed

INACTIVE = ("disabled", "removed")
_IN_CHUNK = 500


def sync_feeds(session: Session, feeds: Iterable[FeedConfig], now: datetime) -> None:
    """Make the feeds table match feeds.yaml: add new feeds, apply edits, retire removed ones.

    A removed feed keeps its row and entries (so re-adding it does not re-publish old items as
    new) but is no longer polled or shown.
    """
    existing = {feed.url: feed for feed in session.scalars(select(Feed))}
    configured = set()
    for config in feeds:
        configured.add(config.url)
        feed = existing.get(config.url)
        if feed is None:
            feed = Feed(
                url=config.url,
                fetch_url=config.url,
                status="new",
                consecutive_errors=0,
                created_at=now,
                next_due_at=now,
            )
            session.add(feed)
        feed.name = config.name
        feed.link = config.link
        feed.tags = list(config.tags)
        feed.language = config.language
        feed.interval_seconds = int(config.interval.total_seconds())
        feed.timeout_seconds = int(config.timeout.total_seconds())
        if not config.enabled:
            feed.status = "disabled"
        elif feed.status in INACTIVE:
            feed.status = "new"
            feed.next_due_at = now
    for url, feed in existing.items():
        if url not in configured and feed.status != "removed":
            feed.status = "removed"


def due_feeds(session: Session, now: datetime, ignore_schedule: bool = False) -> list[DueFeed]:
    query = select(Feed).where(Feed.status.not_in(INACTIVE)).order_by(Feed.id)
    if not ignore_schedule:
        query = query.where(or_(Feed.next_due_at.is_(None), Feed.next_due_at <= now))
    return [
        DueFeed(
            id=feed.id,
            url=feed.url,
            fetch_url=feed.fetch_url,
            name=_display_name(feed),
            language=feed.language,
            etag=feed.etag,
            last_modified=feed.last_modified,
            interval=feed.interval_seconds,
            timeout=feed.timeout_seconds,
            consecutive_errors=feed.consecutive_errors,
        )
        for feed in session.scalars(query)
    ]


@dataclass(frozen=True)
class StoredCounts:
    new: int
    updated: int


def record_success(
    session: Session,
    feed: DueFeed,
    result: FetchResult,
    parsed: ParsedFeed | None,
    entries: Sequence[CleanEntry],
    next_due_at: datetime,
) -> StoredCounts:
    """Store a 200 or a 304: entries (if any), validators, and a fetch attempt."""
    counts = _upsert_entries(session, feed.id, entries, result.started_at)
    values: dict[str, Any] = {
        "status": "ok",
        "last_http_status": result.status_code,
        "last_error": None,
        "consecutive_errors": 0,
        "last_fetched_at": result.started_at,
        "last_success_at": result.started_at,
        "next_due_at": next_due_at,
    }
    if not result.not_modified:
        values["etag"] = result.headers.get("etag")
        values["last_modified"] = result.headers.get("last-modified")
    if parsed is not None:
        values["title"] = parsed.title
        values["site_link"] = parsed.link
    if counts.new:
        values["last_new_entry_at"] = result.started_at
    session.execute(update(Feed).where(Feed.id == feed.id).values(**values))
    _add_attempt(session, feed.id, result, counts, None)
    return counts


def record_failure(
    session: Session, feed: DueFeed, result: FetchResult, error: str, next_due_at: datetime
) -> None:
    """Store why a feed failed; its entries and validators stay as they were."""
    session.execute(
        update(Feed)
        .where(Feed.id == feed.id)
        .values(
            status="failing",
            last_http_status=result.status_code,
            last_error=error,
            consecutive_errors=feed.consecutive_errors + 1,
            last_fetched_at=result.started_at,
            next_due_at=next_due_at,
        )
    )
    _add_attempt(session, feed.id, result, StoredCounts(0, 0), error)


def _add_attempt(
    session: Session, feed_id: int, result: FetchResult, counts: StoredCounts, error: str | None
) -> None:
    session.add(
        FetchAttempt(
            feed_id=feed_id,
            started_at=result.started_at,
            duration_ms=round(result.duration * 1000),
            http_status=result.status_code,
            bytes=result.size,
            new_entries=counts.new,
            updated_entries=counts.updated,
            error=error,
        )
    )


def _upsert_entries(
    session: Session, feed_id: int, entries: Sequence[CleanEntry], seen_at: datetime
) -> StoredCounts:
    if not entries:
        return StoredCounts(0, 0)
    known: dict[str, tuple[int, str]] = {}
    guids = [entry.guid for entry in entries]
    for start in range(0, len(guids), _IN_CHUNK):
        rows = session.execute(
            select(Entry.guid, Entry.id, Entry.content_hash).where(
                Entry.feed_id == feed_id, Entry.guid.in_(guids[start : start + _IN_CHUNK])
            )
        )
        known.update({guid: (entry_id, digest) for guid, entry_id, digest in rows})
    new_rows = [_entry_row(feed_id, entry, seen_at) for entry in entries if entry.guid not in known]
    changed_rows = [
        {"id": known[entry.guid][0], **_changed_fields(entry)}
        for entry in entries
        if entry.guid in known and known[entry.guid][1] != entry.content_hash
    ]
    if new_rows:
        session.execute(_insert_ignoring_duplicates(session), new_rows)
    if changed_rows:
        session.execute(update(Entry), changed_rows)
    return StoredCounts(len(new_rows), len(changed_rows))


def _insert_ignoring_duplicates(session: Session) -> Any:
    """An insert that a concurrent writer's identical row cannot fail."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(Entry).on_conflict_do_nothing(constraint="uq_entries_feed_guid")
    if dialect == "sqlite":
        return sqlite.insert(Entry).on_conflict_do_nothing(index_elements=["feed_id", "guid"])
    return insert(Entry)


def _changed_fields(entry: CleanEntry) -> dict[str, Any]:
    """What a real update at the source may change; published and first-seen stay put so an
    edited story does not come back to the top as new."""
    return {
        "link": entry.link,
        "title": entry.title,
        "title_derived": entry.title_derived,
        "author": entry.author,
        "summary": entry.summary,
        "content": entry.content,
        "language": entry.language,
        "categories": list(entry.categories),
        "updated_at": entry.updated,
        "content_hash": entry.content_hash,
    }


def _entry_row(feed_id: int, entry: CleanEntry, seen_at: datetime) -> dict[str, Any]:
    return {
        "feed_id": feed_id,
        "guid": entry.guid,
        "published_at": entry.published,
        "first_seen_at": seen_at,
        **_changed_fields(entry),
    }


def feed_views(session: Session) -> list[FeedView]:
    counts = (
        select(Entry.feed_id, func.count(Entry.id).label("entry_count"))
        .group_by(Entry.feed_id)
        .subquery()
    )
    query = (
        select(Feed, func.coalesce(counts.c.entry_count, 0))
        .outerjoin(counts, counts.c.feed_id == Feed.id)
        .where(Feed.status != "removed")
        .order_by(Feed.id)
    )
    return [_feed_view(feed, count) for feed, count in session.execute(query)]


def recent_entries(session: Session, limit: int) -> list[EntryView]:
    """The newest entries of the feeds still configured, newest first."""
    feeds = {view.id: view for view in feed_views(session)}
    query = (
        select(Entry)
        .join(Feed)
        .where(Feed.status != "removed")
        .order_by(Entry.published_at.desc(), Entry.id.desc())
        .limit(limit)
    )
    return [_entry_view(entry, feeds[entry.feed_id]) for entry in session.scalars(query)]


def _display_name(feed: Feed) -> str:
    return feed.name or feed.title or feed.url


def _feed_view(feed: Feed, entry_count: int) -> FeedView:
    return FeedView(
        id=feed.id,
        url=feed.url,
        name=_display_name(feed),
        link=feed.link or feed.site_link,
        tags=tuple(feed.tags or ()),
        language=feed.language,
        status=feed.status,
        last_fetched_at=feed.last_fetched_at,
        last_success_at=feed.last_success_at,
        last_http_status=feed.last_http_status,
        last_error=feed.last_error,
        consecutive_errors=feed.consecutive_errors,
        next_due_at=feed.next_due_at,
        entry_count=entry_count,
    )


def _entry_view(entry: Entry, feed: FeedView) -> EntryView:
    return EntryView(
        id=entry.id,
        guid=entry.guid,
        link=entry.link,
        title=entry.title,
        author=entry.author,
        summary=entry.summary,
        content=entry.content,
        language=entry.language,
        categories=tuple(entry.categories or ()),
        published=entry.published_at,
        updated=entry.updated_at,
        first_seen=entry.first_seen_at,
        feed=feed,
    )
