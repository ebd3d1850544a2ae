"""indexes on entries by first-seen date and by feed and date

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Whether a new feed's first batch goes to the front page asks whether any entry was first seen
before the feed was added; without an index that read every entry, once per new feed, which grew
with the square of the planet on its first run. Each source page lists its feed's newest
entries, which the (feed, published) index reads without sorting the whole table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_entries_first_seen", "entries", ["first_seen_at"])
    op.create_index("ix_entries_feed_published", "entries", ["feed_id", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_entries_feed_published", table_name="entries")
    op.drop_index("ix_entries_first_seen", table_name="entries")
