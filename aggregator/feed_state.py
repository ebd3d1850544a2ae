"""What one fetch means for a feed: its status, its error in words, and when it is next due.

Pure: given the feed's stored state and what fetch and parse produced, `decide` returns the
change to store. Nothing here reads the network or the database.
"""

from __future__ import annotations

from datetime import datetime

from aggregator.records import DueFeed, FeedChange, FeedView, FetchResult, ParsedFeed
from aggregator.schedule import (
    Bounds,
    next_due_after_failure,
    next_due_after_success,
    publish_interval,
    retry_after,
    source_hint,
)

GONE = 410
CONFIRMED_MOVE = 3
RATE_LIMITED = frozenset({429, 503})


def decide(
    feed: DueFeed,
    bounds: Bounds,
    result: FetchResult,
    parsed: ParsedFeed | None,
    error: str | None,
    body_hash: str | None,
    now: datetime,
) -> FeedChange:
    fetch_url = result.moved_to or feed.fetch_url
    moved_to = result.moved_to or feed.moved_to
    if error is not None:
        return _failure(feed, bounds, result, error, fetch_url, moved_to, now)
    observed = publish_interval(_entry_dates(parsed), now) if parsed is not None else None
    hint = source_hint(result.headers, parsed.update_hint if parsed else None, now)
    not_modified = result.not_modified
    moved = fetch_url != feed.url
    return FeedChange(
        status="moved" if moved else "ok",
        fetch_url=fetch_url,
        moved_to=moved_to if moved else None,
        moved_confirmations=feed.moved_confirmations + 1 if moved else 0,
        etag=feed.etag if not_modified else result.headers.get("etag"),
        last_modified=feed.last_modified if not_modified else result.headers.get("last-modified"),
        body_hash=body_hash or feed.body_hash,
        last_http_status=result.status_code,
        last_error=None,
        consecutive_errors=0,
        failing_since=None,
        last_fetched_at=result.started_at,
        last_success_at=result.started_at,
        next_due_at=next_due_after_success(now, bounds, observed or feed.publish_interval, hint),
        title=parsed.title if parsed else None,
        site_link=parsed.link if parsed else None,
        details=parsed.details if parsed else None,
        publish_interval=observed,
    )


def _failure(
    feed: DueFeed,
    bounds: Bounds,
    result: FetchResult,
    error: str,
    fetch_url: str,
    moved_to: str | None,
    now: datetime,
) -> FeedChange:
    errors = feed.consecutive_errors + 1
    if result.status_code == GONE:
        status = "gone"
        error = (
            f"{error}: the source says this feed is gone for good; polling stopped. "
            "Remove it from feeds.yaml, or change its entry there to poll it again"
        )
        next_due = None
    else:
        status = "failing"
        after = None
        if result.status_code in RATE_LIMITED:
            after = retry_after(result.headers.get("retry-after"), now)
            if after is not None:
                error = f"{error}; the server asks us to wait until {after:%Y-%m-%d %H:%M} UTC"
        next_due = next_due_after_failure(now, bounds.interval, errors, after)
    return FeedChange(
        status=status,
        fetch_url=fetch_url,
        moved_to=moved_to if fetch_url != feed.url else None,
        moved_confirmations=0,
        etag=feed.etag,
        last_modified=feed.last_modified,
        body_hash=feed.body_hash,
        last_http_status=result.status_code,
        last_error=error,
        consecutive_errors=errors,
        failing_since=feed.failing_since or result.started_at,
        last_fetched_at=result.started_at,
        next_due_at=next_due,
    )


def _entry_dates(parsed: ParsedFeed) -> list[datetime]:
    return [
        moment
        for entry in parsed.entries
        if (moment := entry.published or entry.updated) is not None
    ]


def advice(view: FeedView, config_path: str, line: int | None) -> str | None:
    """What the maintainer should change in feeds.yaml for this feed, if anything."""
    where = f"{config_path}:{line}" if line else config_path
    if view.status == "moved" and view.moved_to:
        return (
            f"{where}: {view.url} has moved permanently to {view.moved_to}; "
            f"change its url there to {view.moved_to}"
        )
    if view.status == "gone":
        return (
            f"{where}: {view.url} is gone (HTTP 410); remove it, or edit its entry to poll it again"
        )
    return None
