"""copies and languages get partial indexes that publishing can use

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

The index of `duplicate_of` held a NULL for every original, so SQLite answered "the newest
originals" (the front page, each tag and language page) by walking that index, reading every
row of the table and sorting it by date: 0.14 s and the whole 235 MB file for each page of a
planet of 100,000 entries. Holding only the copies, it serves what it is for (the copies of
given stories) and leaves "the newest" to the date index, which reads just those rows (0.009 s).
The languages of the stories were a scan of the table too; they now come from an index of the
entries that have a language (0.06 s to 0.0006 s).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COPIES = sa.text("duplicate_of IS NOT NULL")
_WITH_LANGUAGE = sa.text("language IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_entries_duplicate_of", table_name="entries")
    op.create_index(
        "ix_entries_duplicate_of",
        "entries",
        ["duplicate_of"],
        sqlite_where=_COPIES,
        postgresql_where=_COPIES,
    )
    op.create_index(
        "ix_entries_language",
        "entries",
        ["language", "pruned_at", "backlog"],
        sqlite_where=_WITH_LANGUAGE,
        postgresql_where=_WITH_LANGUAGE,
    )


def downgrade() -> None:
    op.drop_index("ix_entries_language", table_name="entries")
    op.drop_index("ix_entries_duplicate_of", table_name="entries")
    op.create_index("ix_entries_duplicate_of", "entries", ["duplicate_of"])
