"""Engine, sessions and schema upgrades.

Every command calls `open_database`, which brings the schema up to date with Alembic, so a
maintainer never runs migrations by hand after an upgrade of the package. A new, empty database
is given the newest schema straight from the models and marked with its revision, as Alembic's
cookbook suggests ("building an up to date database from scratch"): replaying every migration
would load Alembic into the first update's process, 8 MiB kept for the whole run.
tests/test_database_schema.py holds the two schemas equal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from aggregator.errors import StorageError
from aggregator.models import Base
from aggregator.sqlite_checkpoint import BACKSTOP_PAGES, checkpoint_in_background

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

# The newest migration's revision. Asking Alembic means importing it and reading every
# migration script, about 0.2 s for each command, almost always to learn that nothing is to be
# done; so a database at this revision is known current without it, and Alembic is loaded only
# to upgrade. tests/test_database_schema.py holds this equal to the scripts' head.
SCHEMA_REVISION = "0009"

# Alembic's own record of the revision, as Alembic creates it.
_VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def migrations_dir() -> Path:
    """migrations/ sits beside the package in a checkout and inside it in a built wheel."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise StorageError("the Alembic migrations folder is missing from this installation")


def create_database_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StorageError(f"{url!r} is not a database URL: {error}") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                directory = Path(parsed.database).parent
                if not directory.is_dir():
                    problem = "is a file, not a folder" if directory.exists() else "does not exist"
                    raise StorageError(f"the database folder {directory} {problem}")
            engine = create_engine(parsed, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            if parsed.database and parsed.database != ":memory:":
                checkpoint_in_background(engine, parsed.database)
            return engine
        return create_engine(parsed, pool_pre_ping=True)
    except ModuleNotFoundError as error:
        raise StorageError(
            f"the driver for {parsed.drivername} is not installed ({error.name}); "
            "for PostgreSQL install aggregator[postgresql]"
        ) from None


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL lets the page be published while an update writes; foreign keys are off by default.
    The log is copied back by aggregator.sqlite_checkpoint, the connection's own copy kept for
    a log that grows anyway."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def upgrade(engine: Engine) -> list[str]:
    """Apply pending migrations; return the revisions applied (empty when already current)."""
    try:
        with engine.connect() as connection:
            revision = stored_revision(connection)
            if revision == SCHEMA_REVISION:
                return []
            empty = revision is None and not inspect(connection).get_table_names()
    except SQLAlchemyError as error:
        raise StorageError(f"cannot read the database's schema revision: {error}") from error
    if empty:
        return create_schema(engine)
    return upgrade_with_alembic(engine)


def stored_revision(connection: Connection) -> str | None:
    """The revision Alembic recorded, None for a database it has not touched."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def create_schema(engine: Engine) -> list[str]:
    """The newest schema in an empty database, from the models, marked as Alembic would."""
    try:
        with engine.begin() as connection:
            Base.metadata.create_all(connection)
            _VERSION_TABLE.create(connection)
            connection.execute(_VERSION_TABLE.insert().values(version_num=SCHEMA_REVISION))
    except SQLAlchemyError as error:
        raise StorageError(f"cannot create the database schema: {error}") from error
    log.info("database created at revision %s", SCHEMA_REVISION)
    return [SCHEMA_REVISION]


def upgrade_with_alembic(engine: Engine) -> list[str]:
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        with engine.begin() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            if current == head:
                return []
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as error:
        raise StorageError(f"cannot bring the database schema up to date: {error}") from error
    log.info("database upgraded from %s to %s", current or "empty", head)
    return [head] if head else []


def open_database(url: str) -> sessionmaker[Session]:
    """An up-to-date database, ready for sessions; StorageError in words when it is not."""
    engine = create_database_engine(url)
    try:
        upgrade(engine)
    except StorageError:
        engine.dispose()
        raise
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    return engine


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn driver errors into StorageError, the one database failure the CLI knows."""
    try:
        yield
    except SQLAlchemyError as error:
        raise StorageError(f"database error: {error}") from error


def database_exists(url: str) -> bool:
    """False for a SQLite file that is not there yet; a server database is assumed to be."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    if parsed.get_backend_name() != "sqlite":
        return True
    path = parsed.database
    return path is not None and path != ":memory:" and Path(path).is_file()
