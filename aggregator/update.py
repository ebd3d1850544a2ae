"""One update run: the only place the stages meet.

    store.due_feeds ─▶ fetch.fetch_all ─▶ parse.parse_feed ─▶ normalize.normalize_entry
      ─▶ dedupe.unique_by_guid ─▶ filters.EntryFilter ─▶ dedupe.with_keys ─▶ feed_state.decide
      ─▶ store.record_fetch (which also links a story to the same one from another feed)

A body identical to the last one parsed skips parse, normalize and filters. Feeds are fetched
concurrently; each result is parsed and stored as soon as it arrives, in its
own transaction, so a run killed half-way keeps every feed it finished. A feed's failure is a
value recorded on that feed; only a database failure stops the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from aggregator import store
from aggregator.config import FeedConfig, Settings
from aggregator.db import storage_errors
from aggregator.dedupe import unique_by_guid, with_keys
from aggregator.errors import ParseError
from aggregator.feed_state import decide
from aggregator.fetch import FetchPolicy, fetch_all, user_agent
from aggregator.filters import EntryFilter
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
from aggregator.schedule import Bounds

log = logging.getLogger(__name__)

Progress = Callable[[FeedOutcome], None]


def run_update(
    sessions: sessionmaker[Session],
    settings: Settings,
    ignore_schedule: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    started: Callable[[int], None] | None = None,
) -> UpdateResult:
    """Poll the due feeds. `started` learns how many are due; `should_stop` ends the run early
    between two feeds (each feed already stored stays stored)."""
    clock = time.monotonic()
    with storage_errors(), sessions.begin() as session:
        store.sync_feeds(session, settings.feeds, datetime.now(UTC))
        due = store.due_feeds(session, datetime.now(UTC), ignore_schedule)
    policy = fetch_policy(settings)
    configs = {config.url: config for config in settings.feeds}
    work = [(feed, configs[feed.url]) for feed in due]
    if started is not None:
        started(len(work))
    outcomes = asyncio.run(_poll(sessions, work, policy, progress, should_stop))
    return UpdateResult(outcomes=tuple(outcomes), duration=time.monotonic() - clock)


def fetch_policy(settings: Settings) -> FetchPolicy:
    planet = settings.planet
    return FetchPolicy(
        user_agent=user_agent(planet.link),
        contact=planet.contact,
        max_connections=planet.max_connections,
        per_host=planet.per_host_connections,
    )


async def _poll(
    sessions: sessionmaker[Session],
    work: list[tuple[DueFeed, FeedConfig]],
    policy: FetchPolicy,
    progress: Progress | None,
    should_stop: Callable[[], bool] | None,
) -> list[FeedOutcome]:
    feeds = {feed.id: (feed, config) for feed, config in work}
    requests = [
        FetchRequest(
            feed_id=feed.id,
            url=feed.fetch_url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            timeout=config.timeout.total_seconds(),
            max_body_size=config.max_body_size,
        )
        for feed, config in work
    ]
    outcomes = []
    async for result in fetch_all(requests, policy, should_stop):
        # Parsing and storing run in a worker thread, one result at a time, so the event
        # loop keeps downloading meanwhile; on the loop they would stall the downloads in
        # flight until their timeouts fired.
        outcome = await asyncio.to_thread(process_result, sessions, *feeds[result.feed_id], result)
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return outcomes


def process_result(
    sessions: sessionmaker[Session], feed: DueFeed, config: FeedConfig, result: FetchResult
) -> FeedOutcome:
    """Parse, normalize and store one fetch result in one transaction.

    A body identical to the last one parsed is not parsed again, for sources that send
    neither ETag nor Last-Modified.
    """
    now = datetime.now(UTC)
    parsed = None
    entries: list[CleanEntry] = []
    error = result.error
    body_hash = None
    if error is None and result.content is not None:
        body_hash = hashlib.sha256(result.content).hexdigest()
        if body_hash != feed.body_hash:
            try:
                parsed, entries = read_entries(feed, config, result, result.content)
            except ParseError as failure:
                error = failure.reason
            except Exception as failure:
                # One source's content must not stop the run for every other feed; the feed
                # is marked failing with the reason and the traceback goes to the log.
                log.exception("%s: unexpected error while reading the feed", feed.url)
                error = f"unexpected error while reading the feed: {type(failure).__name__}"
    bounds = Bounds(config.interval, config.min_interval, config.max_interval)
    change = decide(feed, bounds, result, parsed, error, body_hash, now)
    with storage_errors(), sessions.begin() as session:
        counts = store.record_fetch(
            session, feed.id, result, change, entries, config.new_feed_items
        )
    if error is not None:
        log.info("%s failed: %s", feed.url, change.last_error)
        state = "failed"
    else:
        state = "ok" if parsed is not None else "not_modified"
        log.debug("%s: %s, %d new, %d updated", feed.url, state, counts.new, counts.updated)
    return FeedOutcome(
        feed_id=feed.id,
        url=feed.url,
        name=feed.name,
        state=state,
        http_status=result.status_code,
        new_entries=counts.new,
        updated_entries=counts.updated,
        error=change.last_error,
    )


def read_entries(
    feed: DueFeed, config: FeedConfig, result: FetchResult, content: bytes
) -> tuple[ParsedFeed, list[CleanEntry]]:
    url = result.final_url or result.url
    parsed = normalize_feed(parse_feed(content, url, result.headers), url)
    if parsed.warning:
        log.info("%s: %s", feed.url, parsed.warning)
    options = NormalizeOptions(
        excerpt_words=config.excerpt_words,
        language=config.language,
        iframe_hosts=frozenset(config.iframe_hosts),
    )
    entries = unique_by_guid(
        normalize_entry(entry, feed.fetch_url, result.started_at, options)
        for entry in parsed.entries
    )
    if config.retention is not None:
        # Older than the window prune keeps: storing it would only have prune empty it again.
        oldest = result.started_at - config.retention
        entries = [entry for entry in entries if entry.published >= oldest]
    return parsed, with_keys(EntryFilter.for_feed(config).apply(entries))
