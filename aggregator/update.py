"""One update run: the only place the stages meet.

    store.due_feeds ─▶ fetch.fetch_all ─▶ parse.parse_feed ─▶ normalize.normalize_entry
                    ─▶ dedupe.unique_by_guid ─▶ store.record_success / record_failure

Feeds are fetched concurrently; each result is parsed and stored as soon as it arrives, in its
own transaction, so a run killed half-way keeps every feed it finished. A feed's failure is a
value recorded on that feed; only a database failure stops the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from aggregator import store
from aggregator.config import Settings
from aggregator.db import storage_errors
from aggregator.dedupe import unique_by_guid
from aggregator.errors import ParseError
from aggregator.fetch import FetchPolicy, fetch_all, user_agent
from aggregator.normalize import NormalizeOptions, normalize_entry, normalize_feed
from aggregator.parse import parse_feed
from aggregator.records import (
    CleanEntry,
    DueFeed,
    FeedOutcome,
    FetchRequest,
    FetchResult,
    ParsedFeed,
    UpdateResult,
)
from aggregator.schedule import next_due

log = logging.getLogger(__name__)

Progress = Callable[[FeedOutcome], None]


def run_update(
    sessions: sessionmaker[Session],
    settings: Settings,
    ignore_schedule: bool = False,
    progress: Progress | None = None,
) -> UpdateResult:
    clock = time.monotonic()
    with storage_errors(), sessions.begin() as session:
        store.sync_feeds(session, settings.feeds, datetime.now(UTC))
        due = store.due_feeds(session, datetime.now(UTC), ignore_schedule)
    policy = FetchPolicy(user_agent=user_agent(settings.planet.link))
    outcomes = asyncio.run(_poll(sessions, due, policy, progress))
    return UpdateResult(outcomes=tuple(outcomes), duration=time.monotonic() - clock)


async def _poll(
    sessions: sessionmaker[Session],
    due: list[DueFeed],
    policy: FetchPolicy,
    progress: Progress | None,
) -> list[FeedOutcome]:
    feeds = {feed.id: feed for feed in due}
    requests = [
        FetchRequest(
            feed_id=feed.id,
            url=feed.fetch_url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            timeout=feed.timeout,
        )
        for feed in due
    ]
    outcomes = []
    async for result in fetch_all(requests, policy):
        outcome = process_result(sessions, feeds[result.feed_id], result)
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return outcomes


def process_result(
    sessions: sessionmaker[Session], feed: DueFeed, result: FetchResult
) -> FeedOutcome:
    """Parse, normalize and store one fetch result in one transaction."""
    interval = timedelta(seconds=feed.interval)
    now = datetime.now(UTC)
    parsed = None
    entries: list[CleanEntry] = []
    error = result.error
    if error is None and result.content is not None:
        try:
            parsed, entries = read_entries(feed, result, result.content)
        except ParseError as failure:
            error = failure.reason
        except Exception as failure:
            # One source's content must not stop the run for every other feed; the feed is
            # marked failing with the reason and the traceback goes to the log.
            log.exception("%s: unexpected error while reading the feed", feed.url)
            error = f"unexpected error while reading the feed: {type(failure).__name__}"
    with storage_errors(), sessions.begin() as session:
        if error is not None:
            store.record_failure(
                session, feed, result, error, next_due(now, interval, feed.consecutive_errors + 1)
            )
            log.info("%s failed: %s", feed.url, error)
            return FeedOutcome(
                feed.id, feed.url, feed.name, "failed", result.status_code, error=error
            )
        counts = store.record_success(
            session, feed, result, parsed, entries, next_due(now, interval, 0)
        )
    state = "not_modified" if result.not_modified else "ok"
    log.debug("%s: %s, %d new, %d updated", feed.url, state, counts.new, counts.updated)
    return FeedOutcome(
        feed.id, feed.url, feed.name, state, result.status_code, counts.new, counts.updated
    )


def read_entries(
    feed: DueFeed, result: FetchResult, content: bytes
) -> tuple[ParsedFeed, list[CleanEntry]]:
    url = result.final_url or result.url
    parsed = normalize_feed(parse_feed(content, url, result.headers), url)
    if parsed.warning:
        log.info("%s: %s", feed.url, parsed.warning)
    options = NormalizeOptions(language=feed.language)
    entries = unique_by_guid(
        normalize_entry(entry, feed.fetch_url, result.started_at, options)
        for entry in parsed.entries
    )
    return parsed, entries
