"""View data → files in the output folder.

Rendering is pure (`render_site` returns bytes per file name); writing replaces each file
atomically and only when its bytes changed, so web servers and readers see either the old or the
new version, and an unchanged site costs no writes. Nothing here reads the clock: a file's
content depends only on the data, so publishing twice gives identical files.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from aggregator import __version__
from aggregator.errors import OutputError
from aggregator.records import EntryView, FeedView, PublishResult

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HEALTH_MARKS = {
    "ok": "\u25cf",
    "moved": "\u25cf",
    "failing": "\u25b2",
    "gone": "\u2715",
    "new": "\u25cb",
    "disabled": "-",
}
HEALTH_LABELS = {
    "ok": "fetched without error",
    "moved": "fetched from the new address it moved to",
    "failing": "the last fetch failed",
    "gone": "the source has removed this feed",
    "new": "not fetched yet",
    "disabled": "disabled in feeds.yaml",
}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")


@dataclass(frozen=True)
class SiteView:
    title: str
    link: str
    description: str
    owner_name: str | None
    owner_email: str | None
    language: str | None
    items_per_page: int
    feed_items: int
    entries: Sequence[EntryView]
    feeds: Sequence[FeedView]

    @property
    def updated(self) -> datetime:
        """The newest change among the entries: stable while nothing new arrives."""
        return max((entry.updated or entry.published for entry in self.entries), default=EPOCH)

    @property
    def feed_id(self) -> str:
        return self.link


@dataclass(frozen=True)
class FeedItem:
    """An entry as it appears in a combined feed, with an id unique within that feed."""

    entry: EntryView
    id: str
    permalink: bool


def write_site(site: SiteView, output_dir: Path) -> PublishResult:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        written, unchanged = write_files(output_dir, render_site(site))
    except OSError as error:
        raise OutputError(f"cannot write the site to {output_dir}: {error}") from error
    return PublishResult(written=tuple(written), unchanged=tuple(unchanged))


def render_site(site: SiteView) -> dict[str, bytes]:
    environment = _environment()
    items = feed_items(site.entries[: site.feed_items])
    context = {"site": site, "items": items, "feeds": site.feeds, "version": __version__}
    page_entries = site.entries[: site.items_per_page]
    pages = {
        "index.html": environment.get_template("index.html").render(
            days=group_by_day(page_entries),
            health_marks=HEALTH_MARKS,
            health_labels=HEALTH_LABELS,
            **context,
        ),
        "atom.xml": environment.get_template("atom.xml").render(**context),
        "rss.xml": environment.get_template("rss.xml").render(**context),
        "opml.xml": render_opml(site, environment),
        "feed.json": json_feed(site, items),
    }
    output = {name: (text.rstrip() + "\n").encode("utf-8") for name, text in pages.items()}
    output["style.css"] = files("aggregator").joinpath("templates/static/style.css").read_bytes()
    return output


def render_opml(site: SiteView, environment: Environment | None = None) -> str:
    """The subscription list as OPML 2.0; it needs the feeds only, not the entries."""
    template = (environment or _environment()).get_template("opml.xml")
    return template.render(site=site, feeds=site.feeds, version=__version__)


def group_by_day(entries: Sequence[EntryView]) -> list[tuple[date, list[EntryView]]]:
    return [
        (day, list(group))
        for day, group in itertools.groupby(entries, key=lambda entry: entry.published.date())
    ]


def feed_items(entries: Sequence[EntryView]) -> list[FeedItem]:
    """Keep each source's own id where it is an IRI and unique here; otherwise derive one.

    The derived id is a name-based UUID of the feed URL and the source's id, so it never changes
    between publishes.
    """
    items = []
    used: set[str] = set()
    for entry in entries:
        entry_id = entry.guid
        if not _IRI.match(entry_id) or entry_id in used:
            entry_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{entry.feed.url} {entry.guid}").urn
        used.add(entry_id)
        permalink = entry_id == entry.link and entry_id.startswith(("http://", "https://"))
        items.append(FeedItem(entry=entry, id=entry_id, permalink=permalink))
    return items


def json_feed(site: SiteView, items: Sequence[FeedItem]) -> str:
    document: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": site.title,
        "home_page_url": site.link,
        "feed_url": f"{site.link}feed.json",
    }
    if site.description:
        document["description"] = site.description
    if site.owner_name:
        document["authors"] = [{"name": site.owner_name}]
    if site.language:
        document["language"] = site.language
    document["items"] = [_json_item(item) for item in items]
    return _XML_INVALID.sub("", json.dumps(document, ensure_ascii=False, indent=2))


def _json_item(item: FeedItem) -> dict[str, Any]:
    entry = item.entry
    data: dict[str, Any] = {"id": item.id, "title": entry.title}
    if entry.link:
        data["url"] = entry.link
    if entry.content:
        data["content_html"] = entry.content
    else:
        data["content_text"] = entry.summary
    if entry.summary:
        data["summary"] = entry.summary
    data["date_published"] = rfc3339(entry.published)
    if entry.updated:
        data["date_modified"] = rfc3339(entry.updated)
    data["authors"] = [{"name": entry.author or entry.feed.name}]
    if entry.categories:
        data["tags"] = list(entry.categories)
    if entry.language:
        data["language"] = entry.language
    if entry.enclosures:
        data["attachments"] = [
            {
                "url": enclosure.url,
                "mime_type": enclosure.type or "application/octet-stream",
                **({"size_in_bytes": enclosure.length} if enclosure.length else {}),
            }
            for enclosure in entry.enclosures
        ]
    source: dict[str, Any] = {"title": entry.feed.name, "feed_url": entry.feed.url}
    if entry.feed.link:
        source["home_page_url"] = entry.feed.link
    data["_source"] = source
    return data


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _xml_safe(value: Any) -> Any:
    """Characters XML 1.0 forbids would make a whole feed unreadable; drop them on output.

    Markup stays Markup, or Jinja would escape sanitized HTML a second time.
    """
    if not isinstance(value, str):
        return value
    cleaned = _XML_INVALID.sub("", value)
    return Markup(cleaned) if isinstance(value, Markup) else cleaned


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("aggregator", "templates"),
        autoescape=select_autoescape(["html", "xml"]),
        undefined=StrictUndefined,
        finalize=_xml_safe,
        keep_trailing_newline=True,
    )
    environment.filters["rfc3339"] = rfc3339
    environment.filters["rfc822"] = rfc822
    environment.filters["text_as_html"] = lambda text: html.escape(text, quote=False)
    environment.filters["tag_path"] = lambda tag: "/" + tag.replace(",", " ")
    return environment


def write_files(folder: Path, files: dict[str, bytes]) -> tuple[list[str], list[str]]:
    """Replace the files whose bytes changed, all or none.

    Every changed file is first written in full to a temporary name beside it; only when all of
    them are on disk are they renamed over the old ones. A full disk or a read-only folder
    therefore leaves the old site exactly as it was, and a reader never sees a partial file.
    """
    changed = {name: data for name, data in files.items() if not _same(folder / name, data)}
    staged: list[tuple[Path, Path]] = []
    try:
        for name, data in changed.items():
            staged.append((_stage(folder / name, data), folder / name))
    except BaseException:
        for temporary, _target in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, target in staged:
        temporary.replace(target)
    return list(changed), [name for name in files if name not in changed]


def _same(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except FileNotFoundError:
        return False


def _stage(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(0o644)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary
