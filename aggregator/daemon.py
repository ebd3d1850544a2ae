"""`aggregator run`: the long-running process.

APScheduler runs four jobs: `poll` (every poll interval, polls the feeds that are due: the
per-feed schedule lives in the database), `publish` (a few seconds after a poll that found
something, so a burst of updates gives one publish), `prune` (daily) and `reload` (feeds.yaml
changed on disk, or SIGHUP). The daemon holds the run lock for its whole life, so a cron
`update` never runs beside it.

Stopping: the first SIGTERM or SIGINT stops new work and lets the job in progress finish for up
to the grace period, then asks it to stop between two feeds (each feed is its own transaction,
so nothing is half-written); a publish still pending is done; exit 0. A second signal exits at
once with status 130; the database and the site are still whole (transactions and atomic
renames), only the remaining work is lost.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from aggregator import heap, jobs
from aggregator.config import Settings
from aggregator.errors import AggregatorError, ConfigError

log = logging.getLogger(__name__)

EXIT_AT_ONCE = 130


def _then_free_memory(job: Callable[[Daemon], None]) -> Callable[[Daemon], None]:
    """After the job, its threads' freed memory goes back to the system (see heap.py)."""

    @functools.wraps(job)
    def run(daemon: Daemon) -> None:
        try:
            job(daemon)
        finally:
            heap.give_back_free_memory()

    return run


@dataclass(frozen=True)
class DaemonOptions:
    poll_seconds: float = 60.0
    publish_delay: float = 5.0
    grace_seconds: float = 20.0
    watch_seconds: float = 5.0
    prune_hours: float = 24.0


class Daemon:
    def __init__(
        self,
        load: Callable[[], Settings],
        settings: Settings,
        sessions: sessionmaker[Session],
        options: DaemonOptions,
    ) -> None:
        self.load = load
        self.settings = settings
        self.sessions = sessions
        self.options = options
        self.stopping = threading.Event()
        self.cancel = threading.Event()
        self.reload_requested = threading.Event()
        self.busy = threading.Lock()
        self.signals = 0
        self.config_stamp = _stamp(settings.path)
        self.scheduler = BackgroundScheduler(timezone=UTC)

    def run(self) -> None:
        """Block until stopped by a signal."""
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        try:
            with jobs.exclusive(self.settings, self.sessions):
                self._schedule()
                self.scheduler.start()
                log.info(
                    "daemon started: %d feeds, looking for due feeds every %gs",
                    len(self.settings.feeds),
                    self.options.poll_seconds,
                )
                while not self.stopping.wait(timeout=1.0):
                    if self.reload_requested.is_set():
                        self.reload_requested.clear()
                        self.reload()
                self._stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("daemon stopped")

    def _schedule(self) -> None:
        now = datetime.now(UTC)
        common = {"max_instances": 1, "coalesce": True}
        self.scheduler.add_job(
            self.poll, "interval", seconds=self.options.poll_seconds, next_run_time=now,
            id="poll", **common,
        )  # fmt: skip
        self.scheduler.add_job(
            self.watch, "interval", seconds=self.options.watch_seconds, id="watch", **common
        )
        self.scheduler.add_job(
            self.prune, "interval", hours=self.options.prune_hours,
            next_run_time=now + timedelta(minutes=10), id="prune", **common,
        )  # fmt: skip

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reload_requested.set()
            return
        self.signals += 1
        if self.signals > 1:
            log.warning("second signal: exiting at once")
            os._exit(EXIT_AT_ONCE)
        log.info("received %s: finishing the current job", signal.Signals(signum).name)
        self.stopping.set()

    def _stop(self) -> None:
        self.scheduler.pause()
        if not self.busy.acquire(timeout=self.options.grace_seconds):
            log.info("grace period over: stopping the update between two feeds")
            self.cancel.set()
            self.busy.acquire()
        self.busy.release()
        publish_pending = self.scheduler.get_job("publish") is not None
        self.scheduler.shutdown(wait=True)
        if publish_pending:
            self.publish()

    @_then_free_memory
    def poll(self) -> None:
        with self.busy:
            if self.stopping.is_set():
                return
            try:
                result = jobs.update(self.settings, self.sessions, should_stop=self.cancel.is_set)
            except AggregatorError as error:
                log.error("update failed: %s", error)
                return
            if result.polled:
                # Asked for while the lock is held, so that a stop, which takes the lock before
                # it shuts the scheduler down, either finds this publish pending or comes first:
                # APScheduler (3.11) holds its job stores' lock while it waits for running jobs
                # to end, so a job that adds one during the shutdown waits forever.
                self._publish_soon()
        if not result.polled:
            return
        log.info(
            "update: polled %d feeds in %.1fs: %d new, %d updated, %d unchanged (304), "
            "%d failed",
            result.polled, result.duration, result.new_entries, result.updated_entries,
            result.not_modified, result.failed,
            extra={
                "polled": result.polled, "new": result.new_entries,
                "updated": result.updated_entries, "not_modified": result.not_modified,
                "failed": result.failed, "seconds": round(result.duration, 3),
            },
        )  # fmt: skip
        for outcome in result.outcomes:
            if outcome.error:
                log.warning("%s: %s", outcome.url, outcome.error)

    def _publish_soon(self) -> None:
        if self.stopping.is_set():
            return
        self.scheduler.add_job(
            self.publish,
            "date",
            run_date=datetime.now(UTC) + timedelta(seconds=self.options.publish_delay),
            id="publish",
            replace_existing=True,
        )

    @_then_free_memory
    def publish(self) -> None:
        with self.busy:
            try:
                published = jobs.publish(self.settings, self.sessions)
            except AggregatorError as error:
                log.error("publish failed: %s", error)
                return
        if published.written:
            log.info("published %s", ", ".join(published.written))

    @_then_free_memory
    def prune(self) -> None:
        with self.busy:
            try:
                counts = jobs.prune(self.settings, self.sessions, self.settings.planet.retention)
            except AggregatorError as error:
                log.error("prune failed: %s", error)
                return
        log.info("pruned %d entries and %d fetch records", counts.entries, counts.attempts)

    def watch(self) -> None:
        stamp = _stamp(self.settings.path)
        if stamp != self.config_stamp:
            self.config_stamp = stamp
            self.reload_requested.set()

    def reload(self) -> None:
        """Apply an edited feeds.yaml; a broken one is logged and the running one kept."""
        try:
            settings = self.load()
        except ConfigError as error:
            for problem in error.problems:
                log.error("feeds.yaml not reloaded: %s", problem)
            return
        with self.busy:
            try:
                jobs.sync_configuration(settings, self.sessions)
            except AggregatorError as error:
                log.error("feeds.yaml not reloaded: %s", error)
                return
            self.settings = settings
        log.info("reloaded %s: %d feeds", settings.path, len(settings.feeds))
        self._publish_soon()
        self.scheduler.modify_job("poll", next_run_time=datetime.now(UTC))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size)


def run_daemon(
    load: Callable[[], Settings],
    settings: Settings,
    sessions: sessionmaker[Session],
    options: DaemonOptions,
) -> None:
    """`load` reads feeds.yaml again on reload; `settings` is what it gave at start."""
    Daemon(load, settings, sessions, options).run()
