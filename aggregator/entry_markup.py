"""Hand-written twins of the `entry.html` and `atom_entry.xml` templates.

A publish renders every story it shows twice, as a page's HTML and as an Atom entry, and
Jinja spends about 30 µs on each; these functions write the same bytes in about a quarter of
the time. They stand in for a template only while the theme leaves it alone (see
`PageRenderer`), so the templates remain what a theme copies and changes, and
tests/test_entry_markup.py holds each twin to its template's output, byte for byte.

Jinja is not used here because its per-value cost (a context lookup, an attribute lookup and a
Markup object for every `{{ }}`) is the cost being avoided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from markupsafe import Markup

from aggregator.records import Category, EntryView, FeedView, Person

if TYPE_CHECKING:
    from aggregator.publish import FeedItem, Listing


class EntryMarkup:
    """The twins for one site: its source slugs and language are the same on every page."""

    def __init__(
        self,
        source_slugs: Mapping[int, str],
        site_language: str | None,
        language_name: Callable[[str], str],
        rfc3339: Callable[[datetime], str],
        source_id: Callable[[FeedView], str],
    ) -> None:
        self._slugs = source_slugs
        self._site_language = (site_language or "en").split("-")[0]
        self._language_name = language_name
        self._rfc3339 = rfc3339
        self._source_id = source_id
        # An Atom entry's <source> depends on its feed alone, and a listing's entries share a
        # few feeds: each is written once.
        self._sources: dict[int, str] = {}

    def html(self, entry: EntryView, page: Listing) -> Markup:
        """entry.html: one story on a page."""
        feed = entry.feed
        name = _escape(feed.name)
        out = ['        <article class="entry"']
        if entry.language:
            out.append(f' lang="{_escape(entry.language)}"')
        if page.kind == "front":
            if entry.language:
                out.append(f' data-language="{_escape(entry.language.split("-")[0].lower())}"')
            out.append(f' data-source="{_escape(self._slugs[feed.id])}"')
        title = _escape(entry.title)
        if entry.link:
            link = _escape(entry.link)
            out.append(f'>\n          <h3 class="entry-title"><a href="{link}">{title}</a></h3>')
        else:
            out.append(f'>\n          <h3 class="entry-title">{title}</h3>')
        out.append('\n          <p class="meta">')
        if feed.avatar:
            out.append(
                f'<img class="avatar" src="{_escape(feed.avatar)}" alt="" width="20" height="20"'
                ' loading="lazy"> '
            )
        if feed.link:
            out.append(
                f'\n            <span class="source"><a href="{_escape(feed.link)}">{name}</a>'
            )
        else:
            out.append(f'\n            <span class="source">{name}')
        out.append("</span>")
        named = [person for person in entry.details.authors if person.name]
        for number, person in enumerate(named):
            out.append(" · " if number == 0 else ", ")
            if person.uri:
                person_name = f'<a href="{_escape(person.uri)}">{_escape(person.name)}</a>'
            else:
                person_name = _escape(person.name)
            out.append(f'<span class="author">{person_name}</span>')
        if not named and entry.author:
            out.append(f' · <span class="author">{_escape(entry.author)}</span>')
        out.append(
            f'\n            · <time datetime="{self._rfc3339(entry.published)}">'
            f"{entry.published.strftime('%H:%M')} UTC</time>"
        )
        if entry.language:
            language = entry.language.split("-")[0]
            if language != self._site_language:
                out.append(
                    f' · <span class="language">{_escape(self._language_name(language))}</span>'
                )
        out.append('\n          </p>\n          <div class="content">')
        if entry.content:
            out.append(f"\n            {entry.content}")
        else:
            out.append(f"\n            <p>{_escape(entry.summary)}</p>")
        out.append("\n          </div>")
        for enclosure in entry.enclosures:
            url = _escape(enclosure.url)
            out.append('\n          <div class="enclosure">')
            kind = media_kind(enclosure.type)
            if kind in ("audio", "video"):
                out.append(f'\n            <{kind} controls preload="none" src="{url}"></{kind}>')
            size = ""
            if enclosure.type:
                megabytes = (
                    f", {_escape(round(enclosure.length / 1048576, 1))} MB"
                    if enclosure.length
                    else ""
                )
                size = f" ({_escape(enclosure.type)}{megabytes})"
            out.append(
                f'\n            <a href="{url}" download>Download{size}</a>\n          </div>'
            )
        license = entry.details.license or feed.details.license
        rights = entry.details.rights or feed.details.rights
        if license or rights:
            out.append('\n          <p class="rights">')
            if rights:
                out.append(_escape(rights))
            if license:
                if rights:
                    out.append(" · ")
                out.append(f'<a rel="license" href="{_escape(license)}">Licence</a>')
            out.append("</p>")
        if entry.also:
            out.append('\n          <p class="also">Also published by')
            last = len(entry.also) - 1
            for number, other in enumerate(entry.also):
                href = _escape(other.link or other.site or "#")
                comma = "," if number != last else ""
                out.append(f' <a href="{href}">{_escape(other.name)}</a>{comma}')
            out.append(".</p>")
        out.append('\n          <p class="footer">')
        if entry.link:
            out.append(f'<a class="read-more" href="{_escape(entry.link)}">Read at {name}</a> · ')
        if page.kind != "source":
            out.append(
                f'<a class="more-from" href="{_escape(page.root)}sources/'
                f'{_escape(self._slugs[feed.id])}.html">More from {name}</a>'
            )
        if entry.categories:
            tags = "".join(f'<span class="tag">{_escape(tag)}</span>' for tag in entry.categories)
            out.append(f'\n            <span class="tags">{tags}</span>')
        out.append("\n          </p>\n        </article>\n")
        return Markup("".join(out))

    def atom(self, item: FeedItem) -> Markup:
        """atom_entry.xml: one entry of an Atom feed."""
        entry = item.entry
        details = entry.details
        language = entry.language
        out = ["\n  <entry"]
        if language:
            out.append(f' xml:lang="{_escape(language)}"')
        out.append(f">\n    <id>{_escape(item.id)}</id>")
        title_language = xml_lang(details.title.language, language)
        if details.title_html:
            out.append(
                f'\n    <title type="html"{title_language}>{_escape(details.title_html)}</title>'
            )
        else:
            out.append(f'\n    <title type="text"{title_language}>{_escape(entry.title)}</title>')
        for link in item.links:
            out.append(f'\n    <link rel="{_escape(link.rel)}" href="{_escape(link.href)}"')
            if link.type:
                out.append(f' type="{_escape(link.type)}"')
            if link.hreflang:
                out.append(f' hreflang="{_escape(link.hreflang)}"')
            if link.title:
                out.append(f' title="{_escape(link.title)}"')
            if link.length:
                out.append(f' length="{_escape(link.length)}"')
            out.append("/>")
        updated = entry.updated or entry.published
        out.append(
            f"\n    <published>{self._rfc3339(entry.published)}</published>"
            f"\n    <updated>{self._rfc3339(updated)}</updated>"
        )
        if details.authors:
            out.extend(f"\n    {_person('author', person)}" for person in details.authors)
        else:
            out.append(
                f"\n    <author>\n      <name>{_escape(entry.author or entry.feed.name)}</name>"
                "\n    </author>"
            )
        out.extend(f"\n    {_person('contributor', person)}" for person in details.contributors)
        out.extend(f"\n    {_category(category)}" for category in item.categories)
        rights = item.rights
        if rights:
            out.append(f'\n    <rights type="text">{_escape(rights)}</rights>')
        if entry.summary:
            out.append(f'\n    <summary type="text">{_escape(entry.summary)}</summary>')
        content_language = xml_lang(details.content.language, language)
        if item.content_type == "xhtml":
            out.append(
                f'\n    <content type="xhtml"{content_language}>'
                f'<div xmlns="http://www.w3.org/1999/xhtml">{_escape(item.content)}</div></content>'
            )
        elif item.content:
            out.append(
                f'\n    <content type="{_escape(item.content_type)}"{content_language}>'
                f"{_escape(item.content)}</content>"
            )
        out.append(self._source(entry.feed))
        out.append("\n  </entry>")
        return Markup("".join(out))

    def _source(self, feed: FeedView) -> str:
        if feed.id not in self._sources:
            self._sources[feed.id] = self._source_element(feed)
        return self._sources[feed.id]

    def _source_element(self, feed: FeedView) -> str:
        origin = feed.details
        out = [
            f"\n    <source>\n      <id>{_escape(self._source_id(feed))}</id>",
            f"\n      <title>{_escape(feed.name)}</title>",
        ]
        if origin.subtitle:
            out.append(f'\n      <subtitle type="text">{_escape(origin.subtitle)}</subtitle>')
        out.append(f'\n      <link rel="self" href="{_escape(feed.url)}"/>')
        if feed.link:
            out.append(
                f'\n      <link rel="alternate" type="text/html" href="{_escape(feed.link)}"/>'
            )
        if origin.license:
            out.append(f'\n      <link rel="license" href="{_escape(origin.license)}"/>')
        if origin.updated:
            out.append(f"\n      <updated>{self._rfc3339(origin.updated)}</updated>")
        out.extend(f"\n      {_person('author', person)}" for person in origin.authors)
        if origin.icon:
            out.append(f"\n      <icon>{_escape(origin.icon)}</icon>")
        if origin.logo:
            out.append(f"\n      <logo>{_escape(origin.logo)}</logo>")
        if origin.rights:
            out.append(f'\n      <rights type="text">{_escape(origin.rights)}</rights>')
        out.extend(f"\n      {_category(category)}" for category in origin.categories)
        out.append("\n    </source>")
        return "".join(out)


def _escape(value: object) -> str:
    """What markupsafe's `escape` (Jinja's autoescape) writes, as a plain string: making a
    Markup of every value took more time than the escaping. Markup passes through unescaped,
    as in a template."""
    if type(value) is not str:
        html = getattr(value, "__html__", None)
        if html is not None:
            return str(html())
        value = str(value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def xml_lang(language: str | None, around: str | None) -> str:
    """The xml:lang attribute of a text whose language differs from its entry's (also the
    templates' filter: a macro would cost ten times as much, twice per Atom entry)."""
    if not language or language == around:
        return ""
    return f' xml:lang="{_escape(language)}"'


def media_kind(media_type: str | None) -> str:
    """How the page offers an enclosure: an audio or video player, or a link."""
    kind = (media_type or "").split("/", 1)[0]
    return kind if kind in ("audio", "video") else "link"


def _person(kind: str, person: Person) -> str:
    out = [f"<{kind}><name>{_escape(person.name or '')}</name>"]
    if person.email:
        out.append(f"<email>{_escape(person.email)}</email>")
    if person.uri:
        out.append(f"<uri>{_escape(person.uri)}</uri>")
    out.append(f"</{kind}>")
    return "".join(out)


def _category(category: Category) -> str:
    out = [f'<category term="{_escape(category.term)}"']
    if category.scheme:
        out.append(f' scheme="{_escape(category.scheme)}"')
    if category.label:
        out.append(f' label="{_escape(category.label)}"')
    out.append("/>")
    return "".join(out)
