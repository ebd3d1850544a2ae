"""feeds, entries and fetch attempts

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Times are naive UTC DateTime columns; aggregator.models.UtcDateTime adds the zone in Python.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False, unique=True),
        sa.Column("fetch_url", sa.String(2048), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("link", sa.String(2048)),
        sa.Column("avatar", sa.String(2048)),
        sa.Column("title", sa.Text()),
        sa.Column("site_link", sa.String(2048)),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(35)),
        sa.Column("config_hash", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("moved_to", sa.String(2048)),
        sa.Column("moved_confirmations", sa.Integer(), nullable=False),
        sa.Column("etag", sa.Text()),
        sa.Column("last_modified", sa.Text()),
        sa.Column("body_hash", sa.String(64)),
        sa.Column("last_http_status", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("consecutive_errors", sa.Integer(), nullable=False),
        sa.Column("failing_since", sa.DateTime()),
        sa.Column("publish_interval_seconds", sa.Integer()),
        sa.Column("last_fetched_at", sa.DateTime()),
        sa.Column("last_success_at", sa.DateTime()),
        sa.Column("last_new_entry_at", sa.DateTime()),
        sa.Column("next_due_at", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_feeds_next_due_at", "feeds", ["next_due_at"])

    op.create_table(
        "entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "feed_id", sa.Integer(), sa.ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("guid", sa.String(512), nullable=False),
        sa.Column("link", sa.String(2048)),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("title_derived", sa.Boolean(), nullable=False),
        sa.Column("author", sa.Text()),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("language", sa.String(35)),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime()),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("pruned_at", sa.DateTime()),
        sa.Column("link_key", sa.String(2048)),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("duplicate_of", sa.Integer(), sa.ForeignKey("entries.id", ondelete="SET NULL")),
        sa.UniqueConstraint("feed_id", "guid", name="uq_entries_feed_guid"),
    )
    op.create_index("ix_entries_published", "entries", ["published_at"])
    op.create_index("ix_entries_link_key", "entries", ["link_key"])
    op.create_index("ix_entries_duplicate_of", "entries", ["duplicate_of"])

    op.create_table(
        "fetch_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "feed_id", sa.Integer(), sa.ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("new_entries", sa.Integer(), nullable=False),
        sa.Column("updated_entries", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_fetch_attempts_feed_started", "fetch_attempts", ["feed_id", "started_at"])


def downgrade() -> None:
    op.drop_table("fetch_attempts")
    op.drop_table("entries")
    op.drop_table("feeds")
