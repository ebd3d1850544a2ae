"""Stored rows read back as the records the outputs show (records.EntryView and its details).

Apart from the database library, so that a process that renders pages (publish_pool) can make
the views itself: a source page's entries travel there as the rows read, which cost a quarter
of the views to send and to receive, and the making of the views is shared among the workers
instead of falling on the process that reads the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, NamedTuple, overload

from aggregator.records import (
    AlsoPublished,
    Category,
    Enclosure,
    EntryDetails,
    EntryView,
    FeedDetails,
    FeedView,
    Link,
    Person,
    TextForm,
)


class StoredEntry(NamedTuple):
    """The columns of an entry that the outputs show, as read (store.VIEW_COLUMNS); the JSON
    and date columns still as text."""

    id: int
    feed_id: int
    guid: str
    link: str | None
    title: str
    author: str | None
    summary: str
    content: str
    language: str | None
    categories: str | None
    published_at: str
    updated_at: str | None
    first_seen_at: str
    enclosures: str | None
    details: str | None
    duplicate_of: int | None


class FeedEntries(Sequence[EntryView]):
    """One feed's entries as stored, made into views when first read, and sent to another
    process as the stored rows."""

    def __init__(
        self,
        rows: Sequence[StoredEntry],
        feed: FeedView,
        also: Mapping[int, tuple[AlsoPublished, ...]],
    ) -> None:
        self._rows = rows
        self._feed = feed
        self._also = also

    @cached_property
    def _views(self) -> list[EntryView]:
        return [entry_view(row, self._feed, self._also.get(row.id, ())) for row in self._rows]

    @overload
    def __getitem__(self, index: int) -> EntryView: ...
    @overload
    def __getitem__(self, index: slice) -> list[EntryView]: ...
    def __getitem__(self, index: int | slice) -> EntryView | list[EntryView]:
        return self._views[index]

    def __iter__(self) -> Iterator[EntryView]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._rows)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FeedEntries, (list(self._rows), self._feed, dict(self._also)))

    def inputs(
        self,
    ) -> tuple[Sequence[StoredEntry], FeedView, Mapping[int, tuple[AlsoPublished, ...]]]:
        """What the views are made of, for a digest of a page that does not make them."""
        return self._rows, self._feed, self._also


def entry_view(entry: StoredEntry, feed: FeedView, also: tuple[AlsoPublished, ...]) -> EntryView:
    return EntryView(
        id=entry.id,
        guid=entry.guid,
        link=entry.link,
        title=entry.title,
        author=entry.author,
        summary=entry.summary,
        content=entry.content,
        language=entry.language,
        categories=tuple(_decoded(entry.categories) or ()),
        published=moment(entry.published_at),
        updated=moment(entry.updated_at) if entry.updated_at else None,
        first_seen=moment(entry.first_seen_at),
        feed=feed,
        enclosures=tuple(
            Enclosure(item["url"], item.get("type"), item.get("length"))
            for item in _decoded(entry.enclosures) or ()
        ),
        details=entry_details(_decoded(entry.details) or {}),
        also=also,
    )


def moment(stored: str) -> datetime:
    """A stored UTC date as its text ("2026-12-06 04:41:29.123456", the naive UTC that
    models.UtcDateTime writes) made aware."""
    value = datetime.fromisoformat(stored)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _decoded(stored: str | None) -> Any:
    return json.loads(stored) if stored else None


def entry_details(document: dict[str, Any]) -> EntryDetails:
    return EntryDetails(
        authors=_people(document.get("authors")),
        contributors=_people(document.get("contributors")),
        links=tuple(Link(**item) for item in document.get("links") or ()),
        categories=tuple(Category(**item) for item in document.get("categories") or ()),
        rights=document.get("rights"),
        license=document.get("license"),
        title=TextForm(**document.get("title", {"type": "text"})),
        content=TextForm(**document.get("content", {"type": "html"})),
        title_html=document.get("title_html"),
    )


def feed_details(document: dict[str, Any]) -> FeedDetails:
    updated = document.get("updated")
    return FeedDetails(
        id=document.get("id"),
        title=document.get("title"),
        subtitle=document.get("subtitle"),
        links=tuple(Link(**item) for item in document.get("links") or ()),
        updated=datetime.fromisoformat(updated) if updated else None,
        authors=_people(document.get("authors")),
        icon=document.get("icon"),
        logo=document.get("logo"),
        rights=document.get("rights"),
        license=document.get("license"),
        categories=tuple(Category(**item) for item in document.get("categories") or ()),
    )


def _people(items: list[dict[str, Any]] | None) -> tuple[Person, ...]:
    return tuple(Person(**item) for item in items or ())
