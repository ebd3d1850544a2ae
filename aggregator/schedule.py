"""When each feed is next due. Pure functions: the result is stored in feeds.next_due_at."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_BACKOFF = timedelta(days=1)


def next_due(now: datetime, interval: timedelta, consecutive_errors: int) -> datetime:
    """The configured interval after a success; doubling per failure, capped at one day.

    A failing feed never waits less than its own interval, so a feed configured for a weekly
    poll is not polled more often because it fails.
    """
    if consecutive_errors <= 0:
        return now + interval
    backoff = interval * (2 ** min(consecutive_errors, 16))
    delay: timedelta = max(interval, min(backoff, MAX_BACKOFF))
    return now + delay
