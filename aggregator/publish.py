"""View data → files in the output folder.

Rendering is pure (`PageRenderer` gives bytes per file name); writing replaces each file
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
import time
import uuid
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence, Set
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from xml.etree import ElementTree

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)
from markupsafe import Markup
from slugify import slugify

from aggregator import __version__
from aggregator.entry_markup import EntryMarkup, media_kind, xml_lang
from aggregator.errors import OutputError
from aggregator.publish_manifest import PageDigests, PageManifest
from aggregator.records import (
    Category,
    EntryView,
    FeedHealth,
    FeedView,
    Link,
    Person,
    PublishResult,
)

if TYPE_CHECKING:
    from aggregator.publish_pool import PagePool

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
# The order in which status.html and status.json list feeds: what needs a maintainer first.
ATTENTION = ("failing", "moved", "gone", "new", "disabled", "ok")
# Names of the languages the planet's sources write in, each in itself, for the language pages.
LANGUAGE_NAMES = {
    "ar": "العربية", "ca": "Català", "de": "Deutsch", "el": "Ελληνικά", "en": "English",
    "es": "Español", "eu": "Euskara", "fa": "فارسی", "fr": "Français", "gl": "Galego",
    "it": "Italiano", "ja": "日本語", "ko": "한국어", "nl": "Nederlands", "pl": "Polski",
    "pt": "Português", "ru": "Русский", "sv": "Svenska", "tr": "Türkçe", "uk": "Українська",
    "zh": "中文",
}  # fmt: skip
# The templates a listing's files are rendered from: a theme that has its own copy of one may
# show anything, and its listings are then rendered at every publish (see publish_manifest).
LISTING_TEMPLATES = ("base.html", "listing.html", "entry.html", "atom.xml", "atom_entry.xml")
# Folders whose every file the publisher writes: a file there that it no longer writes is a page
# of a source, tag or language that is gone, and is removed.
GENERATED_FOLDERS = ("page", "sources", "tags", "languages")
# A temporary file older than this was left by a publish that was killed; a newer one may
# belong to a publish running now.
STALE_TEMPORARY = 3600
XHTML = "http://www.w3.org/1999/xhtml"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_INVALID_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")


@dataclass(frozen=True)
class SiteView:
    """Everything the site shows. `entries` are the front page's stories, newest first, enough
    for its archive pages; `sources`, `tags` and `languages` hold each listing's own."""

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
    sources: Mapping[int, Sequence[EntryView]] = field(default_factory=dict)
    tags: Mapping[str, Sequence[EntryView]] = field(default_factory=dict)
    languages: Mapping[str, Sequence[EntryView]] = field(default_factory=dict)
    health: Sequence[FeedHealth] = ()
    archive_pages: int = 1
    websub_hub: str | None = None
    theme: Path | None = None
    iframe_hosts: Sequence[str] = ()

    @cached_property
    def updated(self) -> datetime:
        """The newest change among the entries: stable while nothing new arrives. Every page
        shows it, so it is worked out once."""
        return newest_change(self.entries)

    @property
    def feed_id(self) -> str:
        return self.link


@dataclass(frozen=True)
class FeedItem:
    """An entry as it appears in a combined feed, with an id unique within that feed, and its
    content in the form the source gave it (text, html or xhtml)."""

    entry: EntryView
    id: str
    permalink: bool
    content_type: str = "html"
    content: str = ""

    @property
    def links(self) -> list[Link]:
        """Every link of the entry, its alternate, licence and enclosures always among them."""
        entry = self.entry
        found = list(entry.details.links)
        known = {(link.rel, link.href) for link in found}
        if entry.link and not any(link.rel == "alternate" for link in found):
            found.insert(0, Link(entry.link, "alternate", "text/html"))
        for enclosure in entry.enclosures:
            if ("enclosure", enclosure.url) not in known:
                found.append(Link(enclosure.url, "enclosure", enclosure.type, enclosure.length))
        license = self.license
        if license and ("license", license) not in known:
            found.append(Link(license, "license"))
        return found

    @property
    def license(self) -> str | None:
        return self.entry.details.license or self.entry.feed.details.license

    @property
    def rights(self) -> str | None:
        return self.entry.details.rights or self.entry.feed.details.rights

    @property
    def categories(self) -> list[Category]:
        return list(self.entry.details.categories) or [
            Category(term) for term in self.entry.categories
        ]


