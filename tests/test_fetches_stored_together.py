"""Feeds stored in one transaction each keep their own state: a 304, a failure and a success
written together do not lend each other a column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from aggregator import jobs, store
from aggregator.config import load_settings
from aggregator.models import Feed, FetchAttempt
from aggregator.records import FeedChange, FetchResult
from tests.conftest import Planet

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
URLS = ("https://a.test/feed", "https://b.test/feed", "https://c.test/feed")


def _change(url: str, **fields: Any) -> FeedChange:
    defaults: dict[str, Any] = {
        "status": "ok",
        "fetch_url": url,
        "moved_to": None,
        "moved_confirmations": 0,
        "etag": None,
        "last_modified": None,
        "body_hash": None,
        "last_http_status": 200,
        "last_error": None,
        "consecutive_errors": 0,
        "failing_since": None,
        "last_fetched_at": NOW,
        "next_due_at": NOW + timedelta(hours=1),
    }
    return FeedChange(**{**defaults, **fields})


def _record(ids: dict[str, int], url: str, status: int, change: FeedChange) -> store.FetchRecord:
    result = FetchResult(ids[url], url, NOW, 0.25, status_code=status)
    return store.FetchRecord(ids[url], result, change, ())


def test_a_success_a_failure_and_a_304_in_one_batch_each_keep_their_own_state(
    planet: Planet,
) -> None:
    planet.write_config([{"url": url} for url in URLS])
    settings = load_settings(planet.config, planet.database_url)
    sessions = jobs.open_store(settings)
    jobs.sync_configuration(settings, sessions)
    with sessions.begin() as session:
        ids = {feed.url: feed.id for feed in store.feed_views(session)}
    a, b, c = URLS
    first = [
        _record(ids, a, 200, _change(a, title="Strike news", etag='"v1"', last_success_at=NOW)),
        _record(ids, b, 200, _change(b, title="Union voice", last_success_at=NOW)),
        _record(ids, c, 200, _change(c, title="Picket line", last_success_at=NOW)),
    ]
    later = NOW + timedelta(hours=1)
    second = [
        _record(ids, a, 304, _change(a, etag='"v1"', last_http_status=304, last_fetched_at=later)),
        _record(
            ids,
            b,
            503,
            _change(
                b,
                status="failing",
                last_http_status=503,
                last_error="the server answered 503",
                consecutive_errors=1,
                failing_since=later,
                last_fetched_at=later,
            ),
        ),
        _record(
            ids,
            c,
            200,
            _change(c, title="Picket line weekly", last_success_at=later, last_fetched_at=later),
        ),
    ]
    with sessions.begin() as session:
        store.record_fetches(session, first)
    with sessions.begin() as session:
        store.record_fetches(session, second)

    with sessions.begin() as session:
        feeds = {feed.url: feed for feed in session.scalars(select(Feed))}
        attempts = session.execute(
            select(FetchAttempt.feed_id, FetchAttempt.http_status).order_by(FetchAttempt.id)
        ).all()
        state = {
            url: (
                feed.title,
                feed.status,
                feed.etag,
                feed.last_error,
                feed.consecutive_errors,
                feed.last_success_at,
                feed.last_fetched_at,
            )
            for url, feed in feeds.items()
        }
    assert state == {
        a: ("Strike news", "ok", '"v1"', None, 0, NOW, later),
        b: ("Union voice", "failing", None, "the server answered 503", 1, NOW, later),
        c: ("Picket line weekly", "ok", None, None, 0, later, later),
    }
    assert [(feed_id, status) for feed_id, status in attempts] == [
        (ids[a], 200),
        (ids[b], 200),
        (ids[c], 200),
        (ids[a], 304),
        (ids[b], 503),
        (ids[c], 200),
    ]
