"""When each feed is next due. Pure functions; the result is stored in feeds.next_due_at, so
cron mode and the daemon share one schedule and a restart loses nothing.

After a success a feed is polled at about half its observed gap between posts (so a post waits
on average a quarter of that gap), never sooner than the source asks (RSS ttl,
sy:updatePeriod, Cache-Control max-age, Expires), and always within min_interval ..
max_interval. Before its rate is known, its configured interval is used. After a failure it
backs off: interval * 2^n with 10% jitter either way, capped at one day (or the interval, if
longer), and never before a Retry-After.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

MAX_BACKOFF = timedelta(days=1)
MAX_RETRY_AFTER = timedelta(days=7)
MIN_DATED_ENTRIES = 3
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Bounds:
    """A feed's configured interval and the range the adaptive schedule keeps to."""

    interval: timedelta
    min_interval: timedelta
    max_interval: timedelta

    def clamp(self, wanted: timedelta) -> timedelta:
        return min(max(wanted, self.min_interval), self.max_interval)


def publish_interval(dates: Iterable[datetime], now: datetime) -> timedelta | None:
    """The source's average gap between posts, counted up to now so a dormant feed slows down.

    None when the document has too few dated entries to tell.
    """
    past = [moment for moment in dates if moment <= now]
    if len(past) < MIN_DATED_ENTRIES:
        return None
    return (now - min(past)) / len(past)


def source_hint(
    headers: Mapping[str, str], feed_hint: timedelta | None, now: datetime
) -> timedelta | None:
    """The longest time the source says its content stays fresh."""
    hints = [feed_hint] if feed_hint else []
    match = _MAX_AGE.search(headers.get("cache-control", ""))
    if match:
        hints.append(timedelta(seconds=int(match.group(1))))
    expires = _http_date(headers.get("expires"))
    if expires is not None and expires > now:
        hints.append(expires - now)
    return max(hints) if hints else None


def next_due_after_success(
    now: datetime,
    bounds: Bounds,
    observed: timedelta | None,
    hint: timedelta | None,
) -> datetime:
    wanted = observed / 2 if observed is not None else bounds.interval
    if hint is not None:
        wanted = max(wanted, hint)
    return now + bounds.clamp(wanted)


def next_due_after_failure(
    now: datetime,
    interval: timedelta,
    consecutive_errors: int,
    retry_after: datetime | None = None,
    jitter: random.Random | None = None,
) -> datetime:
    """Back off exponentially; spread retries so failing feeds of one host do not line up."""
    cap = max(MAX_BACKOFF, interval)
    backoff: timedelta = min(interval * (2 ** min(max(consecutive_errors, 0), 20)), cap)
    backoff *= (jitter or random).uniform(0.9, 1.1)
    due = now + backoff
    if retry_after is not None:
        due = max(due, min(retry_after, now + MAX_RETRY_AFTER))
    return due


def retry_after(value: str | None, now: datetime) -> datetime | None:
    """Retry-After as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    return _http_date(value)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else None
