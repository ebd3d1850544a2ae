"""The schema comes from migrations, is applied by every command, and matches the models; a new
database is given the same schema straight from the models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from aggregator.db import (
    SCHEMA_REVISION,
    alembic_config,
    create_database_engine,
    stored_revision,
    upgrade,
    upgrade_with_alembic,
)
from aggregator.models import Base
from tests.conftest import Planet


def test_migrations_create_every_table_the_models_declare(database_url: str) -> None:
    engine = create_database_engine(database_url)
    assert upgrade_with_alembic(engine) != []
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_a_new_database_gets_the_schema_the_migrations_build(database_url: str) -> None:
    engine = create_database_engine(database_url)
    upgrade_with_alembic(engine)
    migrated = schema_of(engine)
    _empty(engine)
    assert upgrade(engine) == [SCHEMA_REVISION]
    created = schema_of(engine)
    with engine.connect() as connection:
        revision = stored_revision(connection)
    # Alembic reads the mark as its own and finds nothing to apply.
    assert upgrade_with_alembic(engine) == []
    engine.dispose()
    assert created == migrated
    assert revision == SCHEMA_REVISION


def test_a_command_on_a_new_database_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'planet.db'}"
    program = (
        "import sys\n"
        "from aggregator.db import open_database\n"
        f"open_database({url!r})\n"
        "print(sorted(name for name in sys.modules if name.startswith('alembic')))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
    assert "entries" in inspect(create_engine(url)).get_table_names()


def schema_of(engine: Engine) -> dict[str, Any]:
    """Every table's columns, keys, indexes and constraints as the database reports them."""
    inspector = inspect(engine)
    tables: dict[str, Any] = {}
    for name in inspector.get_table_names():
        tables[name] = {
            "columns": {
                column["name"]: (str(column["type"]), column["nullable"], column["default"])
                for column in inspector.get_columns(name)
            },
            "primary key": inspector.get_pk_constraint(name)["constrained_columns"],
            "foreign keys": sorted(
                (
                    tuple(key["constrained_columns"]),
                    key["referred_table"],
                    tuple(key["referred_columns"]),
                    key.get("options", {}).get("ondelete"),
                )
                for key in inspector.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (
                    index["name"],
                    tuple(index["column_names"]),
                    index["unique"],
                    sorted(
                        (option, str(value)) for option, value in index["dialect_options"].items()
                    ),
                )
                for index in inspector.get_indexes(name)
            ),
            "unique": sorted(
                (constraint["name"], tuple(constraint["column_names"]))
                for constraint in inspector.get_unique_constraints(name)
            ),
        }
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            for name, sql in connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            ):
                tables[name]["without rowid"] = "WITHOUT ROWID" in sql.upper()
    return tables


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            for (name,) in connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table'")
            ).all():
                connection.execute(text(f'DROP TABLE "{name}"'))
        else:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))


def test_upgrade_twice_applies_nothing_the_second_time(database_url: str) -> None:
    engine = create_database_engine(database_url)
    upgrade(engine)
    assert upgrade(engine) == []
    engine.dispose()


def test_the_revision_taken_as_current_is_the_newest_migration() -> None:
    """Commands skip Alembic for a database at SCHEMA_REVISION: a new migration must move it."""
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_REVISION


def test_db_upgrade_command_and_every_command_migrate_an_empty_database(planet: Planet) -> None:
    planet.write_config([])
    result = planet.run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "schema is up to date" in result.output
    engine = create_engine(planet.database_url)
    assert "entries" in inspect(engine).get_table_names()
    engine.dispose()


def test_sqlite_database_runs_in_wal_mode(planet: Planet) -> None:
    if not planet.database_url.startswith("sqlite"):
        return
    planet.write_config([])
    assert planet.run("db", "upgrade").exit_code == 0
    engine = create_database_engine(planet.database_url)
    with engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    engine.dispose()
    assert mode == "wal"


def test_unreachable_database_is_a_clear_error_with_exit_3(planet: Planet) -> None:
    planet.write_config([])
    missing = planet.root / "no-such-folder" / "planet.db"
    result = planet.run("--database", f"sqlite:///{missing}", "update")
    assert result.exit_code == 3
    assert "no-such-folder" in result.stderr
    assert "Traceback" not in result.output


def test_a_database_path_through_a_file_names_the_file(planet: Planet) -> None:
    """A typo such as feeds.yaml/planet.db: the message names what is in the way."""
    planet.write_config([])
    result = planet.run("--database", f"sqlite:///{planet.config}/planet.db", "update")
    assert result.exit_code == 3
    assert f"the database folder {planet.config} is a file, not a folder" in result.stderr
    assert "Traceback" not in result.output


def test_a_database_of_the_first_release_is_upgraded_with_its_entries_intact(
    database_url: str,
) -> None:
    engine = create_database_engine(database_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO feeds (id, url, fetch_url, tags, status, moved_confirmations, "
                "consecutive_errors, created_at) VALUES (1, 'https://e.test/feed', "
                "'https://e.test/feed', '[]', 'ok', 0, 0, '2026-01-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO entries (feed_id, guid, title, title_derived, summary, content, "
                "categories, published_at, first_seen_at, content_hash, fingerprint) VALUES "
                "(1, 'urn:x', 'Strike', false, 's', '<p>c</p>', '[]', '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00', 'h', '')"
            )
        )
    assert upgrade(engine) != []
    with engine.connect() as connection:
        row = connection.execute(text("SELECT title, enclosures, backlog FROM entries")).one()
    engine.dispose()
    assert row.title == "Strike"
    assert row.enclosures in ("[]", [])
    assert row.backlog in (False, 0)
