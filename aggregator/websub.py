"""Tell a WebSub hub that published feeds changed, so it pushes them to subscribers at once.

The hub then fetches each feed itself; the ping carries only its address (the de facto
`hub.mode=publish` request that hubs such as websub.appspot.com and Superfeedr accept). A hub
that is down costs a logged warning, never the publish: the feeds are on disk already and the
next change pings again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

log = logging.getLogger(__name__)

TIMEOUT = 10.0


def notify_hub(hub: str, topics: Sequence[str], user_agent: str) -> list[str]:
    """Ping `hub` once per changed feed URL; return the failures, in words."""
    failures = []
    with httpx.Client(timeout=TIMEOUT, headers={"User-Agent": user_agent}) as client:
        for topic in topics:
            try:
                response = client.post(hub, data={"hub.mode": "publish", "hub.url": topic})
            except httpx.HTTPError as error:
                failures.append(f"{hub}: {topic}: {error or type(error).__name__}")
                continue
            if not response.is_success:
                failures.append(f"{hub}: {topic}: HTTP {response.status_code}")
    for failure in failures:
        log.warning("WebSub hub was not told of a change: %s", failure)
    return failures
