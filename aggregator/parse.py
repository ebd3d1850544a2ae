"""Fetched bytes → ParsedFeed, with parse_fast where it reads the same as feedparser, else
with feedparser.

feedparser is handed the body and the response headers, never a URL, and its own sanitizer and
relative-URI pass are switched off: normalize resolves URLs and sanitizes once, with nh3, which
is both faster and stricter. What comes out is still the source's raw text.
"""

from __future__ import annotations

import calendar
import html
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any
from urllib.parse import urljoin

import feedparser

from aggregator.errors import ParseError
from aggregator.parse_fast import read_well_formed
from aggregator.records import (
    Category,
    Enclosure,
    EntryDetails,
    FeedDetails,
    Link,
    ParsedEntry,
    ParsedFeed,
    Person,
    TextForm,
)

_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_FEED_TYPES = {
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
    "application/xml",
    "text/xml",
}
_SY_PERIODS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
    "monthly": timedelta(days=30),
    "yearly": timedelta(days=365),
}


def parse_feed(content: bytes, url: str, headers: Mapping[str, str]) -> ParsedFeed:
    """Raise ParseError, in words a maintainer understands, when there is no feed to read."""
    parsed = parse_well_formed(content, url, headers)
    return parsed if parsed is not None else parse_with_feedparser(content, url, headers)


def parse_well_formed(content: bytes, url: str, headers: Mapping[str, str]) -> ParsedFeed | None:
    """The fast route (parse_fast), or None where it leaves the response to feedparser."""
    document = read_well_formed(content, url, headers)
    if document is None:
        return None
    return _parsed_feed(document.feed, document.entries, document.rss, url, None)


def parse_with_feedparser(content: bytes, url: str, headers: Mapping[str, str]) -> ParsedFeed:
    """feedparser's reading of any response: the fallback, and what parse_fast is held to."""
    if not content.strip():
        raise ParseError(url, "the server sent an empty response")
    response_headers = dict(headers)
    response_headers["content-location"] = url
    try:
        result = _feedparser(content, response_headers)
    except (UnicodeEncodeError, ValueError, OverflowError):
        # feedparser raises on a numeric reference to no character, losing the whole feed.
        repaired = repaired_references(content)
        if repaired == content:
            raise
        result = _feedparser(repaired, response_headers)
    channel = result.get("feed", {})
    if not result.entries and not result.get("version") and not channel.get("title"):
        raise ParseError(url, _not_a_feed_reason(content, result, url))
    warning = None
    if result.get("bozo"):
        warning = f"feed is not well-formed, read leniently: {result.get('bozo_exception')}"
    rss = str(result.get("version", "")).startswith("rss")
    return _parsed_feed(channel, result.entries, rss, url, warning)


