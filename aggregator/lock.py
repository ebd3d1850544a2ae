"""One aggregator at a time per database: `update` from cron and the daemon never overlap.

SQLite gets a lock file next to the database (filelock: an OS lock, released by the kernel
when a process dies, even by kill -9); PostgreSQL a session advisory lock, released when its
connection closes, so several machines sharing one database are covered too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from aggregator.errors import AggregatorError

# An arbitrary constant that names "the aggregator's run lock" among advisory locks.
ADVISORY_KEY = 0x61676772


class AlreadyRunning(AggregatorError):
    """Another update or daemon holds the lock; this run does nothing."""


@contextmanager
def run_lock(database_url: str, engine: Engine) -> Iterator[None]:
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        with _file_lock(Path(parsed.database or "aggregator.db")):
            yield
    elif parsed.get_backend_name() == "postgresql":
        with _advisory_lock(engine):
            yield
    else:
        yield


@contextmanager
def _file_lock(database: Path) -> Iterator[None]:
    path = database.with_name(database.name + ".lock")
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise AlreadyRunning(f"another aggregator is running (lock held on {path})") from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _advisory_lock(engine: Engine) -> Iterator[None]:
    with engine.connect() as connection:
        acquired = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
        ).scalar()
        connection.commit()
        if not acquired:
            raise AlreadyRunning("another aggregator is running on this database")
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            connection.commit()
