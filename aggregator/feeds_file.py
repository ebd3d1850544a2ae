"""Edits to feeds.yaml that keep the maintainer's comments, order and layout.

ruamel.yaml reads and writes the file as a round trip; every edit is validated as a whole file
before it replaces the old one, so a tool never leaves a feeds.yaml that `check` would refuse.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from aggregator.config import load_settings
from aggregator.errors import ConfigError, ConfigProblem

_FIELD_ORDER = (
    "url", "name", "link", "avatar", "tags", "language", "interval", "enabled",
    "include", "exclude",
)  # fmt: skip


@dataclass(frozen=True)
class Edit:
    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"{self.path} (before)",
                tofile=f"{self.path} (after)",
            )
        )

    def save(self) -> None:
        """Validate the new text as a whole feeds.yaml, then replace the file atomically."""
        descriptor, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        temporary = Path(name)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(self.after)
            load_settings(temporary)
            temporary.chmod(self.path.stat().st_mode & 0o777)
            temporary.replace(self.path)
        finally:
            temporary.unlink(missing_ok=True)


def add_feeds(path: Path, entries: list[dict[str, Any]]) -> Edit:
    """Append feeds to the `feeds` list; a url already listed is left as it is."""
    before, yaml, document = _load(path)
    feeds = _feeds(document, path)
    known = {str(item.get("url", "")) for item in feeds if isinstance(item, dict)}
    for entry in entries:
        if entry["url"] in known:
            continue
        known.add(entry["url"])
        item = CommentedMap()
        for key in _FIELD_ORDER:
            value = entry.get(key)
            if value in (None, [], ""):
                continue
            if key == "tags":
                value = CommentedSeq(value)
                value.fa.set_flow_style()
            item[key] = value
        feeds.append(item)
    return Edit(path, before, _dump(yaml, document))


def remove_feed(path: Path, url: str) -> Edit:
    before, yaml, document = _load(path)
    feeds = _feeds(document, path)
    for index, item in enumerate(feeds):
        if isinstance(item, dict) and item.get("url") == url:
            del feeds[index]
            return Edit(path, before, _dump(yaml, document))
    raise ConfigError([ConfigProblem(str(path), None, "feeds", f"no feed has the url {url}")])


def replace_urls(path: Path, moves: dict[str, str]) -> Edit:
    """Change feed urls in place, keeping each entry's other keys and comments."""
    before, yaml, document = _load(path)
    for item in _feeds(document, path):
        if isinstance(item, dict) and item.get("url") in moves:
            item["url"] = moves[item["url"]]
    return Edit(path, before, _dump(yaml, document))


def _load(path: Path) -> tuple[str, YAML, Any]:
    load_settings(path)
    text = path.read_text(encoding="utf-8")
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    offset = _sequence_offset(text)
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return text, yaml, yaml.load(text)


def _feeds(document: Any, path: Path) -> CommentedSeq:
    feeds = document.get("feeds")
    if feeds is None:
        feeds = document["feeds"] = CommentedSeq()
    if not isinstance(feeds, CommentedSeq):
        raise ConfigError([ConfigProblem(str(path), None, "feeds", "must be a list")])
    return feeds


def _sequence_offset(text: str) -> int:
    """How far the file indents its list items, so new ones look like the old ones."""
    match = re.search(r"^feeds:\s*\n(?:\s*#.*\n|\s*\n)*( *)- ", text, re.MULTILINE)
    return len(match.group(1)) if match else 2


def _dump(yaml: YAML, document: Any) -> str:
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()
