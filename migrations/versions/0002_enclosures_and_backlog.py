"""entries: enclosures, and the backlog flag of a new feed's older entries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Both columns get a server default so the rows already stored need no data migration: they
have no enclosures and were all shown.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "entries", sa.Column("enclosures", sa.JSON(), nullable=False, server_default="[]")
    )
    op.add_column(
        "entries", sa.Column("backlog", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("backlog")
        batch.drop_column("enclosures")
