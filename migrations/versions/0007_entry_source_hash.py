"""entries remember a hash of the source they were normalized from

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

A feed that gains one entry is sent whole, and normalizing its other entries again (sanitizing,
language detection, text sketches) was most of the work of reading it. With the hash of each
entry as the source wrote it, and of the options it was normalized with, an entry already
stored from the same source is not normalized again. Entries stored before this revision have
none, and get theirs the next time their feed's body changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("entries", sa.Column("source_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("source_hash")
