"""entries and feeds: what the source said about them (people, licence, links, categories)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

One JSON document per row rather than a column per field: these are carried through to the
outputs as the source gave them and never queried. Rows stored before have none; each gains
its details the next time its feed is parsed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("entries", sa.Column("details", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("feeds", sa.Column("details", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("details")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("details")
