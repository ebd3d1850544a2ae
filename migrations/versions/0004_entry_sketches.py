"""entry_sketches and sketch_values: lookup tables for cross-feed duplicate detection

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

Until now every new entry was compared with every entry of other feeds published within a
week, which grows with the square of the entries. entry_sketches lets the candidates be found by
the sketch values they share, and sketch_values counts the entries of each value so that stock
phrases are left out. Both are filled here from the fingerprints already stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As aggregator.dedupe.INDEX_SIZE and its signed encoding; copied so that this migration keeps
# doing what it did whatever the code becomes.
INDEX_SIZE = 16
SIGNED = 2**63
BATCH = 2000


def upgrade() -> None:
    sketches = op.create_table(
        "entry_sketches",
        sa.Column("hash", sa.BigInteger(), primary_key=True),
        sa.Column(
            "entry_id",
            sa.Integer(),
            sa.ForeignKey("entries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_entry_sketches_entry", "entry_sketches", ["entry_id"])
    op.create_table(
        "sketch_values",
        sa.Column("hash", sa.BigInteger(), primary_key=True),
        sa.Column("entries", sa.Integer(), nullable=False),
    )
    connection = op.get_bind()
    entries = sa.table(
        "entries",
        sa.column("id", sa.Integer()),
        sa.column("fingerprint", sa.Text()),
        sa.column("pruned_at", sa.DateTime()),
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(entries.c.id, entries.c.fingerprint)
            .where(entries.c.id > last, entries.c.pruned_at.is_(None))
            .order_by(entries.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        values = [
            {"hash": int(part, 16) - SIGNED, "entry_id": entry_id}
            for entry_id, fingerprint in rows
            for part in dict.fromkeys((fingerprint or "").split()[:INDEX_SIZE])
        ]
        if values:
            op.bulk_insert(sketches, values)
        last = rows[-1][0]
    connection.execute(
        sa.text(
            "INSERT INTO sketch_values (hash, entries) "
            "SELECT hash, count(*) FROM entry_sketches GROUP BY hash"
        )
    )


def downgrade() -> None:
    op.drop_table("sketch_values")
    op.drop_index("ix_entry_sketches_entry", table_name="entry_sketches")
    op.drop_table("entry_sketches")