@dataclass(frozen=True)
class Listing:
    """One HTML page of entries, and the Atom feed of the same entries where it has one."""

    path: str
    title: str
    kind: str
    entries: Sequence[EntryView]
    feed_path: str | None = None
    page: int = 1
    pages: int = 1
    source: FeedView | None = None

    @property
    def root(self) -> str:
        """The relative way back to the top of the site, so the site works from any URL."""
        return "../" * self.path.count("/")

    def page_path(self, number: int) -> str:
        return front_page_path(number)


def front_page_path(number: int) -> str:
    """The front page is page 1 of its archive."""
    return "index.html" if number == 1 else f"page/{number}.html"


@dataclass(frozen=True)
class AtomDocument:
    id: str
    title: str
    subtitle: str
    self_url: str
    alternate_url: str
    items: Sequence[FeedItem]
    updated: datetime


# A file of the site, by its path in the site, and the temporary file beside it that holds its
# new bytes, or None when the file already holds them.
Staged = tuple[str, Path | None]


def write_site(
    site: SiteView,
    output_dir: Path,
    pool: PagePool | None = None,
    manifest: PageManifest | None = None,
) -> PublishResult:
    """Write every file, then remove the pages of sources, tags and languages that are gone.

    Pages are rendered and staged a few at a time, so memory holds a few pages, not the site.
    Listings that `manifest` (read from the folder when not given) finds as the last publish
    left them are kept. With a `pool`, its processes render and stage the listings while this
    one reads their entries.
    """
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        if manifest is None:
            manifest = PageManifest.read(output_dir)
        stagings = _staged_site(site, output_dir, pool, manifest)
        written, unchanged = replace_files(output_dir, stagings)
        removed = remove_stale(output_dir, {*written, *unchanged})
        manifest.write()
    except OSError as error:
        raise OutputError(f"cannot write the site to {output_dir}: {error}") from error
    return PublishResult(written=tuple(written), unchanged=tuple(unchanged), removed=removed)


def _staged_site(
    site: SiteView,
    folder: Path,
    pool: PagePool | None,
    manifest: PageManifest,
) -> Generator[list[Staged]]:
    """Every file of the site, staged beside its place as it is rendered; the listings that
    `manifest` finds unchanged since the last publish are kept as they are."""
    renderer = PageRenderer(site)
    yield from staged_one_by_one(folder, renderer.combined_files())
    themed = any(_overrides(site.theme, name) for name in LISTING_TEMPLATES)
    digests = None if themed else PageDigests(site, renderer.slugs)
    pages = manifest.to_render(listings(site, renderer.slugs), digests)
    if pool is None or pool.workers == 0:
        yield from staged_one_by_one(folder, renderer.files_of(pages))
    else:
        yield from pool.staged(folder, pages, renderer)
    yield manifest.kept_files()
    yield from staged_one_by_one(folder, static_files(site.theme).items())


