"""Plain, frozen records handed from one stage to the next.

Every stage takes and returns these, so each can be tested with plain values and no network or
database; only `store` turns them into rows and back. The records an update holds one of for
every feed through the whole run are slotted, which keeps them about half the size: memory
then grows less with the number of feeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """What fetch needs to poll one feed, with the validators from its previous success."""

    feed_id: int
    url: str
    etag: str | None = None
    last_modified: str | None = None
    timeout: float = 30.0
    max_body_size: int = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DueFeed:
    """A feed the store says is due, with the state its next result is judged against."""

    id: int
    url: str
    fetch_url: str
    name: str
    status: str
    moved_to: str | None
    moved_confirmations: int
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    consecutive_errors: int
    failing_since: datetime | None
    publish_interval: timedelta | None


@dataclass(frozen=True)
class FetchResult:
    """One HTTP exchange. `error` is set, in words, when no usable body came back.

    `moved_to` is where the permanent redirects (301, 308) at the start of the chain led.
    """

    feed_id: int
    url: str
    started_at: datetime
    duration: float
    final_url: str | None = None
    moved_to: str | None = None
    status_code: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    error: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status_code == 304

    @property
    def size(self) -> int:
        return len(self.content) if self.content is not None else 0

    @cached_property
    def body_hash(self) -> str | None:
        """Worked out once, by whichever process asks first: the updating one asks to learn
        whether the body is the one last read, and the hash then travels with the result."""
        return hashlib.sha256(self.content).hexdigest() if self.content is not None else None


@dataclass(frozen=True)
class Enclosure:
    """A media file attached to an entry: a podcast episode, a video, a PDF."""

    url: str
    type: str | None = None
    length: int | None = None


@dataclass(frozen=True)
class Person:
    """An author or contributor with whatever the source gave: any of the three may be missing,
    and a missing name is never made up."""

    name: str | None = None
    email: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class Link:
    href: str
    rel: str = "alternate"
    type: str | None = None
    length: int | None = None
    title: str | None = None
    hreflang: str | None = None


@dataclass(frozen=True)
class Category:
    term: str
    scheme: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class TextForm:
    """How the source marked a text construct (text, html or xhtml) and its language."""

    type: str = "html"
    language: str | None = None


@dataclass(frozen=True)
class EntryDetails:
    """What the source said about an entry beyond its text: people, licence, every link,
    categories with their scheme, and the form of each text construct. Republished as given."""

    authors: tuple[Person, ...] = ()
    contributors: tuple[Person, ...] = ()
    links: tuple[Link, ...] = ()
    categories: tuple[Category, ...] = ()
    rights: str | None = None
    license: str | None = None
    title: TextForm = TextForm("text")
    content: TextForm = TextForm()
    # The title's markup, sanitized, when the source wrote it as HTML with tags in it.
    title_html: str | None = None


@dataclass(frozen=True)
class FeedDetails:
    """What a source feed says about itself, carried into each entry's atom:source."""

    id: str | None = None
    title: str | None = None
    subtitle: str | None = None
    links: tuple[Link, ...] = ()
    updated: datetime | None = None
    authors: tuple[Person, ...] = ()
    icon: str | None = None
    logo: str | None = None
    rights: str | None = None
    license: str | None = None
    categories: tuple[Category, ...] = ()


@dataclass(frozen=True)
class ParsedEntry:
    """An entry as the source wrote it: raw HTML, possibly relative URLs, nothing cleaned.

    Title, summary and content are all HTML: a construct the source marked as plain text is
    escaped by parse, so "AT&T" stays text and later stages handle one kind of value.
    """

    guid: str | None
    link: str | None
    title: str | None
    author: str | None
    summary: str | None
    content: str | None
    published: datetime | None
    updated: datetime | None
    categories: tuple[str, ...]
    base: str
    language: str | None
    enclosures: tuple[Enclosure, ...] = ()
    details: EntryDetails = EntryDetails()


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    link: str | None
    language: str | None
    entries: tuple[ParsedEntry, ...]
    warning: str | None = None
    update_hint: timedelta | None = None
    details: FeedDetails = FeedDetails()


@dataclass(frozen=True)
class CleanEntry:
    """An entry ready to store: a stable id, absolute links, sanitized HTML, UTC dates."""

    guid: str
    link: str | None
    title: str
    title_derived: bool
    author: str | None
    summary: str
    content: str
    language: str | None
    categories: tuple[str, ...]
    published: datetime
    updated: datetime | None
    content_hash: str
    enclosures: tuple[Enclosure, ...] = ()
    details: EntryDetails = EntryDetails()
    link_key: str | None = None
    fingerprint: str = ""
    text: str = field(default="", compare=False, repr=False)
    source_hash: str | None = None


@dataclass(frozen=True)
class FeedChange:
    """What one fetch does to a feed's row. Fields documented as "None keeps" leave the stored
    value alone; every other field is written as it is."""

    status: str
    fetch_url: str
    moved_to: str | None
    moved_confirmations: int
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    last_http_status: int | None
    last_error: str | None
    consecutive_errors: int
    failing_since: datetime | None
    last_fetched_at: datetime
    next_due_at: datetime | None
    last_success_at: datetime | None = None  # None keeps
    title: str | None = None  # None keeps
    site_link: str | None = None  # None keeps
    details: FeedDetails | None = None  # None keeps
    publish_interval: timedelta | None = None  # None keeps


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What happened to one feed in one update run."""

    feed_id: int
    url: str
    name: str
    state: str
    http_status: int | None = None
    new_entries: int = 0
    updated_entries: int = 0
    error: str | None = None


@dataclass(frozen=True)
class UpdateResult:
    outcomes: tuple[FeedOutcome, ...]
    duration: float

    @property
    def polled(self) -> int:
        return len(self.outcomes)

    @property
    def not_modified(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.state == "not_modified")

    @property
    def failed(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.error is not None)

    @property
    def new_entries(self) -> int:
        return sum(outcome.new_entries for outcome in self.outcomes)

    @property
    def updated_entries(self) -> int:
        return sum(outcome.updated_entries for outcome in self.outcomes)


@dataclass(frozen=True)
class FeedView:
    """A subscription as the outputs and `aggregator feeds` show it."""

    id: int
    url: str
    name: str
    link: str | None
    avatar: str | None
    tags: tuple[str, ...]
    language: str | None
    status: str
    last_fetched_at: datetime | None
    last_success_at: datetime | None
    last_http_status: int | None
    last_error: str | None
    consecutive_errors: int
    failing_since: datetime | None
    moved_to: str | None
    moved_confirmations: int
    next_due_at: datetime | None
    entry_count: int
    details: FeedDetails = FeedDetails()


@dataclass(frozen=True)
class EntryView:
    """A stored entry with what the outputs need to credit its source."""

    id: int
    guid: str
    link: str | None
    title: str
    author: str | None
    summary: str
    content: str
    language: str | None
    categories: tuple[str, ...]
    published: datetime
    updated: datetime | None
    first_seen: datetime
    feed: FeedView
    enclosures: tuple[Enclosure, ...] = ()
    details: EntryDetails = EntryDetails()
    also: tuple[AlsoPublished, ...] = ()


@dataclass(frozen=True)
class AlsoPublished:
    """Another source that published the same story."""

    name: str
    site: str | None
    link: str | None


@dataclass(frozen=True)
class FeedHealth:
    """A subscription as the status page shows it to maintainers."""

    feed: FeedView
    recent_entries: int
    advice: str | None


@dataclass(frozen=True)
class PublishResult:
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...] = ()
