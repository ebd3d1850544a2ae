"""The schema comes only from migrations, is applied by every command, and matches the models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from aggregator.db import SCHEMA_REVISION, alembic_config, create_database_engine, upgrade
from aggregator.models import Base
from tests.conftest import Planet


def test_migrations_create_every_table_the_models_declare(database_url: str) -> None:
    engine = create_database_engine(database_url)
    assert upgrade(engine) != []
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


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
