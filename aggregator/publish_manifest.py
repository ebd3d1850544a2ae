"""Which listing pages of the last publish already hold what this one would write, so that
only the listings whose inputs changed are rendered again.

A listing's files are a pure function of its inputs (see publish.PageRenderer): the code and
templates that render them, the site's settings, the feeds as pages show them, and the
listing's own entries. A digest of those inputs is kept in the output folder (MANIFEST), with
the size and modification time of each file it produced; a listing whose digest is the same and
whose files are as that publish left them is not rendered. A page edited or deleted by hand, or
replaced by a publish that was killed before recording it, no longer matches and is rendered
again; deleting the manifest renders everything.

Pages show of a feed its name, addresses, avatar and details, and the front page its status.
The state that changes at every poll (the last fetch, errors, the next one due) shows only on
the status page and in status.json, which are written every time, so a cron job's publish after
an update that found little new renders a few listings instead of every one. A theme with
templates of its own may show anything the templates are given, so with one every listing is
rendered every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cache
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aggregator import __version__
from aggregator.records import EntryView, FeedView
from aggregator.views import FeedEntries

if TYPE_CHECKING:
    from aggregator.publish import Listing, SiteView, Slugs, Staged

MANIFEST = ".pages.json"
_FORMAT = 1
_PICKLE_PROTOCOL = 5
# The fields of a feed that listing pages do not show, set to one value for the digest: they
# change at every poll.
_POLLING_STATE: dict[str, Any] = {
    "last_fetched_at": None,
    "last_success_at": None,
    "last_http_status": None,
    "last_error": None,
    "consecutive_errors": 0,
    "failing_since": None,
    "moved_to": None,
    "moved_confirmations": 0,
    "next_due_at": None,
    "entry_count": 0,
}
# Of the site, what each listing reads for itself rather than every page.
_PER_LISTING = frozenset({"entries", "feeds", "sources", "tags", "languages", "health"})
# What renders a page, besides the templates: our modules, and the libraries whose output
# goes into it.
_RENDERING_MODULES = ("publish.py", "entry_markup.py", "views.py", "records.py")
_RENDERING_LIBRARIES = ("jinja2", "markupsafe", "python-slugify")


def shown(feed: FeedView) -> FeedView:
    """The feed as a listing page shows it: without its polling state, or its status, which
    only the front page shows (PageDigests adds it there). Its details change with its
    document (an Atom entry's <source> repeats them), which re-renders only the pages that
    show its stories, and the front page."""
    return replace(feed, status="", **_POLLING_STATE)


@cache
def rendering_code() -> bytes:
    """A digest of the built-in templates and the code that renders with them, so that a new
    version of either, or of Python, renders every page again."""
    package = files("aggregator")
    versions = [sys.version, __version__, *map(metadata.version, _RENDERING_LIBRARIES)]
    digest = hashlib.sha256(repr(versions).encode())
    templates = package.joinpath("templates")
    for item in sorted(templates.iterdir(), key=lambda item: item.name):
        if item.is_file():
            digest.update(item.name.encode() + b"\0" + item.read_bytes())
    for name in _RENDERING_MODULES:
        digest.update(name.encode() + b"\0" + package.joinpath(name).read_bytes())
    return digest.digest()


class PageDigests:
    """The digest of each listing's inputs. Built once per publish: what every page shows is
    digested once, then each listing adds its own. SHA-256, which processors with SHA
    extensions compute at twice the speed of BLAKE2 over a site's 60 MB of stories."""

    def __init__(self, site: SiteView, slugs: Slugs) -> None:
        settings = [(item.name, getattr(site, item.name)) for item in fields(site)]
        every_page = (
            [(name, value) for name, value in settings if name not in _PER_LISTING],
            list(site.tags),
            list(site.languages),
            slugs,
            len(site.feeds),
        )
        self._every_page = rendering_code() + _digest(repr(every_page))
        # The front page lists every feed; another page shows a feed only with its stories.
        listed = [(shown(feed), feed.status) for feed in site.feeds]
        self._front = _digest(repr(listed))

    def of(self, listing: Listing) -> str:
        digest = hashlib.sha256(self._every_page)
        source = shown(listing.source) if listing.source is not None else None
        described = (listing.path, listing.title, listing.kind, listing.feed_path)
        digest.update(_digest(repr((described, listing.page, listing.pages, source))))
        if listing.kind == "front":
            digest.update(self._front)
        digest.update(_entries_described(listing.entries))
        return digest.hexdigest()


def _entries_described(entries: Sequence[EntryView]) -> bytes:
    """The entries as pages show them; a source's as the rows read, not made into views.

    Pickled, which is twice as fast as repr over a site's rows (repr escapes every story's
    text). Equal bytes unpickle to equal values, so no change can go unseen; the bytes of equal
    values may differ only where one object is shared within a listing in one publish and not
    in the next, which would cost a needless render, never a stale page.
    """
    if isinstance(entries, FeedEntries):
        rows, feed, also = entries.inputs()
        return pickle.dumps((shown(feed), also, list(rows)), protocol=_PICKLE_PROTOCOL)
    shown_entries = [replace(entry, feed=shown(entry.feed)) for entry in entries]
    return pickle.dumps(shown_entries, protocol=_PICKLE_PROTOCOL)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class _Record:
    digest: str
    # Each file of the listing: its name in the site, size and modification time in ns.
    files: tuple[tuple[str, int, int], ...]


@dataclass
class PageManifest:
    """The manifest of one output folder: read before a publish, written after it."""

    folder: Path
    previous: dict[str, _Record] = field(default_factory=dict)
    # The manifest as read, so that a publish that changed nothing does not write it again.
    text: str = ""
    kept: dict[str, _Record] = field(default_factory=dict)
    rendered: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> PageManifest:
        """An unreadable or foreign manifest is as none: every listing is rendered."""
        try:
            text = (folder / MANIFEST).read_text(encoding="utf-8")
            document = json.loads(text)
            if document.get("format") != _FORMAT:
                return cls(folder)
            previous = {
                path: _Record(digest, tuple((name, size, mtime) for name, size, mtime in listed))
                for path, (digest, listed) in document["pages"].items()
            }
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return cls(folder)
        if not all(map(_well_formed, previous.values())):
            return cls(folder)
        return cls(folder, previous, text)

    def to_render(
        self, listings: Iterable[Listing], digests: PageDigests | None
    ) -> Iterator[Listing]:
        """The listings whose files must be rendered; the others are kept as they are. Without
        `digests` (a theme's own templates) every listing is rendered."""
        for listing in listings:
            names = _file_names(listing)
            if digests is None:
                yield listing
                continue
            digest = digests.of(listing)
            before = self.previous.get(listing.path)
            if before is not None and before.digest == digest and self._as_left(before, names):
                self.kept[listing.path] = before
            else:
                self.rendered[listing.path] = (digest, names)
                yield listing

    def kept_files(self) -> list[Staged]:
        """The kept listings' files, as staged files that need no writing (publish.Staged)."""
        return [(name, None) for record in self.kept.values() for name, _, _ in record.files]

    def write(self) -> None:
        """Record the kept and the rendered listings, once their files are in place."""
        pages = {path: [record.digest, record.files] for path, record in self.kept.items()}
        for path, (digest, names) in self.rendered.items():
            pages[path] = [digest, [_stat(self.folder, name) for name in names]]
        document = json.dumps({"format": _FORMAT, "pages": pages}, separators=(",", ":"))
        if document == self.text:
            return
        descriptor, name = tempfile.mkstemp(dir=self.folder, prefix=f"{MANIFEST}.")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(document)
            Path(name).replace(self.folder / MANIFEST)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    def _as_left(self, record: _Record, names: tuple[str, ...]) -> bool:
        if tuple(name for name, _, _ in record.files) != names:
            return False
        try:
            return all(_stat(self.folder, listed[0]) == listed for listed in record.files)
        except OSError:
            return False


def _well_formed(record: _Record) -> bool:
    return isinstance(record.digest, str) and all(
        isinstance(name, str) and type(size) is int and type(mtime) is int
        for name, size, mtime in record.files
    )


def _file_names(listing: Listing) -> tuple[str, ...]:
    return (listing.path,) if listing.feed_path is None else (listing.path, listing.feed_path)


def _stat(folder: Path, name: str) -> tuple[str, int, int]:
    status = (folder / name).stat()
    return (name, status.st_size, status.st_mtime_ns)
