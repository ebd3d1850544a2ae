"""Rules that decide when two entries are the same story."""

from __future__ import annotations

from collections.abc import Iterable

from aggregator.records import CleanEntry


def unique_by_guid(entries: Iterable[CleanEntry]) -> list[CleanEntry]:
    """One entry per id within one fetch; the first wins, as feeds list newest first.

    Sources that repeat an item in one document would otherwise break the unique
    (feed, guid) constraint for the whole batch.
    """
    seen: dict[str, CleanEntry] = {}
    for entry in entries:
        seen.setdefault(entry.guid, entry)
    return list(seen.values())