class PageRenderer:
    """The templates and what every page shows, set up once per process that renders."""

    def __init__(self, site: SiteView) -> None:
        self.site = site
        self.slugs = Slugs.of(site)
        self.environment = _environment(site.theme)
        markup = EntryMarkup(self.slugs.sources, site.language, language_name, rfc3339, source_id)
        self.context = {
            "site": site,
            "feeds": site.feeds,
            "version": __version__,
            "slugs": self.slugs,
            "health_marks": HEALTH_MARKS,
            "health_labels": HEALTH_LABELS,
            # The templates call these instead of including their twins, unless the theme
            # replaces the template.
            "entry_markup": None if _overrides(site.theme, "entry.html") else markup.html,
            "atom_entry_markup": None if _overrides(site.theme, "atom_entry.xml") else markup.atom,
        }
        self.atom = self.environment.get_template("atom.xml")
        self.listing = self.environment.get_template("listing.html")

    def combined_files(self) -> Iterator[tuple[str, bytes]]:
        """The planet's own feeds, subscription list and status."""
        site = self.site
        items = feed_items(site.entries[: site.feed_items])
        main_feed = AtomDocument(
            id=site.feed_id,
            title=site.title,
            subtitle=site.description,
            self_url=f"{site.link}atom.xml",
            alternate_url=site.link,
            items=items,
            updated=site.updated,
        )
        yield "atom.xml", _file(self.atom.render(document=main_feed, **self.context))
        rss = self.environment.get_template("rss.xml")
        yield "rss.xml", _file(rss.render(items=items, **self.context))
        yield "opml.xml", _file(render_opml(site, self.environment))
        yield "feed.json", _file(json_feed(site, items))
        yield "status.json", _file(status_json(site))
        status = self.environment.get_template("status.html").render(
            page=Listing("status.html", "Feed status", "status", ()),
            updated=site.updated,
            health=sorted(site.health, key=attention),
            **self.context,
        )
        yield "status.html", _file(status)

    def files_of(self, listings: Iterable[Listing]) -> Iterator[tuple[str, bytes]]:
        """The files of each listing in turn, rendered as they are asked for."""
        for listing in listings:
            yield from self.listing_files(listing)

    def listing_files(self, listing: Listing) -> list[tuple[str, bytes]]:
        """A listing's page, and its Atom feed where it has one."""
        site = self.site
        # A page says when its own newest story changed, not the site's: it then stays the
        # same bytes while its stories do (see publish_manifest).
        updated = newest_change(listing.entries) if listing.entries else None
        days = group_by_day(listing.entries)
        page = self.listing.render(page=listing, days=days, updated=updated, **self.context)
        files = [(listing.path, _file(page))]
        if listing.feed_path is not None:
            document = AtomDocument(
                id=f"{site.link}{listing.feed_path}",
                title=f"{listing.title} \u2013 {site.title}",
                subtitle=site.description,
                self_url=f"{site.link}{listing.feed_path}",
                alternate_url=f"{site.link}{listing.path}",
                items=feed_items(listing.entries),
                updated=updated or EPOCH,
            )
            files.append(
                (listing.feed_path, _file(self.atom.render(document=document, **self.context)))
            )
        return files


def _file(text: str) -> bytes:
    """Characters XML 1.0 forbids would make a whole feed unreadable; they are dropped from
    each file as a whole, one pass instead of one per value the templates print.

    Almost every file has none, and proving that over the encoded bytes (`bytes.translate`
    deletes nothing) takes a quarter of the regular expression's time over a site's 130 MB.
    A file where it finds some, or that holds U+FFFE, U+FFFF or a lone surrogate (which the
    bytes cannot show), takes the expression, so both ways give the same bytes.
    """
    if "\ufffe" not in text and "\uffff" not in text:
        try:
            data = text.rstrip().encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            if len(data.translate(None, _XML_INVALID_BYTES)) == len(data):
                return data + b"\n"
    return (_XML_INVALID.sub("", text).rstrip() + "\n").encode("utf-8")


