"""ParsedEntry → CleanEntry: the only place entry text is rewritten.

Sanitizing runs last over the HTML, after URLs are resolved, in the same nh3 pass; everything
that reaches the database is already safe to show.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache, lru_cache
from urllib.parse import urljoin, urlsplit

import nh3

from aggregator import __version__
from aggregator.language import entry_language, normalize_tag
from aggregator.records import (
    Category,
    CleanEntry,
    Enclosure,
    EntryDetails,
    FeedDetails,
    Link,
    ParsedEntry,
    ParsedFeed,
    Person,
    TextForm,
)

GUID_MAX_LENGTH = 512
LINK_MAX_LENGTH = 2048
DERIVED_TITLE_WORDS = 10
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
MAX_ENCLOSURES = 20
# More than this of one kind is a broken or hostile source, not information.
MAX_DETAILS = 50
TEXT_MAX_LENGTH = 2048
# An embedded player may run its own scripts in its own origin, and nothing more: no top-level
# navigation, no forms, no access to the page around it.
IFRAME_SANDBOX = "allow-scripts allow-same-origin allow-presentation allow-popups"
IFRAME_REFERRER = "strict-origin-when-cross-origin"

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite",
        "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em",
        "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
        "kbd", "li", "mark", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "small",
        "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
        "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"lang", "dir", "title"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "ol": {"start", "reversed", "type"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
}
_IFRAME_ATTRIBUTES = {"src", "width", "height", "title", "allowfullscreen"}
# Attributes sanitize_html adds itself; nh3 keeps them only with exactly these values, so what it
# stores is a fixed point of cleaning.
_ADDED_ATTRIBUTES = {
    "img": {"loading": {"lazy"}},
    "iframe": {
        "sandbox": {IFRAME_SANDBOX},
        "loading": {"lazy"},
        "referrerpolicy": {IFRAME_REFERRER},
    },
}
_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
# What urljoin and urlsplit give back unchanged once the scheme is http(s) and there is a host:
# no space, no ";" (path parameters, which they split off and may drop), no brackets (an IPv6
# host, which they check). The rest of the test is in _as_is.
_AS_IS_URL = re.compile(r"https?://[^\s/?#;\[\]]+(?:[/?#][^\s;\[\]]*)?")
_IMG = re.compile(r'<img\b((?:[^>"]|"[^"]*")*)>')
_LINK = re.compile(r'<a\b((?:[^>"]|"[^"]*")*)>(.*?)</a>', re.DOTALL)
_IFRAME = re.compile(r'<iframe\b((?:[^>"]|"[^"]*")*)>.*?</iframe>', re.DOTALL)
_ATTRIBUTE = re.compile(r'\s([^\s="]+)(?:="([^"]*)")?')
_EMAIL = re.compile(r"[^@\s<>\"]{1,64}@[^@\s<>\"]{1,255}")
_REL = re.compile(r"[a-z][a-z0-9.+-]{0,63}|https?://\S{1,2000}")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
# Where a space goes so that blocks' texts do not run together: before the tag, matched by a
# lookahead, so that the replacement is a plain string rather than a template to expand.
_BLOCK_START = re.compile(
    r"(?=</?(?:p|div|br|li|ul|ol|h[1-6]|blockquote|pre|tr|td|th|table|figure|figcaption|dd|dt|hr)\b)",
    re.IGNORECASE,
)
# What an HTML parser reads differently from plain text: tags, references, and the NUL and
# byte-order mark it drops.
_PARSED_ALIKE = re.compile("[<&\x00\ufeff]")
_NOT_TEXT = frozenset({"script", "style", "figcaption", "noscript", "template", "iframe"})
_TEXT_ONLY = nh3.Cleaner(tags=set(), clean_content_tags=set(_NOT_TEXT))
_TRUNCATION = re.compile(r"\s*(?:\[\s*(?:\u2026|\.{3})\s*\]|\.{3}|\u2026)\s*$")
_BOILERPLATE = (
    re.compile(r"\s*(?:\bRead More\b[\s\u00bb\u203a\u2192.]*)+$", re.IGNORECASE),
    re.compile(r"\s*\bContinue reading\b[^.!?]{0,160}$", re.IGNORECASE),
    re.compile(r"\s*\bThe post\b.{1,300}?\bappeared first on\b.{1,200}$", re.IGNORECASE),
)
# Each pattern above tries every position of the text for its ending, since Python's
# expressions cannot search backwards; one scan for the words they all need tells first whether
# any can match. Cutting an ending off never adds them.
_BOILERPLATE_WORDS = re.compile(r"Read More|Continue reading|appeared first on", re.IGNORECASE)
_TRUNCATION_ENDS = ("]", "...", "\u2026")


@dataclass(frozen=True)
class NormalizeOptions:
    excerpt_words: int = 60
    language: str | None = None
    iframe_hosts: frozenset[str] = frozenset()


def source_hash(entry: ParsedEntry, feed_url: str, options: NormalizeOptions) -> str:
    """A hash of everything normalize_entry's result depends on but the fetch time (which only
    dates an undated entry, and a stored entry keeps its date): the entry as the source wrote
    it, the feed's address, the options and this version of the code. An entry stored with the
    same hash need not be normalized again."""
    settings = (options.excerpt_words, options.language, sorted(options.iframe_hosts))
    described = repr((__version__, feed_url, settings, entry))
    return hashlib.sha256(described.encode("utf-8", "surrogatepass")).hexdigest()


def normalize_entry(
    entry: ParsedEntry, feed_url: str, fetched_at: datetime, options: NormalizeOptions
) -> CleanEntry:
    link = absolute_url(entry.link, entry.base or feed_url) if entry.link else None
    if link is not None and len(link) > LINK_MAX_LENGTH:
        link = None
    base = entry.base or link or feed_url
    content = sanitize_html(entry.content or entry.summary or "", base, options.iframe_hosts)
    full_text = plain_text(content)
    text, cut = strip_boilerplate(plain_text(entry.summary) if entry.summary else full_text)
    title, derived = _title(entry, text)
    published = _not_after(entry.published or entry.updated or fetched_at, fetched_at)
    updated = _not_after(entry.updated, fetched_at) if entry.updated else None
    clean = {
        "link": link,
        "title": title,
        "author": collapse(entry.author) if entry.author else None,
        "summary": excerpt(text, options.excerpt_words, cut),
        "content": content,
        "categories": tuple(dict.fromkeys(collapse(term) for term in entry.categories)),
        "enclosures": clean_enclosures(entry.enclosures, base),
        "details": replace(
            clean_entry_details(entry.details, base), title_html=_title_html(entry, base)
        ),
    }
    return CleanEntry(
        guid=_guid(entry, link, title, content),
        title_derived=derived,
        language=entry_language(options.language or entry.language, f"{title}. {full_text}"),
        published=published,
        updated=updated,
        content_hash=content_hash(clean),
        text=full_text,
        **clean,  # type: ignore[arg-type]
    )


def sanitize_html(markup: str, base: str, iframe_hosts: frozenset[str] = frozenset()) -> str:
    """Allowlist sanitizing with every URL made absolute against `base`, in one nh3 pass.

    Images load lazily. An iframe survives only when it embeds a player from `iframe_hosts`
    over https; it is then emptied and sandboxed.
    """
    _document.base = base
    _document.iframe_hosts = iframe_hosts
    cleaner = _cleaner(bool(iframe_hosts))

    def clean(text: str) -> str:
        cleaned = _LINK.sub(_link_or_text, cleaner.clean(text).strip())
        return _IFRAME.sub(_player, _IMG.sub(_lazy_image, cleaned))

    # Removing an element can leave markup a browser parses differently (a <p> inside a <p>
    # once an <object> between them is gone); cleaning the result again settles it, and what is
    # stored is then exactly what a browser will build.
    cleaned = clean(markup)
    for _ in range(2):
        again = clean(cleaned)
        if again == cleaned:
            break
        cleaned = again
    return cleaned


class _Document(threading.local):
    """What the cleaners' attribute filter needs to know of the markup being cleaned, set by
    sanitize_html for each call: the cleaners are built once, not for each document."""

    base = ""
    iframe_hosts: frozenset[str] = frozenset()


_document = _Document()


def _resolve(tag: str, attribute: str, value: str) -> str | None:
    if attribute not in _URL_ATTRIBUTES:
        return value
    url = absolute_url(value, _document.base)
    if tag == "iframe" and url is not None:
        return _embeddable(url, _document.iframe_hosts)
    return url


@cache
def _cleaner(iframes: bool) -> nh3.Cleaner:
    """The cleaner for documents with or without embedded players. Built once: turning the
    options into the Rust sanitizer's took longer than cleaning a usual entry (about 35 µs a
    call, against 25 for the cleaning)."""
    attributes = {tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()}
    if iframes:
        attributes["iframe"] = set(_IFRAME_ATTRIBUTES)
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS) | ({"iframe"} if iframes else set()),
        clean_content_tags={"script", "style"} | (set() if iframes else {"iframe"}),
        attributes=attributes,
        tag_attribute_values=_ADDED_ATTRIBUTES,
        attribute_filter=_resolve,
        link_rel=LINK_REL,
        url_schemes=set(SAFE_SCHEMES),
        strip_comments=True,
    )


def _link_or_text(match: re.Match[str]) -> str:
    """A link whose target was refused (javascript:, data:) becomes its text: nh3 would leave
    an <a> with no href, which is no link and not valid HTML. Links do not nest, so the first
    </a> closes it."""
    names = {name for name, _value in _ATTRIBUTE.findall(match.group(1))}
    return match.group(0) if "href" in names else match.group(2)


def _lazy_image(match: re.Match[str]) -> str:
    """Every image loads lazily, its `loading` first. Sources that already ask for it
    (WordPress does, last) would otherwise get a second one in front, which the next pass of
    nh3 drops, and every such entry would need a third pass to be found stable."""
    attributes = match.group(1).replace(' loading="lazy"', "")
    return f'<img loading="lazy"{attributes}>'


def _embeddable(url: str, hosts: frozenset[str]) -> str | None:
    """The player's https address when its host is allowed (old embeds say http)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or (parts.hostname or "") not in hosts:
        return None
    return parts._replace(scheme="https").geturl()