def _feedparser(content: bytes, response_headers: Mapping[str, str]) -> Any:
    return feedparser.parse(
        content,
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


_CHARACTER_REFERENCE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_REPLACEMENT = b"&#xFFFD;"


def repaired_references(content: bytes) -> bytes:
    """Numeric character references made readable: a UTF-16 surrogate pair written as two
    references (how some publishing systems write an emoji, "&#55357;&#56832;") becomes the one
    character it stands for, and a lone surrogate or a number beyond Unicode becomes U+FFFD, as
    an HTML parser reads them. Every other byte is left as it was."""
    pieces: list[bytes] = []
    position = 0
    high: tuple[re.Match[bytes], int] | None = None
    for match in _CHARACTER_REFERENCE.finditer(content):
        code = _code_point(match)
        if high is not None:
            high_match, high_code = high
            high = None
            if match.start() == high_match.end() and 0xDC00 <= code <= 0xDFFF:
                combined = 0x10000 + ((high_code - 0xD800) << 10) + (code - 0xDC00)
                pieces += [content[position : high_match.start()], b"&#x%X;" % combined]
                position = match.end()
                continue
            pieces += [content[position : high_match.start()], _REPLACEMENT]
            position = high_match.end()
        if 0xD800 <= code <= 0xDBFF:
            high = (match, code)
        elif 0xDC00 <= code <= 0xDFFF or code > 0x10FFFF:
            pieces += [content[position : match.start()], _REPLACEMENT]
            position = match.end()
    if high is not None:
        pieces += [content[position : high[0].start()], _REPLACEMENT]
        position = high[0].end()
    pieces.append(content[position:])
    return b"".join(pieces)


def _code_point(match: re.Match[bytes]) -> int:
    hexadecimal, decimal = match.groups()
    digits, base = (hexadecimal, 16) if hexadecimal is not None else (decimal, 10)
    # Leading zeros aside, more than eight digits is beyond Unicode in either base; int() of a
    # few thousand digits would itself refuse.
    digits = digits.lstrip(b"0") or b"0"
    return int(digits, base) if len(digits) <= 8 else 0x110000


def _parsed_feed(
    channel: Any, entries: Sequence[Any], rss: bool, url: str, warning: str | None
) -> ParsedFeed:
    """Both routes' reading, in feedparser's shape, as a ParsedFeed."""
    document_base = channel.get("title_detail", {}).get("base") or url
    return ParsedFeed(
        title=_as_html(channel.get("title_detail") or {}),
        link=_text(channel.get("link")),
        language=_text(channel.get("language")),
        entries=tuple(_entry(entry, document_base, channel, rss) for entry in entries),
        warning=warning,
        update_hint=_update_hint(channel),
        details=_feed_details(channel),
    )


def _not_a_feed_reason(content: bytes, result: Any, url: str) -> str:
    head = content[:2048].lower()
    if b"<html" in head or b"<!doctype html" in head:
        feeds = _advertised_feeds(result, url)
        if feeds:
            return f"this is a web page; its feed is at {feeds[0]}"
        return "this is a web page, not a feed, and it names no feed of its own"
    if result.get("bozo"):
        return f"not a readable feed: {result.get('bozo_exception')}"
    return "not a feed: no RSS, Atom or RDF elements found"


def discover_feeds(content: bytes, url: str) -> list[str]:
    """The feeds a web page advertises, best first; empty for anything else."""
    return _advertised_feeds(feedparser.parse(content, sanitize_html=False), url)


def _advertised_feeds(result: Any, url: str) -> list[str]:
    """The feeds a web page names in <link rel="alternate">, which feedparser collects."""
    return [
        urljoin(url, link["href"])
        for link in result.get("feed", {}).get("links", [])
        if link.get("rel") == "alternate" and link.get("type") in _FEED_TYPES and link.get("href")
    ]


def _update_hint(channel: Any) -> timedelta | None:
    """RSS <ttl> (minutes) and sy:updatePeriod / sy:updateFrequency, whichever is longer."""
    hints = []
    ttl = str(channel.get("ttl", "")).strip()
    if ttl.isdigit() and int(ttl) > 0:
        hints.append(timedelta(minutes=int(ttl)))
    period = _SY_PERIODS.get(str(channel.get("sy_updateperiod", "")).strip().lower())
    frequency = str(channel.get("sy_updatefrequency", "1")).strip()
    if period is not None and frequency.isdigit() and int(frequency) > 0:
        hints.append(period / int(frequency))
    return max(hints) if hints else None


def _entry(entry: Any, document_base: str, channel: Any, rss: bool) -> ParsedEntry:
    content_detail = _best_content(entry.get("content") or [])
    summary_detail = entry.get("summary_detail") or {}
    title_detail = entry.get("title_detail") or {}
    detail = content_detail or summary_detail
    link = _text(entry.get("link"))
    base = detail.get("base") or document_base
    if base == document_base and link:
        base = link
    return ParsedEntry(
        guid=_text(entry.get("id")),
        link=link,
        title=_as_html(title_detail),
        author=_text(entry.get("author")),
        summary=_as_html(summary_detail),
        content=_as_html(content_detail) if content_detail else None,
        published=_datetime(entry.get("published_parsed")),
        # dict.get skips feedparser's deprecated fallback from updated to published.
        updated=_datetime(dict.get(entry, "updated_parsed")),
        categories=tuple(
            term for tag in entry.get("tags") or [] if (term := _text(tag.get("term")))
        ),
        base=base,
        language=_text(detail.get("language")) or _text(channel.get("language")),
        enclosures=tuple(
            Enclosure(url, _text(item.get("type")), _length(item.get("length")))
            for item in entry.get("enclosures") or []
            if (url := _text(item.get("href")))
        ),
        details=_entry_details(entry, title_detail, content_detail, detail, rss),
    )


def _entry_details(entry: Any, title: Any, content: Any, body: Any, rss: bool) -> EntryDetails:
    links = _links(entry.get("links"))
    return EntryDetails(
        authors=(_rss_author(entry) if rss else ()) or _people(entry.get("authors")),
        contributors=_people(entry.get("contributors")),
        links=links,
        categories=_categories(entry.get("tags")),
        rights=_text((entry.get("rights_detail") or {}).get("value")),
        license=next((link.href for link in links if link.rel == "license"), None),
        title=_form(title, "text"),
        content=_form(content or body, "html"),
    )


def _rss_author(entry: Any) -> tuple[Person, ...]:
    """An RSS <author> such as "jo@union.example (Jo Bloggs)", read with the standard library.

    feedparser splits it with a pattern that knows only two- to four-letter top-level domains
    and cuts "jo@union.example" to "jo@union.exam"; its raw text is kept, so it is read again.
    """
    raw = _text(entry.get("author"))
    if raw is None or "@" not in raw:
        return ()
    name, address = parseaddr(raw)
    if "@" not in address:
        return ()
    return (Person(name or None, address, None),)


def _feed_details(channel: Any) -> FeedDetails:
    links = _links(channel.get("links"))
    image = channel.get("image") or {}
    return FeedDetails(
        id=_text(channel.get("id")),
        title=_text(channel.get("title")),
        subtitle=_text(channel.get("subtitle")),
        links=links,
        updated=_datetime(dict.get(channel, "updated_parsed")),
        authors=_people(channel.get("authors")),
        icon=_text(channel.get("icon")),
        logo=_text(channel.get("logo")) or _text(image.get("href")),
        rights=_text((channel.get("rights_detail") or {}).get("value")),
        license=next((link.href for link in links if link.rel == "license"), None),
        categories=_categories(channel.get("tags")),
    )


def _people(items: Any) -> tuple[Person, ...]:
    people = (
        Person(_text(item.get("name")), _text(item.get("email")), _text(item.get("href")))
        for item in items or []
        if isinstance(item, dict)
    )
    return tuple(dict.fromkeys(person for person in people if person != Person()))


def _links(items: Any) -> tuple[Link, ...]:
    return tuple(
        Link(
            href=href,
            rel=_text(item.get("rel")) or "alternate",
            type=_text(item.get("type")),
            length=_length(item.get("length")),
            title=_text(item.get("title")),
            hreflang=_text(item.get("hreflang")),
        )
        for item in items or []
        if isinstance(item, dict) and (href := _text(item.get("href")))
    )


def _categories(items: Any) -> tuple[Category, ...]:
    return tuple(
        Category(term, _text(item.get("scheme")), _text(item.get("label")))
        for item in items or []
        if isinstance(item, dict) and (term := _text(item.get("term")))
    )


_FORMS = {"text/plain": "text", "text/html": "html", "application/xhtml+xml": "xhtml"}


def _form(detail: Any, default: str) -> TextForm:
    """The source's type of a text construct and its language (xml:lang, else the channel's)."""
    if not detail:
        return TextForm(default)
    return TextForm(_FORMS.get(detail.get("type"), default), _text(detail.get("language")))


def _length(value: Any) -> int | None:
    """RSS requires a byte length and sources fill it with anything: "", "0", "12 MB"."""
    text = _text(value)
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 15:
        return None
    return int(text) or None


def _as_html(detail: Any) -> str | None:
    """feedparser marks each text construct's type; plain text is escaped to become HTML."""
    value = detail.get("value")
    if not isinstance(value, str) or not value:
        return None
    return html.escape(value, quote=False) if detail.get("type") == "text/plain" else value


def _best_content(contents: list[Any]) -> Any:
    for item in contents:
        if item.get("type") in _HTML_TYPES:
            return item
    return contents[0] if contents else None


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _datetime(value: time.struct_time | None) -> datetime | None:
    """feedparser gives UTC struct_times; some sources produce ones no datetime can hold."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None
