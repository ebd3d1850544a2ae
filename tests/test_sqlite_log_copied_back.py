"""What is committed to SQLite reaches the database file without the committing thread copying
it there: a thread of its own copies the write-ahead log back (aggregator.sqlite_checkpoint)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from aggregator.db import create_database_engine
from aggregator.sqlite_checkpoint import BACKSTOP_PAGES


def _rows_in_file_alone(database: Path, copy: Path) -> int | None:
    """The rows of table t in the database file without its log, None while it has no table."""
    shutil.copyfile(database, copy)
    connection = sqlite3.connect(copy)
    try:
        return int(connection.execute("SELECT count(*) FROM t").fetchone()[0])
    except sqlite3.DatabaseError:
        return None
    finally:
        connection.close()


def test_commits_reach_the_database_file_while_the_connections_stay_open(
    tmp_path: Path,
) -> None:
    database = tmp_path / "planet.db"
    engine = create_database_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (n INTEGER)"))
        for batch in range(3):
            with engine.begin() as connection:
                connection.execute(
                    text("INSERT INTO t VALUES (:n)"), [{"n": batch * 10 + n} for n in range(10)]
                )
        with engine.connect() as reader:
            # Far below the connections' own checkpoint: only the background one copies it.
            pages = reader.exec_driver_sql("PRAGMA page_count").scalar_one()
            assert pages < BACKSTOP_PAGES
            deadline = time.monotonic() + 30
            found = _rows_in_file_alone(database, tmp_path / "copy.db")
            while found != 30 and time.monotonic() < deadline:
                time.sleep(0.05)
                found = _rows_in_file_alone(database, tmp_path / "copy.db")
            assert found == 30
    finally:
        engine.dispose()


def test_committing_connections_copy_the_log_back_only_once_it_is_long(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'planet.db'}")
    try:
        with engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    finally:
        engine.dispose()
    assert pages == BACKSTOP_PAGES