def _player(match: re.Match[str]) -> str:
    """Rebuild a cleaned iframe with its fallback content dropped and the sandbox added; one
    whose source was refused (no src left) is removed.

    Matching with a regular expression is safe here because it reads nh3's own serialization,
    in which every attribute value is double-quoted and escaped.
    """
    kept = {
        name: value
        for name, value in _ATTRIBUTE.findall(match.group(1))
        if name in _IFRAME_ATTRIBUTES
    }
    if "src" not in kept:
        return ""
    attributes = "".join(
        f' {name}="{value}"' if value else f" {name}" for name, value in kept.items()
    )
    return (
        f'<iframe{attributes} sandbox="{IFRAME_SANDBOX}" loading="lazy" '
        f'referrerpolicy="{IFRAME_REFERRER}"></iframe>'
    )


def clean_enclosures(enclosures: tuple[Enclosure, ...], base: str) -> tuple[Enclosure, ...]:
    """Absolute http(s) URLs only, one per URL, with a media type only when it is one."""
    kept: dict[str, Enclosure] = {}
    for enclosure in enclosures:
        url = web_url(enclosure.url, base)
        if url is None or url in kept:
            continue
        if len(url) > LINK_MAX_LENGTH or len(kept) == MAX_ENCLOSURES:
            continue
        media_type = (enclosure.type or "").strip().lower()
        kept[url] = Enclosure(
            url, media_type if _MEDIA_TYPE.fullmatch(media_type) else None, enclosure.length
        )
    return tuple(kept.values())


