"""The database tables. Every change here comes with an Alembic migration in migrations/.

Times are stored as naive UTC (`UtcDateTime`) so SQLite and PostgreSQL hold the same values
and comparisons never mix aware and naive datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy import false as sql_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

GUID_MAX_LENGTH = 512


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(moment, datetime)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Feed(Base):
    """A configured feed and what we know of its source.

    status: new (never fetched), ok, failing, moved (fetched at the address a permanent
    redirect gave; feeds.yaml should be changed), gone (410: not polled until feeds.yaml
    changes), disabled (enabled: false), removed (no longer in feeds.yaml).
    """

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    fetch_url: Mapped[str] = mapped_column(String(2048))
    name: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(2048))
    avatar: Mapped[str | None] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(Text)
    site_link: Mapped[str | None] = mapped_column(String(2048))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(35))
    config_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="new")
    moved_to: Mapped[str | None] = mapped_column(String(2048))
    # Successful fetches in a row at the moved_to address; `check --fix` trusts a move at 3.
    moved_confirmations: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_hash: Mapped[str | None] = mapped_column(String(64))
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    publish_interval_seconds: Mapped[int | None] = mapped_column(Integer)
    last_fetched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_new_entry_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # What the feed says about itself (records.FeedDetails as JSON), for atom:source.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")

    entries: Mapped[list[Entry]] = relationship(back_populates="feed", passive_deletes=True)


class Entry(Base):
    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("feed_id", "guid", name="uq_entries_feed_guid"),
        Index("ix_entries_published", "published_at"),
        Index("ix_entries_first_seen", "first_seen_at"),
        Index("ix_entries_feed_published", "feed_id", "published_at", "pruned_at"),
        # Only copies: an index of every original's NULL led SQLite to read the whole table,
        # sorting it by date, for "the newest originals" (see migration 0009).
        Index(
            "ix_entries_duplicate_of",
            "duplicate_of",
            sqlite_where=text("duplicate_of IS NOT NULL"),
            postgresql_where=text("duplicate_of IS NOT NULL"),
        ),
        # The languages the stories are in, from the index alone.
        Index(
            "ix_entries_language",
            "language",
            "pruned_at",
            "backlog",
            sqlite_where=text("language IS NOT NULL"),
            postgresql_where=text("language IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(GUID_MAX_LENGTH))
    link: Mapped[str | None] = mapped_column(String(2048))
    title: Mapped[str] = mapped_column(Text)
    title_derived: Mapped[bool] = mapped_column(Boolean, default=False)
    author: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(35))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"url": …, "type": … or null, "length": … or null}]
    enclosures: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default="[]"
    )
    published_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    # normalize.source_hash of what the entry was normalized from: a fetch that brings the
    # same source again need not normalize it again.
    source_hash: Mapped[str | None] = mapped_column(String(64))
    # Set when `prune` emptied the entry: the row stays as a tombstone so that the source's
    # copy of it is recognised and never published again as new.
    pruned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # See dedupe.py: the canonical link without scheme and www, and a sketch of the text.
    link_key: Mapped[str | None] = mapped_column(String(2048), index=True)
    fingerprint: Mapped[str] = mapped_column(Text, default="")
    # The entry of another feed that represents the same story (the earliest published).
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("entries.id", ondelete="SET NULL"))
    # Older entries a feed brought with its first fetch, beyond its `new_feed_items`: kept
    # for its own page but not put on the front page and combined feeds all at once.
    backlog: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sql_false())
    # What the source said about the entry (records.EntryDetails as JSON).
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")

    feed: Mapped[Feed] = relationship(back_populates="entries")


class EntrySketch(Base):
    """The smallest values of each entry's text sketch, to find the entries of other feeds that
    share text with a new one without reading every recent entry (see dedupe.index_values)."""

    __tablename__ = "entry_sketches"
    # Stored by its key on SQLite (migration 0006): a row is written once, not twice.
    __table_args__ = (Index("ix_entry_sketches_entry", "entry_id"), {"sqlite_with_rowid": False})

    hash: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
    )


class SketchValue(Base):
    """How many entries have each lookup value: one shared by very many is boilerplate, not a
    sign of the same story, and looking it up would read a growing share of the table."""

    __tablename__ = "sketch_values"
    __table_args__ = ({"sqlite_with_rowid": False},)

    hash: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entries: Mapped[int] = mapped_column(Integer)


class FetchAttempt(Base):
    __tablename__ = "fetch_attempts"
    __table_args__ = (Index("ix_fetch_attempts_feed_started", "feed_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer, default=0)
    new_entries: Mapped[int] = mapped_column(Integer, default=0)
    updated_entries: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
