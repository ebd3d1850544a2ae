"""Every read and write of the database during an update and for publishing.

Each feed's result is written in one transaction with a fixed number of statements however many
entries it carries: one select of the known ids, one multi-row insert, one bulk update.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import (
    CTE,
    JSON,
    BigInteger,
    ClauseElement,
    ColumnElement,
    Connection,
    CursorResult,
    Executable,
    Integer,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

from aggregator.config import FeedConfig
from aggregator.dedupe import (
    COMMON,
    LOOKUP_ROWS,
    MIN_SHARED,
    WINDOW,
    Candidate,
    index_values,
    merges,
    parse_fingerprint,
)
from aggregator.models import Entry, EntrySketch, Feed, FetchAttempt, SketchValue
from aggregator.records import (
    AlsoPublished,
    CleanEntry,
    DueFeed,
    EntryDetails,
    EntryView,
    FeedChange,
    FeedDetails,
    FeedView,
    FetchResult,
)
from aggregator.views import FeedEntries, StoredEntry, entry_view, feed_details

INACTIVE = ("disabled", "removed", "gone")
_NOT_FEED_SETTINGS = frozenset({"line", "retention", "iframe_hosts"})
_IN_CHUNK = 500
# New entries whose cross-feed candidates one statement looks up.
_LOOKUP_GROUP = 25
# What every fetch writes goes to the tables directly, not through the ORM: a batch of rows is
# one executemany, without the ORM's bookkeeping for every row.
_FEED_TABLE = cast(Table, Feed.__table__)
_ATTEMPT_TABLE = cast(Table, FetchAttempt.__table__)
_ENTRY_TABLE = cast(Table, Entry.__table__)
_SKETCH_TABLE = cast(Table, EntrySketch.__table__)
_VALUE_TABLE = cast(Table, SketchValue.__table__)


def sync_feeds(session: Session, feeds: Iterable[FeedConfig], now: datetime) -> None:
    """Make the feeds table match feeds.yaml: add new feeds, apply edits, retire removed ones.

    A removed feed keeps its row and entries (so re-adding it does not re-publish old items as
    new) but is no longer polled or shown. A feed whose url in feeds.yaml was changed to the
    address it had moved to keeps its row, its entries and its history. A feed that is gone
    comes back to life when its entry in feeds.yaml is edited.

    Each row is read with what tells whether feeds.yaml changed it (its config_hash), not with
    the columns feeds.yaml sets, which are written again only when it did; rows that differ are
    written in a statement for each set of changed columns, and new feeds in chunks. Loading
    every feed as an ORM object cost 3 KB a feed at every command's start, 30 MiB for a planet
    of 10,000; the rows' other columns and every new feed's row at once, 15 MiB more at the
    first run, which the process kept as free memory in its heap for the whole run.
    """
    rows = session.execute(_SYNC_READ).all()
    existing = {row.url: row for row in rows}
    moved = {row.moved_to: row for row in rows if row.moved_to}
    configured = set()
    adopted = set()
    changes: dict[int, dict[str, Any]] = {}
    added: list[tuple[FeedConfig, str]] = []
    for config in feeds:
        configured.add(config.url)
        fingerprint = config_hash(config)
        row = existing.get(config.url)
        if row is not None and row.id in adopted:
            row = None
        wanted: dict[str, Any] = {}
        if row is None and config.url in moved and moved[config.url].url not in configured:
            row = moved[config.url]
            adopted.add(row.id)
            wanted.update(url=config.url, moved_to=None, status="ok", moved_confirmations=0)
        if row is None:
            added.append((config, fingerprint))
            continue
        status = wanted.get("status", row.status)
        edited = row.config_hash is not None and row.config_hash != fingerprint
        if not config.enabled:
            wanted["status"] = "disabled"
        elif status in ("disabled", "removed") or (status == "gone" and edited):
            wanted.update(status="new", next_due_at=now)
        # The columns not read (a due date, a count set back to 0) are always written.
        changed = {key: value for key, value in wanted.items() if getattr(row, key, None) != value}
        if row.config_hash != fingerprint:
            changed.update(_configured_columns(config, fingerprint))
        if changed:
            changes[row.id] = changed
    for url, row in existing.items():
        if url not in configured and row.id not in adopted and row.status != "removed":
            changes.setdefault(row.id, {})["status"] = "removed"
    # Updates first: a feed adopted at the address it moved to frees its old one.
    _update_feeds(session, changes.items())
    for start in range(0, len(added), _NEW_FEEDS_CHUNK):
        chunk = added[start : start + _NEW_FEEDS_CHUNK]
        session.execute(insert(_FEED_TABLE), [_new_feed(*new, now) for new in chunk])


_SYNC_READ = select(Feed.id, Feed.url, Feed.moved_to, Feed.status, Feed.config_hash)
# New feeds inserted by one statement: a planet's first run adds all of them.
_NEW_FEEDS_CHUNK = 500


def _configured_columns(config: FeedConfig, fingerprint: str) -> dict[str, Any]:
    """The columns of a feed's row that feeds.yaml sets."""
    return {
        "config_hash": fingerprint,
        "name": config.name,
        "link": config.link,
        "avatar": config.avatar,
        "tags": list(config.tags),
        "language": config.language,
    }