def normalize_feed(feed: ParsedFeed, url: str) -> ParsedFeed:
    """The feed's own title as plain text and its site link only if it is safe to link to."""
    return replace(
        feed,
        title=plain_text(feed.title or "") or None,
        link=web_url(feed.link, url),
        details=clean_feed_details(feed.details, url),
    )


def clean_entry_details(details: EntryDetails, base: str) -> EntryDetails:
    return EntryDetails(
        authors=clean_people(details.authors, base),
        contributors=clean_people(details.contributors, base),
        links=clean_links(details.links, base),
        categories=clean_categories(details.categories),
        rights=_short_text(details.rights),
        license=web_url(details.license, base),
        title=_clean_form(details.title),
        content=_clean_form(details.content),
    )


def clean_feed_details(details: FeedDetails, base: str) -> FeedDetails:
    return FeedDetails(
        id=_short_text(details.id),
        title=_short_text(details.title),
        subtitle=_short_text(details.subtitle),
        links=clean_links(details.links, base),
        updated=details.updated,
        authors=clean_people(details.authors, base),
        icon=web_url(details.icon, base),
        logo=web_url(details.logo, base),
        rights=_short_text(details.rights),
        license=web_url(details.license, base),
        categories=clean_categories(details.categories),
    )


def clean_people(people: tuple[Person, ...], base: str) -> tuple[Person, ...]:
    """Names as plain text, an email only when it is one, a URI only when it is a web page."""
    cleaned = (
        Person(
            name=_short_text(person.name),
            email=person.email.strip()
            if person.email and _EMAIL.fullmatch(person.email.strip())
            else None,
            uri=web_url(person.uri, base),
        )
        for person in people
    )
    return tuple(dict.fromkeys(p for p in cleaned if p != Person()))[:MAX_DETAILS]


