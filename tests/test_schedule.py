"""When a feed is next due, as pure functions over any dates, intervals and headers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.schedule import (
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    Bounds,
    next_due_after_failure,
    next_due_after_success,
    publish_interval,
    retry_after,
    source_hint,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
intervals = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=14))


@st.composite
def bounds(draw: st.DrawFn) -> Bounds:
    low, middle, high = sorted(draw(intervals) for _ in range(3))
    return Bounds(interval=middle, min_interval=low, max_interval=high)


@settings(max_examples=300)
@given(
    bounds(),
    st.none() | intervals,
    st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
)
def test_after_success_the_next_poll_stays_within_the_bounds(
    bounds: Bounds, observed: timedelta | None, hint: timedelta | None
) -> None:
    delay = next_due_after_success(NOW, bounds, observed, hint) - NOW
    assert bounds.min_interval <= delay <= bounds.max_interval
    if hint is not None:
        assert delay >= min(hint, bounds.max_interval)


@settings(max_examples=300)
@given(intervals, st.integers(min_value=1, max_value=60), st.integers())
def test_after_failure_the_delay_doubles_with_jitter_and_is_capped(
    interval: timedelta, errors: int, seed: int
) -> None:
    delay = next_due_after_failure(NOW, interval, errors, jitter=random.Random(seed)) - NOW
    expected = min(interval * 2 ** min(errors, 20), max(MAX_BACKOFF, interval))
    assert expected * 0.9 <= delay <= expected * 1.1


@given(
    intervals,
    st.integers(min_value=1, max_value=10),
    st.timedeltas(max_value=timedelta(days=30), min_value=timedelta(0)),
)
def test_retry_after_is_never_polled_before_and_never_later_than_a_week(
    interval: timedelta, errors: int, wait: timedelta
) -> None:
    due = next_due_after_failure(NOW, interval, errors, NOW + wait)
    assert due >= NOW + min(wait, MAX_RETRY_AFTER)
    assert due <= NOW + max(MAX_RETRY_AFTER, interval * 1.1, MAX_BACKOFF * 1.1)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("120", NOW) == NOW + timedelta(seconds=120)
    later = NOW + timedelta(hours=3)
    assert retry_after(format_datetime(later, usegmt=True), NOW) == later
    assert retry_after("soon", NOW) is None
    assert retry_after(None, NOW) is None


def test_publish_interval_is_the_average_gap_up_to_now() -> None:
    hourly = [NOW - timedelta(hours=n) for n in range(1, 11)]
    assert publish_interval(hourly, NOW) == timedelta(hours=1)
    dormant = [NOW - timedelta(days=365 + n) for n in range(5)]
    assert publish_interval(dormant, NOW) == (NOW - min(dormant)) / 5
    assert publish_interval(hourly[:2], NOW) is None
    assert publish_interval([NOW + timedelta(days=1)] * 5, NOW) is None


@given(st.lists(st.datetimes(timezones=st.just(UTC)), max_size=30))
def test_publish_interval_is_never_negative(dates: list[datetime]) -> None:
    gap = publish_interval(dates, NOW)
    assert gap is None or gap >= timedelta(0)


def test_source_hints_take_the_longest_freshness() -> None:
    expires = format_datetime(NOW + timedelta(hours=5), usegmt=True)
    headers = {"cache-control": "public, max-age=3600", "expires": expires}
    assert source_hint(headers, timedelta(minutes=30), NOW) == timedelta(hours=5)
    assert source_hint({"cache-control": "no-cache"}, None, NOW) is None
    past = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert source_hint({"expires": past}, None, NOW) is None