def listings(site: SiteView, slugs: Slugs) -> Iterator[Listing]:
    """The front page and its archive, then one page per source, tag and language, made as
    they are asked for: a source's entries may be read only when its page is."""
    per_page = site.items_per_page
    front = site.entries[: per_page * site.archive_pages]
    pages = max(1, -(-len(front) // per_page))
    for number in range(1, pages + 1):
        yield Listing(
            path=front_page_path(number),
            title=site.title,
            kind="front",
            entries=front[(number - 1) * per_page : number * per_page],
            page=number,
            pages=pages,
        )
    for feed in site.feeds:
        slug = slugs.sources[feed.id]
        yield Listing(
            path=f"sources/{slug}.html",
            title=feed.name,
            kind="source",
            entries=site.sources.get(feed.id, ()),
            feed_path=f"sources/{slug}.xml",
            source=feed,
        )
    for tag, entries in site.tags.items():
        slug = slugs.tags[tag]
        yield Listing(f"tags/{slug}.html", tag, "tag", entries, feed_path=f"tags/{slug}.xml")
    for code, entries in site.languages.items():
        yield Listing(
            f"languages/{code}.html",
            language_name(code),
            "language",
            entries,
            feed_path=f"languages/{code}.xml",
        )


@dataclass(frozen=True)
class Slugs:
    """File names for sources and tags: readable, unique, and stable while the list is."""

    sources: Mapping[int, str]
    tags: Mapping[str, str]

    @classmethod
    def of(cls, site: SiteView) -> Slugs:
        return cls(
            sources=unique_slugs((feed.id, feed.name) for feed in site.feeds),
            tags=unique_slugs((tag, tag) for tag in site.tags),
        )


Key = TypeVar("Key")


def unique_slugs(named: Iterable[tuple[Key, str]]) -> dict[Key, str]:
    """`slugify` with a number added on a clash ("solidarity", "solidarity-2")."""
    found: dict[Key, str] = {}
    taken: set[str] = set()
    for key, name in named:
        base = slugify(name, max_length=60) or "untitled"
        slug, number = base, 1
        while slug in taken:
            number += 1
            slug = f"{base}-{number}"
        taken.add(slug)
        found[key] = slug
    return found


def language_name(code: str) -> str:
    """The language's own name where we know it ("Español"), else its code."""
    return LANGUAGE_NAMES.get(code, code)


def newest_change(entries: Iterable[EntryView]) -> datetime:
    return max((entry.updated or entry.published for entry in entries), default=EPOCH)


def attention(health: FeedHealth) -> tuple[int, datetime, str]:
    """Feeds that need a maintainer first: failing longest, then moved, gone, new, fine."""
    since = health.feed.failing_since or health.feed.last_success_at or EPOCH
    return (ATTENTION.index(health.feed.status), since, health.feed.name.casefold())


def status_json(site: SiteView) -> str:
    feeds = [
        {
            "name": health.feed.name,
            "url": health.feed.url,
            "site": health.feed.link,
            "state": health.feed.status,
            "last_fetched": _moment(health.feed.last_fetched_at),
            "last_success": _moment(health.feed.last_success_at),
            "failing_since": _moment(health.feed.failing_since),
            "consecutive_errors": health.feed.consecutive_errors,
            "last_error": health.feed.last_error,
            "http_status": health.feed.last_http_status,
            "next_due": _moment(health.feed.next_due_at),
            "moved_to": health.feed.moved_to,
            "entries_last_30_days": health.recent_entries,
            "entries_stored": health.feed.entry_count,
            "advice": health.advice,
        }
        for health in sorted(site.health, key=attention)
    ]
    states = [health.feed.status for health in site.health]
    document = {
        "planet": site.title,
        "link": site.link,
        "feeds_by_state": {state: states.count(state) for state in ATTENTION if state in states},
        "feeds": feeds,
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _moment(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def render_opml(site: SiteView, environment: Environment | None = None) -> str:
    """The subscription list as OPML 2.0; it needs the feeds only, not the entries."""
    template = (environment or _environment(site.theme)).get_template("opml.xml")
    return _XML_INVALID.sub("", template.render(site=site, feeds=site.feeds, version=__version__))


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
        content_type, content = content_form(entry)
        items.append(FeedItem(entry, entry_id, permalink, content_type, content))
    return items


_VOID = re.compile(r"<(area|br|col|embed|hr|img|input|source|track|wbr)\b([^>]*)>")


def content_form(entry: EntryView) -> tuple[str, str]:
    """The content as the source typed it: text stays text (its "<b>" is not markup), XHTML
    is given back as XHTML, HTML as sanitized HTML.

    The sanitized HTML is nh3's serialization, in which only void elements and `&nbsp;` keep
    it from being XML; those two are rewritten, and the result is checked before use.
    """
    form = entry.details.content.type
    if form == "text" and entry.content:
        return "text", html.unescape(entry.content)
    if form == "xhtml" and entry.content:
        markup = _VOID.sub(r"<\1\2/>", entry.content).replace("&nbsp;", "&#160;")
        try:
            ElementTree.fromstring(f'<div xmlns="{XHTML}">{markup}</div>')
        except ElementTree.ParseError:
            return "html", entry.content
        return "xhtml", Markup(markup)
    return "html", entry.content


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
    if site.websub_hub:
        document["hubs"] = [{"type": "WebSub", "url": site.websub_hub}]
    document["items"] = [_json_item(item) for item in items]
    return _XML_INVALID.sub("", json.dumps(document, ensure_ascii=False, indent=2))


def _json_item(item: FeedItem) -> dict[str, Any]:
    entry = item.entry
    data: dict[str, Any] = {"id": item.id, "title": entry.title}
    if entry.link:
        data["url"] = entry.link
    if item.content_type == "text":
        data["content_text"] = item.content
    elif entry.content:
        data["content_html"] = entry.content
    else:
        data["content_text"] = entry.summary
    if entry.summary:
        data["summary"] = entry.summary
    data["date_published"] = rfc3339(entry.published)
    if entry.updated:
        data["date_modified"] = rfc3339(entry.updated)
    data["authors"] = _json_people(entry.details.authors) or [
        {"name": entry.author or entry.feed.name}
    ]
    if entry.details.contributors:
        data["_contributors"] = _json_people(entry.details.contributors)
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
    rights = {"text": item.rights, "license": item.license}
    if any(rights.values()):
        data["_rights"] = {key: value for key, value in rights.items() if value}
    data["_source"] = _json_source(entry.feed)
    return data


def _json_people(people: Iterable[Person]) -> list[dict[str, str]]:
    """JSON Feed authors have a name and a URL, no email: a mailto: URL carries it."""
    found = []
    for person in people:
        url = person.uri or (f"mailto:{person.email}" if person.email else None)
        author = {"name": person.name, "url": url}
        found.append({key: value for key, value in author.items() if value})
    return found


def _json_source(feed: FeedView) -> dict[str, Any]:
    """The origin feed, in JSON Feed's own terms where it has them (an icon is its favicon,
    a logo its icon)."""
    origin = feed.details
    source: dict[str, Any] = {"title": feed.name, "feed_url": feed.url}
    if feed.link:
        source["home_page_url"] = feed.link
    extra = {
        "id": origin.id,
        "description": origin.subtitle,
        "favicon": origin.icon,
        "icon": origin.logo,
        "authors": _json_people(origin.authors),
        "rights": origin.rights,
        "license": origin.license,
        "tags": [category.term for category in origin.categories],
    }
    source.update({key: value for key, value in extra.items() if value})
    return source


def rfc3339(moment: datetime) -> str:
    """To the second, in UTC: "2026-12-06T01:44:58Z". `isoformat` takes two thirds of
    `strftime`'s time, and a site prints this twice for every story."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")[:19] + "Z"


def rfc822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _environment(theme: Path | None = None) -> Environment:
    """The built-in templates, each overridden by the theme's file of the same name."""
    package = PackageLoader("aggregator", "templates")
    environment = Environment(
        loader=ChoiceLoader([FileSystemLoader(theme), package]) if theme else package,
        autoescape=select_autoescape(["html", "xml"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        # A publish is one run: a template that changes on disk meanwhile waits for the next,
        # instead of every include asking the file system whether it changed.
        auto_reload=False,
    )
    environment.filters["rfc3339"] = rfc3339
    environment.filters["rfc822"] = rfc822
    environment.filters["text_as_html"] = lambda text: html.escape(text, quote=False)
    environment.filters["tag_path"] = lambda tag: "/" + tag.replace(",", " ")
    environment.filters["language_name"] = language_name
    environment.filters["media_kind"] = media_kind
    environment.filters["xml_lang"] = lambda language, around: Markup(xml_lang(language, around))
    environment.globals["source_id"] = source_id
    return environment


def _overrides(theme: Path | None, template: str) -> bool:
    return theme is not None and (theme / template).is_file()


def source_id(feed: FeedView) -> str:
    """The origin feed's own id where it is an IRI, else its address."""
    own = feed.details.id
    return own if own and _IRI.match(own) else feed.url


def static_files(theme: Path | None) -> dict[str, bytes]:
    """The built-in static files, then the theme's `static/` folder over them, file by file."""
    found: dict[str, bytes] = {}
    built_in = files("aggregator").joinpath("templates/static")
    for item in built_in.iterdir():
        if item.is_file():
            found[item.name] = item.read_bytes()
    if theme is not None and (theme / "static").is_dir():
        for path in sorted((theme / "static").rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                found[path.relative_to(theme / "static").as_posix()] = path.read_bytes()
    return found


def remove_stale(folder: Path, current: Set[str]) -> tuple[str, ...]:
    """Delete the generated pages no longer written, and temporary files a killed publish left."""
    removed = []
    for name in GENERATED_FOLDERS:
        for path in sorted((folder / name).glob("*")) if (folder / name).is_dir() else ():
            relative = path.relative_to(folder).as_posix()
            if path.is_file() and not path.name.startswith(".") and relative not in current:
                path.unlink()
                removed.append(relative)
    now = time.time()
    for parent in {(folder / name).parent for name in current}:
        for leftover in parent.glob(".*"):
            written = leftover.name[1:].rsplit(".", 1)[0]
            if (
                leftover.is_file()
                and (parent / written).relative_to(folder).as_posix() in current
                and now - leftover.stat().st_mtime > STALE_TEMPORARY
            ):
                leftover.unlink(missing_ok=True)
    return tuple(removed)


def replace_files(folder: Path, stagings: Generator[list[Staged]]) -> tuple[list[str], list[str]]:
    """Replace the files whose bytes changed, all or none.

    Every changed file is first written in full to a temporary name beside it; only when all of
    them are on disk are they renamed over the old ones. A full disk or a read-only folder
    therefore leaves the old site exactly as it was, and a reader never sees a partial file.

    The temporaries are written by whichever process renders them and made durable here, by
    one thread that syncs each batch as it arrives while the next pages render: an fsync waits
    for the disk with the interpreter released, where threads that each wrote and synced a
    file took the interpreter from the rendering thread at every step (a sixth of a publish).
    """
    staged: list[Staged] = []
    syncs: list[Future[None]] = []
    with ThreadPoolExecutor(1, thread_name_prefix="sync") as syncing, closing(stagings):
        try:
            for files in stagings:
                staged.extend(files)
                temporaries = [temporary for _name, temporary in files if temporary is not None]
                if temporaries:
                    syncs.append(syncing.submit(_sync_all, temporaries))
            for sync in syncs:
                sync.result()
        except BaseException:
            syncing.shutdown(cancel_futures=True)
            remove_temporaries(staged)
            raise
    written: list[str] = []
    unchanged: list[str] = []
    for name, temporary in staged:
        if temporary is None:
            unchanged.append(name)
        else:
            temporary.replace(folder / name)
            written.append(name)
    return written, unchanged


def staged_one_by_one(folder: Path, files: Iterable[tuple[str, bytes]]) -> Iterator[list[Staged]]:
    """Each file staged and handed on as soon as it is rendered, so that its sync (see
    replace_files) can start while the next one renders."""
    for file in files:
        yield stage_files(folder, [file])


def stage_files(folder: Path, files: Iterable[tuple[str, bytes]]) -> list[Staged]:
    """Stage each file whose bytes changed, as `files` renders it, so that memory holds one
    page at a time; on a failure, remove what this call staged."""
    staged: list[Staged] = []
    try:
        for name, data in files:
            path = folder / name
            staged.append((name, None if _same(path, data) else _stage(path, data)))
    except BaseException:
        remove_temporaries(staged)
        raise
    return staged


def discard(pending: Iterable[Future[list[Staged]]]) -> None:
    """Cancel the stagings not started, and remove the temporaries of those that ran."""
    waiting = list(pending)
    for future in waiting:
        future.cancel()
    for future in waiting:
        if not future.cancelled() and future.exception() is None:
            remove_temporaries(future.result())


def remove_temporaries(staged: Iterable[Staged]) -> None:
    for _name, temporary in staged:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def _sync_all(temporaries: Iterable[Path]) -> None:
    for temporary in temporaries:
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


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
        temporary.chmod(0o644)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary
