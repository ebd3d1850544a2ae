"""A command closes its database connections when it ends.

Commands also run one after another in one process (a script calling the CLI, the tests), and
PostgreSQL refuses clients beyond its limit; connections left for the collector to close piled
up until it did.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import FeedServer, Planet


@pytest.fixture
def collector_paused() -> Iterator[None]:
    """Nothing is closed behind a command's back while it is watched."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _connections(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "command",
    [
        ("update",),
        ("publish",),
        ("feeds",),
        ("export-opml",),
        ("check",),
        ("prune",),
        ("db", "upgrade"),
    ],
)
def test_a_command_leaves_no_connection_open(
    postgresql_url: str,
    planet: Planet,
    feed_server: FeedServer,
    collector_paused: None,
    command: tuple[str, ...],
) -> None:
    url = feed_server.serve_fixture("/ist/feed/", "ist.rss.xml")
    planet.write_config([{"url": url}])
    before = _connections(postgresql_url)
    result = planet.run(*command)
    assert result.exit_code == 0, result.output
    assert _connections(postgresql_url) == before
