"""on SQLite, the sketch lookup tables become WITHOUT ROWID tables

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

Each stored entry writes 16 rows to entry_sketches and counts 16 values in sketch_values, at
random places of their keys. As ordinary SQLite tables each row went into the table by rowid and
again into the primary key's index; stored by their primary key, a row is written once, and a
lookup by value reads the table itself. Storing the 1,000-feed benchmark farm spent a quarter of
its time here. PostgreSQL has no rowid and is left as it is.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)


def _rebuild(with_rowid: bool) -> None:
    """SQLite cannot change a table's storage in place: copy each table into a new one."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_entry_sketches_entry", table_name="entry_sketches")
    _copy(
        "entry_sketches",
        with_rowid,
        sa.Column("hash", sa.BigInteger(), primary_key=True),
        sa.Column(
            "entry_id",
            sa.Integer(),
            sa.ForeignKey("entries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_entry_sketches_entry", "entry_sketches", ["entry_id"])
    _copy(
        "sketch_values",
        with_rowid,
        sa.Column("hash", sa.BigInteger(), primary_key=True),
        sa.Column("entries", sa.Integer(), nullable=False),
    )


def _copy(name: str, with_rowid: bool, *columns: sa.Column[object]) -> None:
    op.create_table(f"{name}_new", *columns, sqlite_with_rowid=with_rowid)
    listed = ", ".join(column.name for column in columns)
    op.execute(f"INSERT INTO {name}_new ({listed}) SELECT {listed} FROM {name}")
    op.drop_table(name)
    op.rename_table(f"{name}_new", name)
