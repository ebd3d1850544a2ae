"""One update run: the only place the stages meet.

    store.due_feeds ─▶ fetch.fetch_all ─▶ parse.parse_feed ─▶ normalize.normalize_entry
      ─▶ dedupe.unique_by_guid ─▶ filters.EntryFilter ─▶ dedupe.with_keys ─▶ feed_state.decide
      ─▶ store.record_fetch (which also links a story to the same one from another feed)

A body identical to the last one parsed skips parse, normalize and filters. Feeds are fetched
concurrently; each result is read (parsed to feed_state.decide) as soon as it arrives, in a
pool of processes on a large run, and a feed with something new is stored in its own
transaction, so a run killed half-way keeps every entry it stored. Feeds with nothing new (304,
failures) are stored a hundred to a transaction; a killed run only polls them again. A feed's
failure is a value recorded on that feed; only a database failure stops the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

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
    FeedChange,
    FeedOutcome,
    FetchRequest,
    FetchResult,
    ParsedFeed,
    UpdateResult,
)
from aggregator.schedule import Bounds

log = logging.getLogger(__name__)

Progress = Callable[[FeedOutcome], None]


# With "auto", the first bodies of a run are read in this process and the pool starts with the
# next one: for fewer, a worker costs more to start (it loads the language model, about a second
# of CPU) than it saves. A run where most feeds answer 304 often never starts it.
POOL_AFTER_BODIES = 30
# Fetched results that may wait for their turn to be read and stored, beyond the requests in
# flight: enough to keep every parsing process busy, few enough that memory stays flat however
# many feeds a run polls.
WAITING_PER_WORKER = 4
# Feeds with nothing to parse (304 Not Modified, failures) stored to one transaction.
QUIET_BATCH = 100


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
    readers = Readers.for_setting(settings.planet.parse_workers)
    try:
        outcomes = asyncio.run(_poll(sessions, work, policy, readers, progress, should_stop))
    finally:
        readers.close()
    return UpdateResult(outcomes=tuple(outcomes), duration=time.monotonic() - clock)


class Readers:
    """The processes that parse and normalize while this one downloads and stores, started
    when the run has read `after` bodies here.

    They are forked from a server process that imported this module, so each starts at once
    and none inherits the threads of a daemon.
    """

    def __init__(self, workers: int, after: int) -> None:
        self.workers = workers
        self.after = after
        self.bodies = 0
        self.pool: ProcessPoolExecutor | None = None

    @classmethod
    def for_setting(cls, setting: int | Literal["auto"]) -> Readers:
        """ "auto" is one worker per CPU beyond the one this process keeps busy (on 2 CPUs a
        second worker made the cold update slower); a number is that many from the start."""
        if setting == "auto":
            return cls((os.cpu_count() or 1) - 1, POOL_AFTER_BODIES)
        return cls(setting, 0)

    def next_pool(self) -> ProcessPoolExecutor | None:
        """Where to read the next body: the pool, or None for this process."""
        self.bodies += 1
        if self.workers == 0 or self.bodies <= self.after:
            return None
        if self.pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            self.pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


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
    readers: Readers,
    progress: Progress | None,
    should_stop: Callable[[], bool] | None,
) -> list[FeedOutcome]:
    """Download, read and store as a pipeline: the event loop downloads, `readers` read
    (parse, normalize, dedupe within the feed), one thread stores, one feed at a time.

    Reading and storing stay off the event loop, where they would stall the downloads in flight
    until their timeouts fired. Storing stays in one thread: the database has one writer.
    """
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
    loop = asyncio.get_running_loop()
    room = asyncio.Semaphore(policy.max_connections + WAITING_PER_WORKER * max(1, readers.workers))
    outcomes: list[FeedOutcome] = []
    failures: list[BaseException] = []
    quiet: list[Fetched] = []
    with ThreadPoolExecutor(1, "store") as writer:

        def report(done: Sequence[FeedOutcome]) -> None:
            outcomes.extend(done)
            if progress is not None:
                for outcome in done:
                    progress(outcome)

        async def store_quiet() -> None:
            batch = quiet[:]
            quiet.clear()
            if batch:
                report(await loop.run_in_executor(writer, store_fetches, sessions, batch))

        async def handle(result: FetchResult) -> None:
            feed, config = feeds[result.feed_id]
            try:
                if result.content is None:
                    # A 304 or a failure: nothing to parse, and a row or two to write, which
                    # are written many feeds to a transaction.
                    read = read_fetch(feed, config, result, datetime.now(UTC))
                    quiet.append(Fetched(feed, config, result, read))
                    if len(quiet) >= QUIET_BATCH:
                        await store_quiet()
                    return
                found = None
                pool = readers.next_pool()
                if pool is not None:
                    found = await _read_elsewhere(loop, pool, feed, config, result)
                if found is None:
                    outcome = await loop.run_in_executor(
                        writer, process_result, sessions, feed, config, result
                    )
                else:
                    fetched = Fetched(feed, config, result, found)
                    (outcome,) = await loop.run_in_executor(
                        writer, store_fetches, sessions, [fetched]
                    )
                report([outcome])
            except BaseException as failure:
                failures.append(failure)
                raise
            finally:
                room.release()

        tasks = []
        async with aclosing(fetch_all(requests, policy, should_stop, room)) as results:
            async for result in results:
                if failures:
                    break
                tasks.append(asyncio.create_task(handle(result)))
        await asyncio.gather(*tasks)
        await store_quiet()
    return outcomes


async def _read_elsewhere(
    loop: asyncio.AbstractEventLoop,
    pool: ProcessPoolExecutor,
    feed: DueFeed,
    config: FeedConfig,
    result: FetchResult,
) -> ReadFetch | None:
    """Read in a parsing process; None when the pool is broken (a worker was killed, say by
    the OOM killer), so that the feed is read here instead of lost."""
    try:
        return await loop.run_in_executor(pool, read_fetch, feed, config, result, datetime.now(UTC))
    except BrokenProcessPool:
        log.warning("%s: the parsing process died; reading the feed in the main process", feed.url)
        return None


@dataclass(frozen=True)
class ReadFetch:
    """What one fetch result says, worked out without the database, so that it can be done in
    another process. `notes` and `failure` (a traceback) are for the log of the process that
    stores it."""

    change: FeedChange
    entries: tuple[CleanEntry, ...]
    parsed: bool
    notes: tuple[str, ...] = ()
    failure: str | None = None


def process_result(
    sessions: sessionmaker[Session], feed: DueFeed, config: FeedConfig, result: FetchResult
) -> FeedOutcome:
    """Read and store one fetch result, in this thread."""
    read = read_fetch(feed, config, result, datetime.now(UTC))
    (outcome,) = store_fetches(sessions, [Fetched(feed, config, result, read)])
    return outcome


def read_fetch(feed: DueFeed, config: FeedConfig, result: FetchResult, now: datetime) -> ReadFetch:
    """Parse, normalize and judge one fetch result.

    A body identical to the last one parsed is not parsed again, for sources that send
    neither ETag nor Last-Modified.
    """
    parsed = None
    entries: list[CleanEntry] = []
    error = result.error
    body_hash = None
    failure = None
    if error is None and result.content is not None:
        body_hash = hashlib.sha256(result.content).hexdigest()
        if body_hash != feed.body_hash:
            try:
                parsed, entries = read_entries(feed, config, result, result.content)
            except ParseError as problem:
                error = problem.reason
            except Exception as problem:
                # One source's content must not stop the run for every other feed; the feed
                # is marked failing with the reason and the traceback goes to the log.
                failure = traceback.format_exc()
                error = f"unexpected error while reading the feed: {type(problem).__name__}"
    bounds = Bounds(config.interval, config.min_interval, config.max_interval)
    change = decide(feed, bounds, result, parsed, error, body_hash, now)
    notes = (parsed.warning,) if parsed is not None and parsed.warning else ()
    return ReadFetch(change, tuple(entries), parsed is not None, notes, failure)


@dataclass(frozen=True)
class Fetched:
    feed: DueFeed
    config: FeedConfig
    result: FetchResult
    read: ReadFetch


def store_fetches(sessions: sessionmaker[Session], batch: Sequence[Fetched]) -> list[FeedOutcome]:
    """Store read fetch results in one transaction: a feed with new entries alone, so that a
    run killed half-way keeps every feed it finished; feeds with nothing new many at once."""
    for fetched in batch:
        for note in fetched.read.notes:
            log.info("%s: %s", fetched.feed.url, note)
        if fetched.read.failure is not None:
            log.error(
                "%s: unexpected error while reading the feed\n%s",
                fetched.feed.url,
                fetched.read.failure,
            )
    with storage_errors(), sessions.begin() as session:
        counts = [
            store.record_fetch(
                session,
                fetched.feed.id,
                fetched.result,
                fetched.read.change,
                fetched.read.entries,
                fetched.config.new_feed_items,
            )
            for fetched in batch
        ]
    return [_outcome(fetched, stored) for fetched, stored in zip(batch, counts, strict=True)]


def _outcome(fetched: Fetched, counts: store.StoredCounts) -> FeedOutcome:
    feed, change = fetched.feed, fetched.read.change
    if change.last_error is not None:
        log.info("%s failed: %s", feed.url, change.last_error)
        state = "failed"
    else:
        state = "ok" if fetched.read.parsed else "not_modified"
        log.debug("%s: %s, %d new, %d updated", feed.url, state, counts.new, counts.updated)
    return FeedOutcome(
        feed_id=feed.id,
        url=feed.url,
        name=feed.name,
        state=state,
        http_status=fetched.result.status_code,
        new_entries=counts.new,
        updated_entries=counts.updated,
        error=change.last_error,
    )


def read_entries(
    feed: DueFeed, config: FeedConfig, result: FetchResult, content: bytes
) -> tuple[ParsedFeed, list[CleanEntry]]:
    url = result.final_url or result.url
    parsed = normalize_feed(parse_feed(content, url, result.headers), url)
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
