"""Look at a feed without storing anything: for `add` and `check --online`.

Fetch and parse once, follow a web page's advertised feed (autodiscovery), and say what was
found: title, entries, newest post, redirects, or why it is not a feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from aggregator.errors import ParseError
from aggregator.fetch import FetchPolicy, fetch_all
from aggregator.normalize import normalize_feed
from aggregator.parse import discover_feeds, parse_feed
from aggregator.records import FetchRequest, FetchResult


@dataclass(frozen=True)
class Probe:
    url: str
    feed_url: str | None = None
    status: int | None = None
    moved_to: str | None = None
    redirected: bool = False
    title: str | None = None
    link: str | None = None
    language: str | None = None
    entries: int = 0
    newest: datetime | None = None
    error: str | None = None


def probe_all(urls: Iterable[str], policy: FetchPolicy, discover: bool = True) -> list[Probe]:
    """One probe per url, in the order given."""
    urls = list(urls)
    return asyncio.run(_probe_all(urls, policy, discover))


async def _probe_all(urls: list[str], policy: FetchPolicy, discover: bool) -> list[Probe]:
    results = await _fetch(urls, policy)
    probes = [_read(url, results[url]) for url in urls]
    if not discover:
        return probes
    pages = {
        probe.url: found[0]
        for probe in probes
        if probe.feed_url is None and (found := _advertised(results[probe.url]))
    }
    if pages:
        followed = await _fetch(list(pages.values()), policy)
        probes = [
            _read(pages[probe.url], followed[pages[probe.url]], asked=probe.url)
            if probe.url in pages
            else probe
            for probe in probes
        ]
    return probes


async def _fetch(urls: list[str], policy: FetchPolicy) -> dict[str, FetchResult]:
    requests = [FetchRequest(feed_id=index, url=url) for index, url in enumerate(urls)]
    found = {}
    async for result in fetch_all(requests, policy):
        found[result.url] = result
    return found


def _advertised(result: FetchResult) -> list[str]:
    if result.content is None:
        return []
    return discover_feeds(result.content, result.final_url or result.url)


def _read(url: str, result: FetchResult, asked: str | None = None) -> Probe:
    probe = Probe(
        url=asked or url,
        status=result.status_code,
        moved_to=result.moved_to,
        redirected=(result.final_url or url) != url,
    )
    if result.error is not None or result.content is None:
        return replace(probe, error=result.error)
    final = result.final_url or url
    try:
        parsed = normalize_feed(parse_feed(result.content, final, result.headers), final)
    except ParseError as error:
        return replace(probe, error=error.reason)
    dates = [entry.published or entry.updated for entry in parsed.entries]
    return replace(
        probe,
        feed_url=result.moved_to or url,
        title=parsed.title,
        link=parsed.link,
        language=parsed.language,
        entries=len(parsed.entries),
        newest=max((moment for moment in dates if moment), default=None),
    )
