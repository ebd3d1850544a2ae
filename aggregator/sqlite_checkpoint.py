"""Copying SQLite's write-ahead log into the database file from a thread of its own.

SQLite copies the log back at the commit that makes it long enough (a checkpoint), in the
committing thread: during a cold update the storing thread, which everything else waits for,
spent about a seventh of its time there, most of it waiting for the disk to sync. Here every
connection that wrote starts a checkpoint on another connection when it goes back to the pool,
and the thread that committed goes on. A checkpoint of this kind ("passive") waits for no one
and takes nothing from readers or writers: it copies what it can, and what it could not is
copied by the next one. The connections' own checkpoints stay as a backstop for a log that
grows anyway (`BACKSTOP_PAGES`).

This is not in SQLAlchemy or the sqlite3 module; it is a dozen lines over SQLite's own pragma.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

# The committing connection still checkpoints a log this long (4 KiB pages): SQLite's default
# is 1,000, which a cold update's batch of feeds reaches at almost every commit.
BACKSTOP_PAGES = 10_000
_CHANGES = "aggregator.total_changes"


class Checkpointer:
    """Runs checkpoints of one database file, one at a time, on a short-lived thread: a request
    made while one runs is served once it ends, and the thread ends when none is left."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._requested = False
        self._running: threading.Thread | None = None

    def request(self) -> None:
        with self._lock:
            self._requested = True
            if self._running is not None:
                return
            thread = threading.Thread(target=self._serve, name="sqlite-checkpoint", daemon=True)
            self._running = thread
        try:
            thread.start()
        except RuntimeError:
            # At interpreter shutdown no thread starts; the connections' backstop remains.
            with self._lock:
                self._running = None

    def _serve(self) -> None:
        while True:
            with self._lock:
                if not self._requested:
                    self._running = None
                    return
                self._requested = False
            checkpoint(self.path)


def checkpoint(path: str) -> None:
    """Copy what the log holds into the database file, as far as readers allow."""
    try:
        connection = sqlite3.connect(path, timeout=30)
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()
    except sqlite3.Error as error:
        log.debug("%s: checkpoint skipped: %s", path, error)


def checkpoint_in_background(engine: Engine, path: str) -> None:
    """Attach a Checkpointer to `engine`: a connection that changed rows since it was last
    checked out requests a checkpoint when it is checked in."""
    checkpointer = Checkpointer(path)

    def checked_in(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is None:
            return
        changes = dbapi_connection.total_changes
        if record.info.get(_CHANGES, 0) != changes:
            record.info[_CHANGES] = changes
            checkpointer.request()

    event.listen(engine, "checkin", checked_in)
