"""The maintainer's include and exclude rules from feeds.yaml, applied to clean entries.

An entry is kept when every include rule (from defaults and from its feed) matches it and no
exclude rule does; a rule matches when any of its patterns matches its field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from aggregator.config import FeedConfig, RuleSection, compile_pattern
from aggregator.records import CleanEntry

FIELDS = ("title", "text", "category", "author", "link")


@dataclass(frozen=True)
class Rule:
    patterns: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]

    @classmethod
    def compile(cls, section: RuleSection) -> Rule:
        return cls(
            tuple(
                (field, tuple(compile_pattern(text) for text in getattr(section, field)))
                for field in FIELDS
                if getattr(section, field)
            )
        )

    def matches(self, entry: CleanEntry) -> bool:
        return any(
            pattern.search(value)
            for field, patterns in self.patterns
            for value in _values(entry, field)
            for pattern in patterns
        )


@dataclass(frozen=True)
class EntryFilter:
    include: tuple[Rule, ...] = ()
    exclude: tuple[Rule, ...] = ()

    @classmethod
    def for_feed(cls, config: FeedConfig) -> EntryFilter:
        return cls(
            include=tuple(Rule.compile(section) for section in config.include),
            exclude=tuple(Rule.compile(section) for section in config.exclude),
        )

    def keep(self, entry: CleanEntry) -> bool:
        return all(rule.matches(entry) for rule in self.include) and not any(
            rule.matches(entry) for rule in self.exclude
        )

    def apply(self, entries: Iterable[CleanEntry]) -> list[CleanEntry]:
        if not self.include and not self.exclude:
            return list(entries)
        return [entry for entry in entries if self.keep(entry)]


def _values(entry: CleanEntry, field: str) -> Iterable[str]:
    if field == "title":
        return (entry.title,)
    if field == "text":
        return (entry.summary, entry.text)
    if field == "category":
        return entry.categories
    if field == "author":
        return (entry.author,) if entry.author else ()
    return (entry.link,) if entry.link else ()
