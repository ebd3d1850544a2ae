"""One update run: the only place the stages meet.

    store.due_feeds ─▶ fetch.fetch_all ─▶ parse.parse_feed ─▶ dedupe.unique_by_source_id
      ─▶ normalize.normalize_entry ─▶ dedupe.unique_by_guid ─▶ filters.EntryFilter
      ─▶ dedupe.with_keys ─▶ feed_state.decide
      ─▶ store.record_fetches (which also links a story to the same one from another feed)

A body identical to the last one parsed skips parse, normalize and filters; of a changed body,
the entries stored from the same source (store.stored_sources) skip normalize. Feeds are fetched
concurrently; each result is read (aggregator.read: parse to feed_state.decide) as soon as it
arrives, in a pool of processes on a large run, and stored with the other feeds ready at the
same moment in one transaction. A feed is never half-stored: a run killed half-way keeps every
transaction it committed, and the feeds of the one it lost are polled again. Feeds with nothing
new (304, failures) wait for a hundred to share a transaction. A feed's failure is a value
recorded on that feed; only a database failure stops the run.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from aggregator import store
from aggregator.config import FeedConfig, Settings
from aggregator.db import storage_errors
from aggregator.fetch import FetchPolicy, fetch_all, user_agent
from aggregator.orphan_guard import exit_with
from aggregator.read import ReadFetch, read_fetch
from aggregator.records import (
    DueFeed,
    FeedOutcome,
    FetchRequest,
    FetchResult,
    UpdateResult,
)

log = logging.getLogger(__name__)

Progress = Callable[[FeedOutcome], None]


# Below this many due feeds "auto" reads every feed in this process: the workers cost more to
# start (their server process imports the reading stack, a quarter of a second) than they save.
POOL_MIN_FEEDS = 100
# One process downloads and stores for all the workers: on 2 CPUs it was about as busy as each
# of two, so more than a few would wait for it.
AUTO_WORKERS = 4
# Fetched results that may wait for their turn to be read and stored, beyond the requests in
# flight: enough to keep every parsing process busy, few enough that memory stays flat however
# many feeds a run polls.
WAITING_PER_WORKER = 4
# Feeds with nothing to parse (304 Not Modified, failures) wait until this many can share a
# transaction (or a feed with entries comes, or the run ends).
QUIET_BATCH = 100
# The most feeds stored in one transaction.
STORE_BATCH = 200
# Allocations between two collections of the youngest generation during an update (Python's
# default is 700); see fewer_collections.
YOUNG_COLLECTION_THRESHOLD = 10_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while the update runs.

    An update allocates objects by the million and holds thousands at a time (the results
    waiting to be stored, each with its entries), and at Python's default threshold the
    collector walked them again and again: in a cold update of 1,000 feeds, 0.7 to 0.8 s of the
    updating process's 10 to 12 s of CPU (a third of the time of the thread that receives the
    parsing processes' results), 0.14 to 0.18 s at this threshold, for 1.5 MiB more at the
    peak. Little of what an update allocates forms cycles, so little waits longer to be freed.
    The setting is the process's, and is put back when the update ends.
    """
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], YOUNG_COLLECTION_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


@fewer_collections()
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
    readers = Readers.for_setting(settings.planet.parse_workers, len(work))
    try:
        outcomes = asyncio.run(_poll(sessions, work, policy, readers, progress, should_stop))
    finally:
        readers.close()
    return UpdateResult(outcomes=tuple(outcomes), duration=time.monotonic() - clock)


