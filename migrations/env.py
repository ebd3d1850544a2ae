"""Alembic environment: runs on the connection handed over by aggregator.db, or on its own."""

import os

from alembic import context
from sqlalchemy import create_engine

from aggregator.models import Base

target_metadata = Base.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = os.environ.get("AGGREGATOR_DATABASE_URL", "sqlite:///aggregator.db")
    with create_engine(url).begin() as own_connection:
        _migrate(own_connection)


def _migrate(connection):  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