def clean_links(links: tuple[Link, ...], base: str) -> tuple[Link, ...]:
    """Web links only, once each; one alternate per type and language, as RFC 4287 requires."""
    kept: dict[tuple[str | None, ...], Link] = {}
    for link in links:
        href = web_url(link.href, base)
        rel = link.rel.strip().lower()
        if href is None or not _REL.fullmatch(rel):
            continue
        media_type = (link.type or "").strip().lower()
        clean = Link(
            href=href,
            rel=rel,
            type=media_type if _MEDIA_TYPE.fullmatch(media_type) else None,
            length=link.length,
            title=_short_text(link.title),
            hreflang=normalize_tag(link.hreflang) if link.hreflang else None,
        )
        key = (rel, clean.type, clean.hreflang) if rel == "alternate" else (rel, href)
        kept.setdefault(key, clean)
    return tuple(kept.values())[:MAX_DETAILS]


def clean_categories(categories: tuple[Category, ...]) -> tuple[Category, ...]:
    cleaned = (
        Category(term, _short_text(category.scheme), _short_text(category.label))
        for category in categories
        if (term := _short_text(category.term))
    )
    return tuple(dict.fromkeys(cleaned))[:MAX_DETAILS]


def _clean_form(form: TextForm) -> TextForm:
    return TextForm(form.type, normalize_tag(form.language) if form.language else None)


def _short_text(value: str | None) -> str | None:
    """Plain text of a short field (a name, a licence statement); markup and entities go."""
    text = plain_text(value)[:TEXT_MAX_LENGTH] if value else ""
    return text or None


def web_url(value: str | None, base: str) -> str | None:
    """An absolute http(s) URL, or None.

    Feeds put anything in their links (javascript:, their urn: id when they have no link at
    all), and the pages and feeds turn them into links.
    """
    link = absolute_url(value, base) if value else None
    return link if link is not None and link.startswith(("http://", "https://")) else None