class Readers:
    """The processes that read fetch results (aggregator.read) while this one downloads and
    stores. They are forked from a server process that imported only aggregator.read_worker, so
    each starts at once, shares the libraries that process loaded, holds no database library,
    and none inherits the threads of a daemon."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.starting: asyncio.Future[ProcessPoolExecutor | None] | None = None

    @classmethod
    def for_setting(cls, setting: int | Literal["auto"], due: int) -> Readers:
        """ "auto" is one worker per CPU, at most AUTO_WORKERS, for a run of at least
        POOL_MIN_FEEDS, and none on a single CPU. The workers share the libraries their server
        loaded (see aggregator.read_worker), so a second one costs little memory: on 2 CPUs,
        two made a cold update of 1,000 feeds about a sixth faster than one, for about 30 MiB
        more."""
        if setting == "auto":
            cpus = os.cpu_count() or 1
            return cls(min(cpus, AUTO_WORKERS) if cpus > 1 and due >= POOL_MIN_FEEDS else 0)
        return cls(setting)

    async def next_pool(self) -> ProcessPoolExecutor | None:
        """Where to read the next body: the pool, or None for this process. The first call
        starts the workers; the calls made meanwhile wait for them."""
        if self.workers == 0:
            return None
        if self.starting is None:
            self.starting = asyncio.ensure_future(self._start())
        return await self.starting

    async def _start(self) -> ProcessPoolExecutor | None:
        try:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["aggregator.read_worker"])
            self.pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=exit_with, initargs=(os.getpid(),)
            )
            # The first task waits for the workers' server to load the reading stack and fork
            # (a quarter of a second): submitted from a thread, so that the event loop goes on
            # downloading meanwhile.
            first = await asyncio.to_thread(self.pool.submit, os.getpid)
            await asyncio.wrap_future(first)
        except (OSError, ImportError, ValueError, BrokenProcessPool) as error:
            # Some sandboxes and serverless hosts have no working semaphores or fork.
            log.warning("cannot start parsing processes (%s); reading every feed here", error)
            self.workers = 0
            return None
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def stop_parsing_server() -> None:
    """End the server process that forks the parsing workers, for a process that will read no
    more feeds.

    The server outlives its workers, holding the reading stack they share until this process
    exits: a one-shot `aggregator update` carried it through the publish that follows, 28 MiB
    of a 182 MiB peak. multiprocessing has no public way to stop it; `_stop` is the method its
    own tests use, and a Python without it keeps the server, as before.
    """
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if stop is not None:
        stop()


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
    (parse, normalize, dedupe within the feed), one thread stores what is ready.

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
    waiting: list[Fetched] = []
    ready = asyncio.Event()
    with ThreadPoolExecutor(1, "store") as writer:

        def report(done: Sequence[FeedOutcome]) -> None:
            outcomes.extend(done)
            if progress is not None:
                for outcome in done:
                    progress(outcome)

        async def write(finished: asyncio.Event) -> None:
            """Store what is waiting, as many feeds as are ready in one transaction: a
            commit costs about as much as storing a feed's entries, and while one is written
            the next feeds arrive."""
            while not (finished.is_set() and not waiting):
                await ready.wait()
                ready.clear()
                while waiting:
                    batch = waiting[:STORE_BATCH]
                    del waiting[: len(batch)]
                    try:
                        report(await loop.run_in_executor(writer, store_fetches, sessions, batch))
                    except BaseException as failure:
                        failures.append(failure)
                        raise
                    finally:
                        for fetched in batch:
                            if fetched.result.content is not None:
                                room.release()

        async def handle(result: FetchResult) -> None:
            feed, config = feeds[result.feed_id]
            try:
                if result.content is None:
                    # A 304 or a failure: nothing to parse and a row or two to write, which
                    # wait for others to share a transaction. Holding no body, it gives its
                    # room back now; kept until stored, a hundred of them would fill the room
                    # and stop the very fetches they wait for.
                    room.release()
                    read = read_fetch(feed, config, result, datetime.now(UTC))
                    waiting.append(Fetched(feed, config, result, read))
                    if len(waiting) >= QUIET_BATCH:
                        ready.set()
                    return
                known = await _stored_sources(sessions, feed, result)
                pool = await readers.next_pool()
                found = (
                    await _read_elsewhere(loop, pool, feed, config, result, known) if pool else None
                )
                if found is None:
                    now = datetime.now(UTC)
                    found = await loop.run_in_executor(
                        writer, read_fetch, feed, config, result, now, known
                    )
                waiting.append(Fetched(feed, config, result, found))
                ready.set()
            except BaseException as failure:
                failures.append(failure)
                raise

        finished = asyncio.Event()
        writing = asyncio.create_task(write(finished))
        # A feed's task is let go once it has handled its result; one that failed is kept for
        # the gathering below to raise its error.
        tasks: set[asyncio.Task[None]] = set()

        def let_go(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is None:
                tasks.discard(task)

        def stop() -> bool:
            return bool(failures) or (should_stop is not None and should_stop())

        try:
            async with aclosing(fetch_all(requests, policy, stop, room)) as results:
                async for result in results:
                    task = asyncio.create_task(handle(result))
                    task.add_done_callback(let_go)
                    tasks.add(task)
            await asyncio.gather(*tasks)
        finally:
            finished.set()
            ready.set()
            await writing
    return outcomes


async def _stored_sources(
    sessions: sessionmaker[Session], feed: DueFeed, result: FetchResult
) -> frozenset[str]:
    """The source hashes of the feed's stored entries, which reading leaves out, read in a
    thread of their own beside the writer's. A new feed has none to ask for, and a body
    identical to the last one read is not read again."""
    if feed.status == "new" or result.body_hash == feed.body_hash:
        return frozenset()

    def read() -> frozenset[str]:
        with storage_errors(), sessions() as session:
            return store.stored_sources(session, feed.id)

    return await asyncio.to_thread(read)


async def _read_elsewhere(
    loop: asyncio.AbstractEventLoop,
    pool: ProcessPoolExecutor,
    feed: DueFeed,
    config: FeedConfig,
    result: FetchResult,
    known: frozenset[str],
) -> ReadFetch | None:
    """Read in a parsing process; None when the pool is broken (a worker was killed, say by
    the OOM killer), so that the feed is read here instead of lost."""
    try:
        now = datetime.now(UTC)
        return await loop.run_in_executor(pool, read_fetch, feed, config, result, now, known)
    except (BrokenProcessPool, OSError) as error:
        log.warning("%s: the parsing process failed (%s); reading the feed here", feed.url, error)
        return None


@dataclass(frozen=True)
class Fetched:
    feed: DueFeed
    config: FeedConfig
    result: FetchResult
    read: ReadFetch


def store_fetches(sessions: sessionmaker[Session], batch: Sequence[Fetched]) -> list[FeedOutcome]:
    """Store read fetch results in one transaction, and log what reading them noted."""
    for fetched in batch:
        for note in fetched.read.notes:
            log.info("%s: %s", fetched.feed.url, note)
        if fetched.read.failure is not None:
            log.error(
                "%s: unexpected error while reading the feed\n%s",
                fetched.feed.url,
                fetched.read.failure,
            )
    records = [
        store.FetchRecord(
            fetched.feed.id,
            fetched.result,
            fetched.read.change,
            fetched.read.entries,
            fetched.config.new_feed_items,
        )
        for fetched in batch
    ]
    with storage_errors(), sessions.begin() as session:
        counts = store.record_fetches(session, records)
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
