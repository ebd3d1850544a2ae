"""One fetch result → what it says: the feed's new state and its clean entries.

    parse.parse_feed ─▶ dedupe.unique_by_source_id ─▶ normalize.source_hash
      ─▶ normalize.normalize_entry ─▶ dedupe.unique_by_guid ─▶ filters.EntryFilter
      ─▶ dedupe.with_keys ─▶ feed_state.decide

Nothing here touches the database or the network, so a large update runs it in a pool of
processes (see update.Readers); a worker imports this module and what it needs, not the
database layer.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, replace
from datetime import datetime

from aggregator.config import FeedConfig
from aggregator.dedupe import unique_by_guid, unique_by_source_id, with_keys
from aggregator.errors import ParseError
from aggregator.feed_state import decide
from aggregator.filters import EntryFilter
from aggregator.records import CleanEntry, DueFeed, FeedChange, FetchResult, ParsedFeed
from aggregator.schedule import Bounds


@dataclass(frozen=True)
class ReadFetch:
    """What one fetch result says, worked out without the database, so that it can be done in
    another process. `notes` and `failure` (a traceback) are for the log of the process that
    stores it."""

    change: FeedChange
    entries: tuple[CleanEntry, ...]
    parsed: bool
    notes: tuple[str, ...] = ()
    failure: str | None = None


def read_fetch(
    feed: DueFeed,
    config: FeedConfig,
    result: FetchResult,
    now: datetime,
    known: frozenset[str] = frozenset(),
) -> ReadFetch:
    """Parse, normalize and judge one fetch result.

    A body identical to the last one parsed is not parsed again, for sources that send
    neither ETag nor Last-Modified. Of a body that changed, the entries whose source hash is in
    `known` (those of the feed's stored entries) are not normalized again and left out.
    """
    parsed = None
    entries: list[CleanEntry] = []
    error = result.error
    body_hash = None
    failure = None
    if error is None and result.content is not None:
        body_hash = result.body_hash
        if body_hash != feed.body_hash:
            try:
                parsed, entries = read_entries(feed, config, result, result.content, known)
            except ParseError as problem:
                error = problem.reason
            except Exception as problem:
                # One source's content must not stop the run for every other feed; the feed
                # is marked failing with the reason and the traceback goes to the log.
                failure = traceback.format_exc()
                error = f"unexpected error while reading the feed: {type(problem).__name__}"
    bounds = Bounds(config.interval, config.min_interval, config.max_interval)
    change = decide(feed, bounds, result, parsed, error, body_hash, now)
    notes = (parsed.warning,) if parsed is not None and parsed.warning else ()
    return ReadFetch(change, tuple(entries), parsed is not None, notes, failure)


def read_entries(
    feed: DueFeed,
    config: FeedConfig,
    result: FetchResult,
    content: bytes,
    known: frozenset[str] = frozenset(),
) -> tuple[ParsedFeed, list[CleanEntry]]:
    # Imported at the first body: with a pool of parsing processes, the updating process reads
    # only 304s and failures, and never loads the parsing libraries (8 MiB, and 50 ms of every
    # command's start-up). aggregator.read_worker loads them before the fork.
    from aggregator.normalize import (
        NormalizeOptions,
        normalize_entry,
        normalize_feed,
        source_hash,
    )
    from aggregator.parse import parse_feed

    url = result.final_url or result.url
    parsed = normalize_feed(parse_feed(content, url, result.headers), url)
    options = NormalizeOptions(
        excerpt_words=config.excerpt_words,
        language=config.language,
        iframe_hosts=frozenset(config.iframe_hosts),
    )
    sources = [
        (source_hash(entry, feed.fetch_url, options), entry)
        for entry in unique_by_source_id(parsed.entries)
    ]
    entries = unique_by_guid(
        replace(normalize_entry(entry, feed.fetch_url, result.started_at, options), source_hash=key)
        for key, entry in sources
        if key not in known
    )
    if config.retention is not None:
        # Older than the window prune keeps: storing it would only have prune empty it again.
        oldest = result.started_at - config.retention
        entries = [entry for entry in entries if entry.published >= oldest]
    return parsed, with_keys(EntryFilter.for_feed(config).apply(entries))