@lru_cache(maxsize=4096)
def absolute_url(value: str, base: str) -> str | None:
    """Resolve against base; None for anything that is not a safe scheme (javascript:, data:).

    Remembered, since an entry's links come back in its content, its summary and its details,
    and once more when sanitize_html checks its own output.
    """
    value = value.strip()
    if not value:
        return None
    if _as_is(value):
        return value
    try:
        resolved = urljoin(base, value)
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:
        return None
    return resolved if scheme in SAFE_SCHEMES else None


def _as_is(url: str) -> bool:
    """Whether `url` is an absolute http(s) URL that resolving gives back as it is, whatever the
    base: three in four links a feed gives are, and urljoin took 10 to 30 µs to say so."""
    return (
        _AS_IS_URL.fullmatch(url) is not None
        and url.isascii()
        and url.isprintable()
        and not url.endswith(("?", "#"))
        and "?#" not in url
    )


def plain_text(markup: str) -> str:
    """The text a reader reads: tags, scripts, styles, image alt text and captions dropped.

    Most names, categories and titles hold no markup at all, and an HTML parser gives such a
    text back as it was, save the few characters _PARSED_ALIKE looks for; a test holds the
    two routes to the same result.
    """
    if _PARSED_ALIKE.search(markup) is None:
        return collapse(markup)
    return text_of_markup(markup)


def text_of_markup(markup: str) -> str:
    spaced = _BLOCK_START.sub(" ", markup)
    return collapse(html.unescape(_TEXT_ONLY.clean(spaced)))


def strip_boilerplate(text: str) -> tuple[str, bool]:
    """Remove what publishing software appends to excerpts ("Read More", "Continue reading",
    "The post … appeared first on …", "[…]"); say whether the source marked a cut."""
    cut = False
    boilerplate = _BOILERPLATE if _BOILERPLATE_WORDS.search(text) else ()
    while True:
        before = text
        if text.rstrip().endswith(_TRUNCATION_ENDS):
            text, markers = _TRUNCATION.subn("", text)
            cut = cut or bool(markers)
        for pattern in boilerplate:
            text = pattern.sub("", text)
        if text == before:
            return text.strip(), cut


def collapse(text: str) -> str:
    """One space for each run of whitespace (str.split's whitespace is the regular
    expressions' \\s, a test holds them equal), none at the ends, in composed form."""
    return unicodedata.normalize("NFC", " ".join(text.split()))


def excerpt(text: str, words: int, cut: bool = False) -> str:
    """About `words` words, cut on a word boundary; "…" marks a cut, ours or the source's."""
    parts = text.split()
    if len(parts) <= words:
        return text + "…" if cut and text and not text.endswith("…") else text
    return " ".join(parts[:words]).rstrip(",;:.-\u2013\u2014").rstrip() + "…"


def content_hash(fields: Mapping[str, object]) -> str:
    """A stable hash of the non-empty fields: a field added later does not change old hashes."""
    present = {key: value for key, value in fields.items() if value not in (None, "", ())}
    encoded = json.dumps(present, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _title(entry: ParsedEntry, text: str) -> tuple[str, bool]:
    title = plain_text(entry.title or "")
    if title:
        return title, False
    if text:
        return excerpt(text, DERIVED_TITLE_WORDS), True
    return "Untitled", True


def _title_html(entry: ParsedEntry, base: str) -> str | None:
    # Without a "<" there is no tag to keep, whatever sanitizing would make of the rest.
    if entry.details.title.type != "html" or not entry.title or "<" not in entry.title:
        return None
    markup = sanitize_html(entry.title, base)
    return markup if "<" in markup else None


def _guid(entry: ParsedEntry, link: str | None, title: str, content: str) -> str:
    guid = entry.guid or link
    if guid is None:
        guid = "sha256:" + hashlib.sha256(f"{title}\n{content}".encode()).hexdigest()
    elif len(guid) > GUID_MAX_LENGTH:
        guid = "sha256:" + hashlib.sha256(guid.encode()).hexdigest()
    return guid


def _not_after(moment: datetime, limit: datetime) -> datetime:
    """A date in the future (a wrong clock at the source) would pin an entry to the top."""
    return min(moment, limit)
