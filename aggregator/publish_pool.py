"""The processes that render the site's listings while the publishing process reads their
entries from the database and writes the files.

A page is a pure function of its listing and the site, so it is the same bytes whichever process
renders it. The database is read by the publishing process alone, in its one transaction, so
every page still shows one state of the database; the workers receive listings, write their
files to temporary names beside their places, and send back those names, which the publishing
process renames once the whole site is staged. They are spawned, not forked: a fresh interpreter
imports only the renderer (0.1 s), where a fork would copy a daemon's threads, and the update's
forkserver holds parsing libraries that publishing does not need.
"""

from __future__ import annotations

import gc
import itertools
import logging
import multiprocessing
import os
import pickle
from collections import deque
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Literal

from aggregator.orphan_guard import exit_with
from aggregator.publish import (
    Listing,
    PageRenderer,
    SiteView,
    Staged,
    discard,
    stage_files,
)
from aggregator.records import FeedDetails

log = logging.getLogger(__name__)

AUTO_WORKERS = 4
# Fewer listings than this render faster here than the workers take to start.
POOL_MIN_LISTINGS = 200
# Listings rendered here before the workers are started, when the last publish left most of
# them as this one will (a cron job's publish after an update): about 0.15 s of rendering.
RENDER_HERE_FIRST = 100
# Listings sent to a worker at once: enough that sending costs little beside rendering, few
# enough that the listings waiting for a worker, and their entries, hold little memory.
LISTINGS_PER_TASK = 10

_renderer: PageRenderer | None = None


def _start(shown: bytes, publisher: int) -> None:
    global _renderer
    exit_with(publisher)
    _renderer = PageRenderer(pickle.loads(shown))
    # What the worker holds from here to its end is never garbage; frozen, the collector
    # stops walking it again and again while the pages' short-lived objects come and go.
    gc.freeze()


def _stage(folder: Path, listings: list[Listing]) -> list[Staged]:
    """A worker writes its files; the publishing process makes them durable (see
    publish.replace_files)."""
    assert _renderer is not None, "the worker was not started"
    return stage_files(folder, _renderer.files_of(listings))


def _shown_to_workers(site: SiteView) -> bytes:
    """The site as the workers keep it: what every listing shows, pickled once for them all.

    Each task brings its listings' entries, and each entry its own feed with that feed's
    details; the status pages and the combined feeds, which show the feeds' health and
    details, are rendered by the publishing process. Of the feeds, a listing shows only their
    names, addresses and states (the front page's list of subscriptions). With every feed's
    details and health, the site took 45 MiB in each worker for 10,000 feeds; without them
    18 MiB.
    """
    feeds = [replace(feed, details=_NO_DETAILS) for feed in site.feeds]
    return pickle.dumps(replace(site, sources={}, health=(), feeds=feeds))


_NO_DETAILS = FeedDetails()


class PagePool:
    """Workers that render and stage listings, a few at a time, in the order they are given.

    With `render_here`, that many listings are rendered in this process before the workers are
    started: a publish that keeps most listings as the last one left them (see
    publish_manifest) often renders fewer than that, and two workers cost more to start (a
    fresh interpreter each, about 0.5 s of CPU) than a hundred listings to render.
    """

    def __init__(self, workers: int, site: SiteView, render_here: int = 0) -> None:
        self.workers = workers
        self.executor: ProcessPoolExecutor | None = None
        self._site = site
        self._render_here = render_here
        if workers and not render_here:
            self._start()

    def _start(self) -> None:
        try:
            context = multiprocessing.get_context("spawn")
            self.executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_start,
                initargs=(_shown_to_workers(self._site), os.getpid()),
            )
        except (OSError, ImportError, ValueError) as error:
            # Some sandboxes and serverless hosts have no working semaphores.
            log.warning("cannot start rendering processes (%s); rendering here", error)
            self.workers = 0

    @classmethod
    def for_setting(
        cls, setting: int | Literal["auto"], site: SiteView, render_here: int = 0
    ) -> PagePool:
        """ "auto" is one worker per CPU, at most AUTO_WORKERS, for a site of at least
        POOL_MIN_LISTINGS listings, and none on a single CPU."""
        if setting == "auto":
            cpus = os.cpu_count() or 1
            listings = len(site.feeds) + len(site.tags) + len(site.languages)
            use = cpus > 1 and listings >= POOL_MIN_LISTINGS
            return cls(min(cpus, AUTO_WORKERS) if use else 0, site, render_here)
        return cls(setting, site, render_here)

    def __enter__(self) -> PagePool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)

    def staged(
        self,
        folder: Path,
        listings: Iterable[Listing],
        here: PageRenderer,
    ) -> Generator[list[Staged]]:
        """The files of `listings`, rendered and staged in `folder`, in their order. A few tasks
        wait ahead of the one being collected, so that the workers stay busy while this process
        reads the next entries.

        Without workers, or once one has died (killed, out of memory), `here` renders: a dead
        worker costs no page. What it had staged is left as temporary files, which a later
        publish removes (see publish.remove_stale).
        """
        pending: deque[tuple[list[Listing], Future[list[Staged]] | None]] = deque()
        try:
            remaining = iter(listings)
            while batch := list(itertools.islice(remaining, LISTINGS_PER_TASK)):
                if self._render_here > 0:
                    self._render_here -= len(batch)
                    pending.append((batch, None))
                else:
                    if self.executor is None and self.workers:
                        self._start()
                    pending.append((batch, self._submit(folder, batch)))
                if len(pending) > 2 * max(1, self.workers):
                    yield self._collect(folder, *pending.popleft(), here)
            while pending:
                yield self._collect(folder, *pending.popleft(), here)
        finally:
            discard(future for _batch, future in pending if future is not None)

    def _submit(self, folder: Path, batch: list[Listing]) -> Future[list[Staged]] | None:
        if self.executor is None:
            return None
        try:
            return self.executor.submit(_stage, folder, batch)
        except BrokenProcessPool:
            self._broken()
            return None

    def _collect(
        self,
        folder: Path,
        batch: list[Listing],
        future: Future[list[Staged]] | None,
        here: PageRenderer,
    ) -> list[Staged]:
        if future is not None:
            try:
                return future.result()
            except BrokenProcessPool:
                self._broken()
        return stage_files(folder, here.files_of(batch))

    def _broken(self) -> None:
        if self.executor is not None:
            log.warning("a rendering process died; rendering the rest here")
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
        self.workers = 0
