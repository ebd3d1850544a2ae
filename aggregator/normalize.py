"""ParsedEntry → CleanEntry: the only place entry text is rewritten.

Sanitizing runs last over the HTML, after URLs are resolved, in the same nh3 pass; everything
that reaches the database is already safe to show.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import nh3

from aggregator.records import CleanEntry, ParsedEntry, ParsedFeed

GUID_MAX_LENGTH = 512
LINK_MAX_LENGTH = 2048
DERIVED_TITLE_WORDS = 10
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"

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
_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
_BLOCK_START = re.compile(
    r"<(/?)(p|div|br|li|ul|ol|h[1-6]|blockquote|pre|tr|td|th|table|figure|figcaption|dd|dt|hr)\b",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"\s+")
_NOT_TEXT = frozenset({"script", "style", "figcaption", "noscript", "template"})
_TRUNCATION = re.compile(r"\s*(?:\[\s*(?:\u2026|\.{3})\s*\]|\.{3}|\u2026)\s*$")
_BOILERPLATE = (
    re.compile(r"\s*(?:\bRead More\b[\s\u00bb\u203a\u2192.]*)+$", re.IGNORECASE),
    re.compile(r"\s*\bContinue reading\b[^.!?]{0,160}$", re.IGNORECASE),
    re.compile(r"\s*\bThe post\b.{1,300}?\bappeared first on\b.{1,200}$", re.IGNORECASE),
)


@dataclass(frozen=True)
class NormalizeOptions:
    excerpt_words: int = 60
    language: str | None = None


def normalize_entry(
    entry: ParsedEntry, feed_url: str, fetched_at: datetime, options: NormalizeOptions
) -> CleanEntry:
    link = absolute_url(entry.link, entry.base or feed_url) if entry.link else None
    if link is not None and len(link) > LINK_MAX_LENGTH:
        link = None
    base = entry.base or link or feed_url
    content = sanitize_html(entry.content or entry.summary or "", base)
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
    }
    return CleanEntry(
        guid=_guid(entry, link, title, content),
        title_derived=derived,
        language=options.language or entry.language,
        published=published,
        updated=updated,
        content_hash=content_hash(clean),
        text=full_text,
        **clean,  # type: ignore[arg-type]
    )


def sanitize_html(markup: str, base: str) -> str:
    """Allowlist sanitizing with every URL made absolute against `base`, in one nh3 pass."""

    def resolve(_tag: str, attribute: str, value: str) -> str | None:
        if attribute not in _URL_ATTRIBUTES:
            return value
        return absolute_url(value, base)

    def clean(text: str) -> str:
        return nh3.clean(
            text,
            tags=set(ALLOWED_TAGS),
            attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
            attribute_filter=resolve,
            link_rel=LINK_REL,
            url_schemes=set(SAFE_SCHEMES),
            strip_comments=True,
        ).strip()

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


def normalize_feed(feed: ParsedFeed, url: str) -> ParsedFeed:
    """The feed's own title as plain text and its site link only if it is safe to link to."""
    return replace(feed, title=plain_text(feed.title or "") or None, link=site_link(feed.link, url))


def site_link(value: str | None, base: str) -> str | None:
    """A feed's own link to its web site, only when it is an absolute http(s) URL.

    Feeds put anything here (javascript:, their urn: id when they have no link at all), and the
    page and the OPML turn it into a link.
    """
    link = absolute_url(value, base) if value else None
    return link if link is not None and link.startswith(("http://", "https://")) else None


def absolute_url(value: str, base: str) -> str | None:
    """Resolve against base; None for anything that is not a safe scheme (javascript:, data:)."""
    value = value.strip()
    if not value:
        return None
    try:
        resolved = urljoin(base, value)
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:
        return None
    return resolved if scheme in SAFE_SCHEMES else None


def plain_text(markup: str) -> str:
    """The text a reader reads: tags, scripts, styles, image alt text and captions dropped."""
    spaced = _BLOCK_START.sub(r" <\1\2", markup)
    return collapse(html.unescape(nh3.clean(spaced, tags=set(), clean_content_tags=set(_NOT_TEXT))))


def strip_boilerplate(text: str) -> tuple[str, bool]:
    """Remove what publishing software appends to excerpts ("Read More", "Continue reading",
    "The post … appeared first on …", "[…]"); say whether the source marked a cut."""
    cut = False
    while True:
        before = text
        text, markers = _TRUNCATION.subn("", text)
        cut = cut or bool(markers)
        for pattern in _BOILERPLATE:
            text = pattern.sub("", text)
        if text == before:
            return text.strip(), cut


def collapse(text: str) -> str:
    return unicodedata.normalize("NFC", _WHITESPACE.sub(" ", text)).strip()


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
