"""`aggregator run`: APScheduler polls for due feeds; signals stop it cleanly.

The per-feed schedule lives in the database (feeds.next_due_at), so the scheduler only needs
one short periodic job that asks which feeds are due; cron mode and the daemon share that
schedule and a restart loses nothing.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from aggregator import jobs
from aggregator.config import Settings
from aggregator.errors import AggregatorError

log = logging.getLogger(__name__)


def run_daemon(settings: Settings, sessions: sessionmaker[Session], poll_seconds: float) -> None:
    """Block until SIGINT or SIGTERM; the job in progress finishes before returning."""
    stopping = threading.Event()
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        _poll,
        "interval",
        args=(settings, sessions),
        seconds=poll_seconds,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        id="poll",
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping after the current job", signal.Signals(signum).name)
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        scheduler.start()
        log.info(
            "daemon started: %d feeds, looking for due feeds every %gs",
            len(settings.feeds),
            poll_seconds,
        )
        while not stopping.wait(timeout=1.0):
            pass
        scheduler.shutdown(wait=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("daemon stopped")


def _poll(settings: Settings, sessions: sessionmaker[Session]) -> None:
    try:
        result, published = jobs.update(settings, sessions)
    except AggregatorError as error:
        log.error("update failed: %s", error)
        return
    if result.polled:
        log.info(
            "polled %d feeds in %.1fs: %d new, %d updated, %d unchanged, %d failed",
            result.polled,
            result.duration,
            result.new_entries,
            result.updated_entries,
            result.not_modified,
            result.failed,
        )
    if published.written:
        log.info("published %s", ", ".join(published.written))