def _new_feed(config: FeedConfig, fingerprint: str, now: datetime) -> dict[str, Any]:
    return {
        **_configured_columns(config, fingerprint),
        "url": config.url,
        "fetch_url": config.url,
        "status": "new" if config.enabled else "disabled",
        "consecutive_errors": 0,
        "moved_confirmations": 0,
        "created_at": now,
        "next_due_at": now,
    }


def config_hash(config: FeedConfig) -> str:
    """What the maintainer wrote for a feed, so an edit can be told from no edit.

    Settings of the whole planet and options left at their default are not part of it, so a
    new release that adds an option does not make every feed look edited.
    """
    written = {
        key: _plain(value)
        for key, default in _feed_defaults().items()
        if (value := getattr(config, key)) != default
    }
    text = json.dumps(written, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def _feed_defaults() -> dict[str, Any]:
    return {
        item.name: item.default
        for item in fields(FeedConfig)
        if item.name not in _NOT_FEED_SETTINGS
    }


def _plain(value: Any) -> Any:
    """What dataclasses.asdict makes of a value, for the options that differ from their default
    alone: asdict copied every option of every feed at each run (47 ms for 1,000 feeds, 13 ms
    this way)."""
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


def due_feeds(session: Session, now: datetime, ignore_schedule: bool = False) -> list[DueFeed]:
    """Feeds to poll now; with ignore_schedule every active one (gone feeds stay stopped).
    Read as rows of the columns a fetch needs, not as ORM objects (see sync_feeds)."""
    query = _DUE_READ.where(Feed.status.not_in(INACTIVE)).order_by(Feed.id)
    if not ignore_schedule:
        query = query.where(or_(Feed.next_due_at.is_(None), Feed.next_due_at <= now))
    return [
        DueFeed(
            id=row.id,
            url=row.url,
            fetch_url=row.fetch_url,
            name=_display_name(row.name, row.title, row.url),
            status=row.status,
            moved_to=row.moved_to,
            moved_confirmations=row.moved_confirmations,
            etag=row.etag,
            last_modified=row.last_modified,
            body_hash=row.body_hash,
            consecutive_errors=row.consecutive_errors,
            failing_since=row.failing_since,
            publish_interval=(
                timedelta(seconds=row.publish_interval_seconds)
                if row.publish_interval_seconds is not None
                else None
            ),
        )
        for row in session.execute(query)
    ]


_DUE_READ = select(
    Feed.id,
    Feed.url,
    Feed.fetch_url,
    Feed.name,
    Feed.title,
    Feed.status,
    Feed.moved_to,
    Feed.moved_confirmations,
    Feed.etag,
    Feed.last_modified,
    Feed.body_hash,
    Feed.consecutive_errors,
    Feed.failing_since,
    Feed.publish_interval_seconds,
)


@dataclass(frozen=True)
class StoredCounts:
    new: int
    updated: int


@dataclass(frozen=True)
class FetchRecord:
    """One fetch to store: the entries it read and what it does to its feed's row."""

    feed_id: int
    result: FetchResult
    change: FeedChange
    entries: Sequence[CleanEntry]
    new_feed_items: int | None = None


def record_fetches(session: Session, fetches: Sequence[FetchRecord]) -> list[StoredCounts]:
    """Store fetches: the entries of each, then every feed's new state and every attempt for
    the history, a statement of each kind for the whole batch (a hundred 304s are two
    executemany calls, not two hundred statements).

    When a feed has no entries yet, only its newest `new_feed_items` go to the front page;
    the rest are stored as its backlog.
    """
    counts = [
        _upsert_entries(
            session, fetch.feed_id, fetch.entries, fetch.result.started_at, fetch.new_feed_items
        )
        for fetch in fetches
    ]
    _update_feeds(
        session,
        (
            (fetch.feed_id, _feed_values(fetch, stored))
            for fetch, stored in zip(fetches, counts, strict=True)
        ),
    )
    if fetches:
        session.execute(
            insert(_ATTEMPT_TABLE),
            [_attempt_row(fetch, stored) for fetch, stored in zip(fetches, counts, strict=True)],
        )
    return counts


_FEED_UPDATE = update(_FEED_TABLE).where(_FEED_TABLE.c.id == bindparam("feed_row"))


def _update_feeds(session: Session, changes: Iterable[tuple[int, dict[str, Any]]]) -> None:
    """Write each feed's changed columns, one executemany for each set of columns: an
    executemany sets the columns its first row names ("None keeps" fields leave theirs out)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for feed_id, values in changes:
        by_columns.setdefault(tuple(values), []).append({"feed_row": feed_id, **values})
    for rows in by_columns.values():
        session.execute(_FEED_UPDATE, rows)


def _feed_values(fetch: FetchRecord, counts: StoredCounts) -> dict[str, Any]:
    change = fetch.change
    values = {
        field.name: value
        for field in fields(change)
        if (value := getattr(change, field.name)) is not None or field.name not in _NONE_KEEPS
    }
    values.pop("details", None)
    if change.details is not None:
        values["details"] = details_document(change.details)
    interval = values.pop("publish_interval", None)
    if interval is not None:
        values["publish_interval_seconds"] = round(interval.total_seconds())
    if counts.new:
        values["last_new_entry_at"] = fetch.result.started_at
    return values


def _attempt_row(fetch: FetchRecord, counts: StoredCounts) -> dict[str, Any]:
    result = fetch.result
    return {
        "feed_id": fetch.feed_id,
        "started_at": result.started_at,
        "duration_ms": round(result.duration * 1000),
        "http_status": result.status_code,
        "bytes": result.size,
        "new_entries": counts.new,
        "updated_entries": counts.updated,
        "error": fetch.change.last_error,
    }


_NONE_KEEPS = frozenset({"last_success_at", "title", "site_link", "publish_interval", "details"})


def _upsert_entries(
    session: Session,
    feed_id: int,
    entries: Sequence[CleanEntry],
    seen_at: datetime,
    new_feed_items: int | None,
) -> StoredCounts:
    if not entries:
        return StoredCounts(0, 0)
    shown = _first_entries_shown(session, feed_id, entries, new_feed_items)
    known: dict[str, tuple[int, str]] = {}
    guids = [entry.guid for entry in entries]
    connection = session.connection()
    for start in range(0, len(guids), _IN_CHUNK):
        rows = connection.execute(
            _STORED_BY_GUID, {"feed_id": feed_id, "guids": guids[start : start + _IN_CHUNK]}
        )
        known.update({guid: (entry_id, digest) for guid, entry_id, digest in rows})
    known.update(_known_by_link(session, feed_id, [e for e in entries if e.guid not in known]))
    new_rows = [
        _entry_row(feed_id, entry, seen_at, backlog=entry.guid not in shown)
        for entry in entries
        if entry.guid not in known
    ]
    changed = [
        (known[entry.guid][0], entry)
        for entry in entries
        if entry.guid in known and known[entry.guid][1] != entry.content_hash
    ]
    if new_rows:
        session.execute(_insert_ignoring_duplicates(session), new_rows)
        _merge_cross_feed(session, feed_id, [e for e in entries if e.guid not in known], shown)
    if changed:
        changed_rows = [{"id": entry_id, **_changed_fields(entry)} for entry_id, entry in changed]
        session.execute(update(Entry), changed_rows)
        changed_ids = [entry_id for entry_id, _entry in changed]
        session.execute(delete(EntrySketch).where(EntrySketch.entry_id.in_(changed_ids)))
        _index_sketches(session, changed)
    # Read again but unchanged once clean (stored before source hashes were, or a source edit
    # that cleaning undoes): only the hash is new, so that the next fetch skips them.
    same = [
        {"id": known[entry.guid][0], "source_hash": entry.source_hash}
        for entry in entries
        if entry.guid in known
        and known[entry.guid][1] == entry.content_hash
        and entry.source_hash is not None
    ]
    if same:
        session.execute(update(Entry), same)
    return StoredCounts(len(new_rows), len(changed))


# Statements run for every feed of a batch, built once and run on the session's connection:
# building a statement, and the ORM's handling of it, cost SQLAlchemy more than SQLite takes to
# run it (about 430 µs against 180 µs for the first, with a feed's 20 ids).
_STORED_BY_GUID = select(Entry.guid, Entry.id, Entry.content_hash).where(
    Entry.feed_id == bindparam("feed_id"), Entry.guid.in_(bindparam("guids", expanding=True))
)
_STORED_BY_LINK = select(Entry.link_key, Entry.id, Entry.content_hash).where(
    Entry.feed_id == bindparam("feed_id"), Entry.link_key.in_(bindparam("keys", expanding=True))
)
# Without entries of its own, any entry first seen before the feed was added is another
# feed's; the condition stays on first_seen_at alone so that its index answers it.
_SHOWN_BEFORE = select(
    exists().where(Entry.feed_id == bindparam("feed_id")),
    exists().where(
        Entry.first_seen_at
        < select(Feed.created_at).where(Feed.id == bindparam("feed_id")).scalar_subquery()
    ),
)


def stored_sources(session: Session, feed_id: int) -> frozenset[str]:
    """The source hashes of a feed's stored entries (see normalize.source_hash)."""
    query = select(Entry.source_hash).where(
        Entry.feed_id == feed_id, Entry.source_hash.is_not(None)
    )
    return frozenset(hash_ for hash_ in session.scalars(query) if hash_ is not None)


def _first_entries_shown(
    session: Session, feed_id: int, entries: Sequence[CleanEntry], limit: int | None
) -> set[str]:
    """The ids that may reach the front page: all of them, unless this is the first batch of
    a feed added to a planet that already showed others, when only the newest `limit` are.

    "Already showed" means entries first seen before the feed was added, so that the first
    run of a new planet, which adds every feed at once, shows them all.
    """
    every = {entry.guid for entry in entries}
    if limit is None or len(entries) <= limit:
        return every
    has_entries, others_before = (
        session.connection().execute(_SHOWN_BEFORE, {"feed_id": feed_id}).one()
    )
    if has_entries or not others_before:
        return every
    newest = sorted(entries, key=lambda entry: entry.published, reverse=True)[:limit]
    return {entry.guid for entry in newest}


def _known_by_link(
    session: Session, feed_id: int, entries: Sequence[CleanEntry]
) -> dict[str, tuple[int, str]]:
    """New ids whose link this feed already has: feeds that change ids on every fetch."""
    by_key = {entry.link_key: entry.guid for entry in entries if entry.link_key is not None}
    if not by_key:
        return {}
    rows = session.connection().execute(
        _STORED_BY_LINK, {"feed_id": feed_id, "keys": list(by_key)[:_IN_CHUNK]}
    )
    return {by_key[key]: (entry_id, digest) for key, entry_id, digest in rows if key}


def _merge_cross_feed(
    session: Session, feed_id: int, entries: Sequence[CleanEntry], shown: set[str]
) -> None:
    """Point each newly stored entry that repeats another feed's story at its representative.

    Candidates are only the entries of other feeds, published within the window, that share a
    link or some sketch values with a new entry (found through the entry_sketches table), so
    the cost follows the batch, not the size of the database. A story already on the front
    page stays there when a new feed's backlog entry becomes its representative.
    """
    rows = session.connection().execute(
        _STORED_BY_GUID, {"feed_id": feed_id, "guids": [e.guid for e in entries][:_IN_CHUNK]}
    )
    ids = {guid: entry_id for guid, entry_id, _digest in rows}
    fresh = [entry for entry in entries if entry.guid in ids]
    # Looked up before the new entries join the index, which would find each of them first.
    stored = _candidates(session, feed_id, fresh)
    _index_sketches(session, [(ids[entry.guid], entry) for entry in fresh])
    rows_by_id = {row.id: row for found in stored.values() for row in found}
    candidates = {
        row.id: Candidate(row.id, row.feed_id, row.link_key, parse_fingerprint(row.fingerprint),
                          row.published_at)
        for row in rows_by_id.values()
    }  # fmt: skip
    hidden = {row.id for row in rows_by_id.values() if row.backlog}
    hidden |= {entry_id for guid, entry_id in ids.items() if guid not in shown}
    found_merges = merges(
        [(ids[e.guid], e, [candidates[row.id] for row in stored[e.guid]]) for e in fresh]
    )
    promoted = {
        m.original for m in found_merges if m.original in hidden and m.duplicate not in hidden
    }
    if promoted:
        session.execute(update(Entry).where(Entry.id.in_(promoted)).values(backlog=False))
    for merge in found_merges:
        session.execute(
            update(Entry)
            .where(or_(Entry.id == merge.duplicate, Entry.duplicate_of == merge.duplicate))
            .values(duplicate_of=merge.original)
        )


_CANDIDATE_COLUMNS = (
    Entry.id,
    Entry.feed_id,
    Entry.link_key,
    Entry.fingerprint,
    Entry.published_at,
    Entry.backlog,
    Entry.duplicate_of,
    Entry.pruned_at,
)


def _candidates(
    session: Session, feed_id: int, entries: Sequence[CleanEntry]
) -> dict[str, list[Any]]:
    """For each of `entries` (by id), the entries of other feeds that may be its story.

    The new entries go a feed's page at a time, in order of date: one statement for a usual
    fetch, while a long backlog still spreads over several, each with its own budget of rows.
    """
    found: dict[str, dict[int, Any]] = {entry.guid: {} for entry in entries}
    dialect = session.get_bind().dialect.name
    ordered = sorted(entries, key=lambda entry: entry.published)
    for start in range(0, len(ordered), _LOOKUP_GROUP):
        group = ordered[start : start + _LOOKUP_GROUP]
        pairs = [
            (value, position)
            for position, entry in enumerate(group)
            for value in index_values(parse_fingerprint(entry.fingerprint))
        ]
        by_link: dict[str, list[int]] = {}
        for position, entry in enumerate(group):
            if entry.link_key:
                by_link.setdefault(entry.link_key, []).append(position)
        if not pairs and not by_link:
            continue
        rows = session.execute(
            _candidate_lookup(dialect),
            {
                "pairs": json.dumps(pairs),
                "hashes": _list_parameter(dialect, {value for value, _position in pairs}),
                "keys": _list_parameter(dialect, by_link),
            },
        )
        for row in rows:
            if row.feed_id == feed_id or row.duplicate_of is not None or row.pruned_at is not None:
                continue
            positions = [row.item] if row.item is not None else by_link.get(row.link_key, [])
            for position in positions:
                entry = group[position]
                if abs(entry.published - row.published_at) <= WINDOW:
                    found[entry.guid][row.id] = row
    return {guid: list(rows.values()) for guid, rows in found.items()}


@cache
def _candidate_lookup(dialect: str) -> Executable:
    """The entries that share a link with a group of new entries, or enough lookup values with
    one of them: each found by text comes with the position of that new entry in the group
    (`item`, null for those found by link).

    Built once for each database: the values and links are parameters, so SQLAlchemy
    neither rebuilds the statement nor works out its cache key for every feed, and does not
    spend its 3 µs on each of hundreds of values. Only ids and links go to SQL, the other
    conditions are checked by the caller: given the date window too, SQLite walks the date
    index through every entry of the window instead of looking the few matches up.

    The values worth looking up are those held by some stored entry, rarest first, within a
    budget of rows to read. A value no entry holds cannot match; a stock phrase held by many
    says little and costs a read of every entry that has it. Shared values are counted for each
    new entry on its own: counted for the whole group, a stored entry sharing one stock phrase
    with each of three new entries would be read and compared with all of them.

    The pairs are read once into a table of their own (a materialized CTE), and the values
    come again as a plain list for counting: with the pairs read twice, once for each use, the
    lookup took a fifth longer on SQLite.
    """
    wanted = _pairs_as_table(dialect)
    read = func.sum(SketchValue.entries).over(order_by=(SketchValue.entries, SketchValue.hash))
    counted = (
        select(SketchValue.hash, read.label("read"))
        .where(
            SketchValue.hash.in_(_list_as_table(dialect, "hashes", BigInteger())),
            SketchValue.entries <= COMMON,
        )
        .subquery()
    )
    rarest = select(counted.c.hash).where(counted.c.read <= LOOKUP_ROWS)
    sharing = (
        select(wanted.c.item, EntrySketch.entry_id)
        .join_from(wanted, EntrySketch, EntrySketch.hash == wanted.c.hash)
        .where(wanted.c.hash.in_(rarest))
        .group_by(wanted.c.item, EntrySketch.entry_id)
        .having(func.count() >= MIN_SHARED)
        .subquery()
    )
    by_text = select(sharing.c.item, *_CANDIDATE_COLUMNS).join_from(
        sharing, Entry, Entry.id == sharing.c.entry_id
    )
    by_link = select(null().label("item"), *_CANDIDATE_COLUMNS).where(
        Entry.link_key.in_(_list_as_table(dialect, "keys", Text()))
    )
    return union_all(by_text, by_link)


def _pairs_as_table(dialect: str) -> CTE:
    """The parameter `pairs`, a JSON array of [value, position] pairs, read as a table."""
    parameter = bindparam("pairs", type_=Text())
    if dialect == "postgresql":
        each = func.json_array_elements(sql_cast(parameter, JSON)).table_valued("value")
        value, item = each.c.value.op("->>")(0), each.c.value.op("->>")(1)
        pairs = select(
            sql_cast(value, BigInteger).label("hash"), sql_cast(item, Integer).label("item")
        )
    else:
        each = func.json_each(parameter).table_valued("value")
        pairs = select(
            func.json_extract(each.c.value, "$[0]").label("hash"),
            func.json_extract(each.c.value, "$[1]").label("item"),
        )
    return pairs.cte("wanted").prefix_with("MATERIALIZED")


def _list_as_table(dialect: str, name: str, item: TypeEngine[Any]) -> Select[Any]:
    """The list parameter `name` read as a table of values: an array unnested on PostgreSQL,
    a JSON array walked by json_each on SQLite (see _list_parameter)."""
    if dialect == "postgresql":
        array = bindparam(name, type_=postgresql.ARRAY(item))
        listed = func.unnest(array).table_valued("value").render_derived()
    else:
        listed = func.json_each(bindparam(name, type_=Text())).table_valued("value")
    return select(listed.c.value)


def _list_parameter(dialect: str, values: Iterable[Any]) -> Any:
    """The value of a parameter that _list_as_table reads."""
    ordered = sorted(values)
    return ordered if dialect == "postgresql" else json.dumps(ordered)


def _index_sketches(session: Session, entries: Sequence[tuple[int, CleanEntry]]) -> None:
    """Write the lookup values of these stored entries, which hold none: a changed entry's
    old values are deleted first, and an id used before lost its values with its entry (the
    foreign key cascades)."""
    if not entries:
        return
    rows = [
        (value, entry_id)
        for entry_id, entry in entries
        for value in dict.fromkeys(index_values(parse_fingerprint(entry.fingerprint)))
    ]
    if rows:
        connection = session.connection()
        _execute_many(connection, _INSERT_SKETCH, ("hash", "entry_id"), rows)
        counts = sorted(Counter(value for value, _entry_id in rows).items())
        statement = _count_values(connection.dialect.name)
        _execute_many(connection, statement, ("hash", "entries"), counts)


_INSERT_SKETCH = insert(_SKETCH_TABLE)


def _execute_many(
    connection: Connection, statement: ClauseElement, names: tuple[str, ...], rows: list[Any]
) -> None:
    """Run `statement` once for each row (a tuple of the values of `names`) straight through
    the driver's executemany.

    A sketch is a few dozen rows per entry, hundreds of thousands in a cold update of a
    thousand feeds, and SQLAlchemy's executemany prepares each row's parameters in Python (about
    6 µs a row, a tenth of all the storing); these rows hold only integers, which need none of
    that. The statement is still SQLAlchemy's, compiled once for the database's dialect.
    """
    sql, order = _compiled(connection.dialect, statement)
    if order is None:
        connection.exec_driver_sql(sql, [dict(zip(names, row, strict=True)) for row in rows])
    elif order == names:
        connection.exec_driver_sql(sql, rows)
    else:
        position = [names.index(name) for name in order]
        connection.exec_driver_sql(sql, [tuple(row[i] for i in position) for row in rows])


@cache
def _compiled(dialect: Dialect, statement: ClauseElement) -> tuple[str, tuple[str, ...] | None]:
    """The SQL of `statement` in the dialect's parameter style, and the order of its
    parameters when that style is positional (None when they are named)."""
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    order = compiled.positiontup
    return str(compiled), tuple(order) if order is not None else None


@cache
def _count_values(dialect: str) -> Any:
    """Add to each value's count (the counts of re-indexed entries only grow; prune recounts)."""
    if dialect == "postgresql":
        statement: Any = postgresql.insert(_VALUE_TABLE)
    else:
        statement = sqlite.insert(_VALUE_TABLE)
    return statement.on_conflict_do_update(
        index_elements=[SketchValue.hash],
        set_={"entries": _VALUE_TABLE.c.entries + statement.excluded.entries},
    )


def _insert_ignoring_duplicates(session: Session) -> Any:
    """An insert that a concurrent writer's identical row cannot fail."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(_ENTRY_TABLE).on_conflict_do_nothing(
            constraint="uq_entries_feed_guid"
        )
    if dialect == "sqlite":
        return sqlite.insert(_ENTRY_TABLE).on_conflict_do_nothing(
            index_elements=["feed_id", "guid"]
        )
    return insert(_ENTRY_TABLE)


def _changed_fields(entry: CleanEntry) -> dict[str, Any]:
    """What a real update at the source may change; published and first-seen stay put so an
    edited story does not come back to the top as new."""
    return {
        "link_key": entry.link_key,
        "fingerprint": entry.fingerprint,
        "link": entry.link,
        "title": entry.title,
        "title_derived": entry.title_derived,
        "author": entry.author,
        "summary": entry.summary,
        "content": entry.content,
        "language": entry.language,
        "categories": list(entry.categories),
        "enclosures": [asdict(enclosure) for enclosure in entry.enclosures],
        "details": details_document(entry.details),
        "updated_at": entry.updated,
        "content_hash": entry.content_hash,
        "source_hash": entry.source_hash,
    }


def _entry_row(feed_id: int, entry: CleanEntry, seen_at: datetime, backlog: bool) -> dict[str, Any]:
    return {
        "feed_id": feed_id,
        "guid": entry.guid,
        "published_at": entry.published,
        "first_seen_at": seen_at,
        "backlog": backlog,
        **_changed_fields(entry),
    }


def feed_views(session: Session) -> list[FeedView]:
    counts = (
        select(Entry.feed_id, func.count(Entry.id).label("entry_count"))
        .where(Entry.pruned_at.is_(None))
        .group_by(Entry.feed_id)
        .subquery()
    )
    query = (
        select(Feed, func.coalesce(counts.c.entry_count, 0))
        .outerjoin(counts, counts.c.feed_id == Feed.id)
        .where(Feed.status != "removed")
        .order_by(Feed.id)
    )
    return [_feed_view(feed, count) for feed, count in session.execute(query)]


def front_entries(
    session: Session,
    feeds: Mapping[int, FeedView],
    limit: int,
    now: datetime,
    max_age: Mapping[str, timedelta] | None = None,
    among: ColumnElement[bool] | None = None,
) -> list[EntryView]:
    """The newest stories of the feeds still configured, newest first, as the front page,
    its archive and the tag and language pages show them: one entry per story, no backlog,
    none older than its feed's max_age (keyed by feed url); `among` narrows them further."""
    query = (
        select(*_VIEW_COLUMNS)
        .join(Feed)
        .where(
            Feed.status != "removed",
            Entry.pruned_at.is_(None),
            Entry.duplicate_of.is_(None),
            Entry.backlog.is_(False),
        )
        .order_by(Entry.published_at.desc(), Entry.id.desc())
        .limit(limit)
    )
    if max_age:
        query = query.where(_young_enough(max_age, now))
    if among is not None:
        query = query.where(among)
    return _views(session, feeds, session.execute(query).all())


# Feeds whose source pages are read in one query while publishing.
SOURCES_PER_READ = 100


class SourceEntries(Mapping[int, Sequence[EntryView]]):
    """Each feed's newest entries, everything it published: its backlog and its copies of
    other feeds' stories too, read as they are asked for, a chunk of feeds at a time.

    Publishing asks for the feeds in order, one source page after another; holding every
    feed's entries at once took 1.7 GB for 10,000 feeds. The session must stay open while the
    mapping is read.
    """

    def __init__(
        self,
        session: Session,
        feeds: Mapping[int, FeedView],
        per_feed: int,
        now: datetime,
        max_age: Mapping[str, timedelta] | None = None,
    ) -> None:
        self._session = session
        self._feeds = feeds
        self._per_feed = per_feed
        self._now = now
        self._max_age = max_age
        self._order = list(feeds)
        self._position = {feed_id: number for number, feed_id in enumerate(self._order)}
        self._chunk: dict[int, FeedEntries] = {}

    def __getitem__(self, feed_id: int) -> FeedEntries:
        if feed_id not in self._chunk:
            start = self._position[feed_id]
            self._chunk = source_entries(
                self._session,
                self._feeds,
                self._order[start : start + SOURCES_PER_READ],
                self._per_feed,
                self._now,
                self._max_age,
            )
        return self._chunk[feed_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


def source_entries(
    session: Session,
    feeds: Mapping[int, FeedView],
    feed_ids: Sequence[int],
    per_feed: int,
    now: datetime,
    max_age: Mapping[str, timedelta] | None = None,
) -> dict[int, FeedEntries]:
    """The newest `per_feed` entries of each of `feed_ids`, in one query; each feed's become
    views only when read, in whichever process renders its page (see aggregator.views)."""
    rank = (
        func.row_number()
        .over(
            partition_by=Entry.feed_id,
            order_by=(Entry.published_at.desc(), Entry.id.desc()),
        )
        .label("rank")
    )
    ranked = select(Entry.id, rank).where(Entry.pruned_at.is_(None), Entry.feed_id.in_(feed_ids))
    if max_age:
        ranked = ranked.join(Feed).where(_young_enough(max_age, now))
    newest = ranked.subquery()
    query = (
        select(*_VIEW_COLUMNS)
        .join(newest, newest.c.id == Entry.id)
        .where(newest.c.rank <= per_feed)
        .order_by(Entry.feed_id, Entry.published_at.desc(), Entry.id.desc())
    )
    # Through the connection: the ORM's handling of each row is a fifth of the reading.
    rows = [StoredEntry._make(row) for row in session.connection().execute(query)]
    also = _also_published(session, feeds, rows)
    found: dict[int, list[StoredEntry]] = {feed_id: [] for feed_id in feed_ids}
    for row in rows:
        found[row.feed_id].append(row)
    return {
        feed_id: FeedEntries(
            entries, feeds[feed_id], {row.id: also[row.id] for row in entries if row.id in also}
        )
        for feed_id, entries in found.items()
    }


def in_feeds(feed_ids: Iterable[int]) -> ColumnElement[bool]:
    return Entry.feed_id.in_(list(feed_ids))


def in_language(code: str) -> ColumnElement[bool]:
    """`es` covers `es` and every regional variant such as `es-AR`."""
    return or_(Entry.language == code, Entry.language.like(f"{code}-%"))


def entry_languages(session: Session) -> list[str]:
    """The primary language subtags of the stories stored, for the language pages."""
    rows = session.scalars(
        select(Entry.language)
        .distinct()
        .where(Entry.language.is_not(None), Entry.pruned_at.is_(None), Entry.backlog.is_(False))
    )
    return sorted({language.split("-", 1)[0].lower() for language in rows if language})


def recent_counts(session: Session, since: datetime) -> dict[int, int]:
    """Entries each feed published since `since`, for the status page."""
    rows = session.execute(
        select(Entry.feed_id, func.count(Entry.id))
        .where(Entry.published_at >= since)
        .group_by(Entry.feed_id)
    )
    return {feed_id: count for feed_id, count in rows}  # noqa: C416 (a Result has .keys())


# What the outputs show of an entry. Rows of these columns, rather than ORM objects, are read
# for the listings: a publish reads tens of thousands of entries and builds no object twice.
_VIEW_COLUMNS = (
    Entry.id,
    Entry.feed_id,
    Entry.guid,
    Entry.link,
    Entry.title,
    Entry.author,
    Entry.summary,
    Entry.content,
    Entry.language,
    # The JSON and date columns as their text: the process that makes the views decodes them,
    # which for the source pages is a rendering worker, not the one reading the database, and
    # a page that the last publish left as it is (publish_manifest) never needs them decoded.
    sql_cast(Entry.categories, Text).label("categories"),
    sql_cast(Entry.published_at, Text).label("published_at"),
    sql_cast(Entry.updated_at, Text).label("updated_at"),
    sql_cast(Entry.first_seen_at, Text).label("first_seen_at"),
    sql_cast(Entry.enclosures, Text).label("enclosures"),
    sql_cast(Entry.details, Text).label("details"),
    Entry.duplicate_of,
)


def _views(
    session: Session, feeds: Mapping[int, FeedView], shown: Sequence[Any]
) -> list[EntryView]:
    """Entries (rows of _VIEW_COLUMNS) as the outputs show them, each with the other sources
    of its story."""
    rows = [StoredEntry._make(row) for row in shown if row.feed_id in feeds]
    also = _also_published(session, feeds, rows)
    return [entry_view(row, feeds[row.feed_id], also.get(row.id, ())) for row in rows]


def _also_published(
    session: Session, feeds: Mapping[int, FeedView], rows: Sequence[StoredEntry]
) -> dict[int, tuple[AlsoPublished, ...]]:
    """The other sources of each story among `rows`: the feeds whose copies were merged
    into it."""
    also: dict[int, list[AlsoPublished]] = {}
    originals = [row.id for row in rows if row.duplicate_of is None]
    for start in range(0, len(originals), _IN_CHUNK):
        copies = session.execute(
            select(Entry.duplicate_of, Entry.link, Entry.feed_id)
            .where(Entry.duplicate_of.in_(originals[start : start + _IN_CHUNK]))
            .order_by(Entry.published_at, Entry.id)
        )
        for original, link, copy_feed in copies:
            if original is not None and copy_feed in feeds:
                view = feeds[copy_feed]
                also.setdefault(original, []).append(AlsoPublished(view.name, view.link, link))
    return {original: tuple(sources) for original, sources in also.items()}


def _young_enough(max_age: Mapping[str, timedelta], now: datetime) -> ColumnElement[bool]:
    """One condition per distinct max_age, not per feed: feeds share their defaults."""
    by_age: dict[timedelta, list[str]] = {}
    for url, age in max_age.items():
        by_age.setdefault(age, []).append(url)
    limited = [url for urls in by_age.values() for url in urls]
    return or_(
        Feed.url.not_in(limited),
        *(
            and_(Feed.url.in_(urls), Entry.published_at >= now - age)
            for age, urls in by_age.items()
        ),
    )


def _display_name(name: str | None, title: str | None, url: str) -> str:
    return name or title or url


def _feed_view(feed: Feed, entry_count: int) -> FeedView:
    return FeedView(
        id=feed.id,
        url=feed.url,
        name=_display_name(feed.name, feed.title, feed.url),
        link=feed.link or feed.site_link,
        avatar=feed.avatar,
        tags=tuple(feed.tags or ()),
        language=feed.language,
        status=feed.status,
        last_fetched_at=feed.last_fetched_at,
        last_success_at=feed.last_success_at,
        last_http_status=feed.last_http_status,
        last_error=feed.last_error,
        consecutive_errors=feed.consecutive_errors,
        failing_since=feed.failing_since,
        moved_to=feed.moved_to,
        moved_confirmations=feed.moved_confirmations,
        next_due_at=feed.next_due_at,
        entry_count=entry_count,
        details=feed_details(feed.details or {}),
    )


@dataclass(frozen=True)
class PruneCounts:
    entries: int
    attempts: int


def prune(session: Session, cutoff: datetime, keep_newest: int) -> PruneCounts:
    """Empty entries published before `cutoff` and delete fetch history older than it.

    The newest `keep_newest` entries stay whole, whatever their age, because the published
    pages show them. Emptied entries keep their feed and id as tombstones.
    """
    shown = (
        select(Entry.id)
        .where(Entry.pruned_at.is_(None))
        .order_by(Entry.published_at.desc(), Entry.id.desc())
        .limit(keep_newest)
        .subquery()
    )
    entries = _rowcount(
        update(Entry)
        .where(
            Entry.pruned_at.is_(None),
            Entry.published_at < cutoff,
            Entry.id.not_in(select(shown.c.id)),
        )
        .values(pruned_at=datetime.now(UTC), summary="", content="", categories=[])
        .execution_options(synchronize_session=False),
        session,
    )
    session.execute(
        delete(EntrySketch)
        .where(EntrySketch.entry_id.in_(select(Entry.id).where(Entry.pruned_at.is_not(None))))
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(SketchValue).execution_options(synchronize_session=False))
    session.execute(
        insert(SketchValue).from_select(
            ["hash", "entries"],
            select(EntrySketch.hash, func.count()).group_by(EntrySketch.hash),
        )
    )
    attempts = _rowcount(
        delete(FetchAttempt)
        .where(FetchAttempt.started_at < cutoff)
        .execution_options(synchronize_session=False),
        session,
    )
    return PruneCounts(entries=entries, attempts=attempts)


def _rowcount(statement: Executable, session: Session) -> int:
    result = session.execute(statement)
    return result.rowcount if isinstance(result, CursorResult) else 0


_DETAILS_WRITERS: dict[type, TypeAdapter[Any]] = {}


def _details_writer(kind: type) -> TypeAdapter[Any]:
    """Built at first use: building both took 10 ms of every command's start, and an update
    in which no feed changed stores no details at all."""
    writer = _DETAILS_WRITERS.get(kind)
    if writer is None:
        writer = _DETAILS_WRITERS[kind] = TypeAdapter(kind)
    return writer


def details_document(details: EntryDetails | FeedDetails) -> dict[str, Any]:
    """The JSON stored for a record of details; fields left empty are not written.

    pydantic turns the nested records into dicts in compiled code, four times as fast as
    dataclasses.asdict, which counts at one record for every stored entry.
    """
    document = {}
    for key, value in _details_writer(type(details)).dump_python(details).items():
        if value in (None, (), []):
            continue
        document[key] = value.isoformat() if isinstance(value, datetime) else value
    return document
