"""Well-formed RSS 2.0 and Atom 1.0 read with lxml, exactly as feedparser would read them.

feedparser is most of the cost of parsing: its SAX handlers run in Python for every element and
every run of characters, some ten milliseconds for a twenty-entry feed. Almost every feed a planet
polls is a well-formed RSS 2.0 or Atom 1.0 document from one of a few generators, so this module
reads that common case with lxml and fills the few keys of feedparser's result that `parse`
reads; `parse` maps both routes' results the same way.

That is only worth having if it is feedparser's reading to the last character, quirks included
(ids that become links, plain text sniffed for HTML, a second author who inherits the first one's
address). So it reads only elements whose effect on feedparser's result is known, and declines
(returns None, and the caller uses feedparser) on anything else: other formats and versions,
other encodings or a charset in doubt, a DOCTYPE, xml:base, XHTML text, an unknown element or
attribute, a repeated element that feedparser would read differently. Where feedparser's result
hangs on one of its helpers (dates, joining URLs, spotting HTML), that helper is called.
tests/test_parse_fast_path.py holds both routes to the same result over feedparser's own test
corpus and the benchmark farm; that differential test is what makes this module safe to keep.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.encodings import RE_XML_PI_ENCODING, parse_content_type
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree

Context = dict[str, Any]
Element = Any  # lxml.etree._Element: lxml ships no type information

_ATOM = "{http://www.w3.org/2005/Atom}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_SLASH = "{http://purl.org/rss/1.0/modules/slash/}"
_SY = "{http://purl.org/rss/1.0/modules/syndication/}"
_WFW = "{http://wellformedweb.org/CommentAPI/}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# feedparser names an element after the prefix it knows for the element's namespace, then maps
# that name through the prefixes the document declares: a document that binds "dc" to another
# namespace feedparser knows would have its Dublin Core elements read as something else.
_KNOWN_PREFIXES = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
_PREFIXES_READ = {"content", "dc", "slash", "sy", "wfw"}
# Declaring one of these changes what feedparser takes the format to be.
_VERSION_NAMESPACES = {"http://my.netscape.com/rdf/simple/0.9/", "http://purl.org/rss/1.0/"}
_APPLICATION_XML = {
    "application/xml",
    "application/xml-dtd",
    "application/xml-external-parsed-entity",
}
_TEXT_XML = {"text/xml", "text/xml-external-parsed-entity"}
_FIRST_ELEMENT = re.compile(rb"<\w")
_XML_DECLARATION = re.compile(rb"<\?xml[^>]*?>")
# feedparser's pattern for an address inside an author string, as it is.
_EMAIL = re.compile(
    r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"
    r"([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"
)
_REFERENCE_LIKE = re.compile("&([A-Za-z0-9_]+);")
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_INSTRUCTIONS = etree.XPath("//processing-instruction()")


class _Unsure(Exception):
    """The document holds something whose effect on feedparser's result is not known here."""


@dataclass(frozen=True)
class WellFormed:
    """The keys of feedparser's result that `parse` reads, as feedparser would fill them."""

    feed: Context
    entries: list[Context]
    rss: bool


def read_well_formed(content: bytes, url: str, headers: Mapping[str, str]) -> WellFormed | None:
    """feedparser's reading of this response, or None when not certain to match it."""
    response_headers = dict(headers)
    base = make_safe_absolute_uri(url, url) or url
    if not url or (make_safe_absolute_uri(base, base) or base) != base:
        return None
    if not _decoded_alike(content, response_headers.get("content-type")):
        return None
    if not _prolog_kept(content):
        return None
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError:
        return None
    info = root.getroottree().docinfo
    if info.xml_version != "1.0" or (info.encoding or "").lower() != "utf-8" or info.doctype:
        return None
    if not _namespaces_read_alike(content, root) or not _names_alike(root):
        return None
    reader = _Reader(base, response_headers.get("content-language") or None)
    try:
        if root.tag == "rss":
            reader.read_rss(root)
        elif root.tag == _ATOM + "feed":
            reader.read_atom(root)
        else:
            return None
    except _Unsure:
        return None
    return WellFormed(reader.feed, reader.entries, rss=not reader.atom)


def _decoded_alike(content: bytes, content_type: str | None) -> bool:
    """True when feedparser takes the body for UTF-8 (or ASCII) without a complaint.

    feedparser picks an encoding from the Content-Type (RFC 3023: text/xml is ASCII unless its
    charset says otherwise) and the XML declaration, flags a missing or non-XML Content-Type as
    not well-formed, and tries other encodings when its choice fails. Only the cases where it
    settles on UTF-8 or ASCII at once, and lxml reads the same characters, are taken.
    """
    if content_type is None:
        return False
    data = content.removeprefix(codecs.BOM_UTF8)
    declaration = RE_XML_PI_ENCODING.match(data)
    declared = declaration.group(1).decode("utf-8", "replace").lower() if declaration else ""
    mime, charset = parse_content_type(content_type)
    if mime in _APPLICATION_XML or (mime.startswith("application/") and mime.endswith("+xml")):
        encoding = (charset or declared or "utf-8").lower()
    elif mime in _TEXT_XML or (mime.startswith("text/") and mime.endswith("+xml")):
        encoding = (charset or "us-ascii").lower()
    else:
        return False
    if declared not in ("", "utf-8"):
        return False
    if encoding == "us-ascii":
        return data.isascii()
    if encoding != "utf-8":
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _prolog_kept(content: bytes) -> bool:
    """True when feedparser's rewriting of the prolog with patterns changes nothing that counts.

    It replaces whatever matches its pattern for the XML declaration (a leading PI whose target
    starts with "xml" matches too), and cuts out DOCTYPE and ENTITY declarations.
    """
    data = content.removeprefix(codecs.BOM_UTF8)
    if (declaration := _XML_DECLARATION.match(data)) and not declaration.group().endswith(b"?>"):
        return False
    first = _FIRST_ELEMENT.search(data)
    prolog = data[: first.start()] if first else data
    return b"<!DOCTYPE" not in prolog and b"<!ENTITY" not in prolog


def _namespaces_read_alike(content: bytes, root: Element) -> bool:
    """True when feedparser gives every element the name its namespace gives it here."""
    declared = root.nsmap
    if content.count(b"xmlns") != len(declared) and any(
        element.nsmap != declared for element in root.iter(etree.Element)
    ):
        return False
    for prefix, uri in declared.items():
        lowered = uri.lower()
        if lowered in _VERSION_NAMESPACES or "backend.userland.com/rss" in lowered:
            return False
        known = _KNOWN_PREFIXES.get(lowered)
        if prefix in _PREFIXES_READ and known is not None and known != prefix:
            return False
    return True


def _names_alike(root: Element) -> bool:
    """True when namespace prefixes and PI targets, the only names that no list of elements
    and attributes read here holds in check, are plain ASCII.

    feedparser's expat knows name characters by an older edition of XML than lxml's libxml2,
    and rejects as not well-formed, say, a PI target in CJK Extension A that libxml2 takes.
    """
    if not all(prefix is None or prefix.isascii() for prefix in root.nsmap):
        return False
    return all(instruction.target.isascii() for instruction in _INSTRUCTIONS(root))


def _blank(text: str | None) -> bool:
    return not text or text.isspace()


def _lang(element: Element, inherited: str | None) -> str | None:
    own = element.get(_XML_LANG)
    if own is None:
        return inherited
    return own or None


def _leaf_text(element: Element) -> str:
    """The stripped text of an element that holds nothing else, not even a comment."""
    if len(element):
        raise _Unsure(f"{element.tag} holds elements")
    return (element.text or "").strip()


def _kept(value: str) -> str:
    """feedparser's last touches to a text it keeps: UTF-8 that was read as Latin-1 is read
    again, and C1 controls become the Windows-1252 characters they usually stand for."""
    if value.isascii():
        return value
    with contextlib.suppress(UnicodeError):
        value = value.encode("iso-8859-1").decode("utf-8")
    return value.translate(_cp1252) if _C1_CONTROLS.search(value) else value


def _attributes(element: Element) -> dict[str, str]:
    """An element's attributes as feedparser stores them, with rel and type in lower case."""
    return {
        name: (value.lower() or value) if name in ("rel", "type") else value
        for name, value in element.items()
    }


def _add_tag(tags: list[dict[str, Any]], term: Any, scheme: Any, label: Any) -> None:
    if not term and not scheme and not label:
        return
    tag = {"term": term, "scheme": scheme, "label": label}
    if tag not in tags:
        tags.append(tag)


def _sync_author(context: Context) -> None:
    """feedparser's _sync_author_detail: the author string from the last author's parts, or,
    when that author has no parts yet, parts split from the author string."""
    detail = context.get("authors", [{}])[-1]
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            context["author"] = f"{name} ({email})"
        elif name or email:
            context["author"] = name or email
        return
    author, email = context.get("author"), None
    if not author:
        return
    if match := _EMAIL.search(author):
        email = match.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author or email:
        context.setdefault("author_detail", detail)
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email


def _save_author(context: Context, key: str, value: str) -> None:
    """feedparser's _save_author, which syncs before it stores the part."""
    context.setdefault("author_detail", {})[key] = value
    _sync_author(context)
    context.setdefault("authors", [{}])[-1][key] = value


class _Reader:
    """Walks the tree as feedparser's handlers would, into dicts shaped like its result."""

    def __init__(self, base: str, lang: str | None) -> None:
        self.base = base
        self.lang = lang
        self.atom = False
        self.feed: Context = {}
        self.entries: list[Context] = []
        if lang:
            self.feed["language"] = lang.replace("_", "-")

    def read_rss(self, root: Element) -> None:
        if root.get("version") != "2.0" or set(root.attrib) - {"version", _XML_LANG}:
            raise _Unsure("not RSS 2.0")
        lang = self._root_lang(root)
        children = list(self._children(root))
        if [child.tag for child in children] != ["channel"]:
            raise _Unsure("not one channel")
        if set(children[0].attrib) - {_XML_LANG}:
            raise _Unsure("attributes on channel")
        self._walk(children[0], self.feed, _RSS_CHANNEL, _lang(children[0], lang))

    def read_atom(self, root: Element) -> None:
        self.atom = True
        if set(root.attrib) - {_XML_LANG}:
            raise _Unsure("attributes on feed")
        self._walk(root, self.feed, _ATOM_FEED, self._root_lang(root))

    def _root_lang(self, root: Element) -> str | None:
        lang = _lang(root, self.lang)
        if lang:
            self.feed["language"] = lang.replace("_", "-")
        return lang

    def _children(self, element: Element) -> Iterator[Element]:
        """The child elements, when the text between them is blank (feedparser drops it)."""
        if not _blank(element.text):
            raise _Unsure(f"text in {element.tag}")
        for child in element:
            if not _blank(child.tail):
                raise _Unsure(f"text in {element.tag}")
            if isinstance(child.tag, str):
                yield child

    def _walk(self, element: Element, context: Context, table: Table, lang: str | None) -> None:
        seen: set[str] = set()
        for child in self._children(element):
            try:
                handler, attributes, repeats = table[child.tag]
            except KeyError:
                raise _Unsure(f"element {child.tag}") from None
            if not repeats:
                if child.tag in seen:
                    raise _Unsure(f"a second {child.tag}")
                seen.add(child.tag)
            for name in child.attrib:
                if name not in attributes:
                    raise _Unsure(f"attribute {name} on {child.tag}")
            handler(self, child, context, _lang(child, lang))

    def popped(self, element: Element, *, uri: bool = False) -> str:
        """An element's text as feedparser's pop() keeps it; a URI is joined to the base."""
        value = _leaf_text(element)
        if uri and value:
            value = _urljoin(self.base, value)
        return _kept(value)

    def construct(self, element: Element, lang: str | None, default: str) -> Context:
        """A text construct's detail: its type, language, base and value."""
        kind = element.get("type")
        content_type = default if kind is None else _FeedParserMixin.map_content_type(kind)
        if content_type not in ("text/plain", "text/html"):
            raise _Unsure(f"{content_type} text")
        value = _leaf_text(element)
        # Outside Atom feedparser sniffs plain text for HTML, before its last touches.
        if not self.atom and content_type == "text/plain" and _looks_like_html(value):
            content_type = "text/html"
        language = lang.replace("_", "-") if lang else lang
        return {
            "type": content_type,
            "language": language,
            "base": self.base,
            "value": _kept(value),
        }

    def content(self, element: Element, context: Context, lang: str | None) -> None:
        default = "text/plain" if self.atom else "text/html"
        context.setdefault("content", []).append(self.construct(element, lang, default))

    def ignored(self, element: Element, context: Context, lang: str | None) -> None:
        """An element that feedparser files under a key that parse never reads."""
        _leaf_text(element)

    def rss_link(self, element: Element, context: Context, lang: str | None) -> None:
        context.setdefault("links", []).append({"rel": "alternate", "type": "text/html"})
        value = self.popped(element, uri=True)
        in_entry = context is not self.feed
        if in_entry:
            value = value.replace("&amp;", "&")
        if "&" in value:
            # feedparser mends what it takes for a mangled query string: "&b;" becomes "&b".
            value = _REFERENCE_LIKE.sub(r"&\g<1>", value)
        context["link"] = value
        if value or not in_entry:
            context["links"][-1]["href"] = value

    def atom_link(self, element: Element, context: Context, lang: str | None) -> None:
        if _leaf_text(element) or element.get("href") is None:
            raise _Unsure("a link with text or without href")
        attributes = _attributes(element)
        rel = attributes.setdefault("rel", "alternate")
        attributes.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        attributes["href"] = _urljoin(self.base, attributes["href"])
        context.setdefault("links", []).append(attributes)
        kind = _FeedParserMixin.map_content_type(attributes["type"])
        if rel == "alternate" and kind in _FeedParserMixin.html_types:
            context["link"] = attributes["href"]

    def enclosure(self, element: Element, context: Context, lang: str | None) -> None:
        if _leaf_text(element):
            raise _Unsure("text in an enclosure")
        attributes = _attributes(element)
        if attributes.get("url"):
            attributes["href"] = attributes.pop("url")
        attributes["rel"] = "enclosure"
        context.setdefault("links", []).append(attributes)

    def identifier(self, element: Element, context: Context, lang: str | None) -> None:
        """RSS guid and Atom id: a permalink (every Atom id is one) is joined to the base and
        stands in for a link that has not been seen yet."""
        permalink = element.get("isPermaLink", "true") == "true"
        value = self.popped(element, uri=permalink)
        context["id"] = value
        if permalink:
            context.setdefault("link", value)

    def category(self, element: Element, context: Context, lang: str | None) -> None:
        tags = context.setdefault("tags", [])
        scheme = element.get("scheme", element.get("domain"))
        _add_tag(tags, element.get("term"), scheme, element.get("label"))
        value = self.popped(element)
        if not value:
            return
        if tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            _add_tag(tags, value, None, None)

    def rss_author(self, element: Element, context: Context, lang: str | None) -> None:
        context.setdefault("authors", []).append({})
        context["author"] = self.popped(element)
        _sync_author(context)

    def atom_author(self, element: Element, context: Context, lang: str | None) -> None:
        context.setdefault("authors", []).append({})
        for key, value in self._person(element):
            _save_author(context, key, value)
        context["author"] = ""  # the blank text around the parts
        _sync_author(context)

    def atom_contributor(self, element: Element, context: Context, lang: str | None) -> None:
        context.setdefault("contributors", []).append({})
        for key, value in self._person(element):
            context["contributors"][-1][key] = value

    def _person(self, element: Element) -> Iterator[tuple[str, str]]:
        """An Atom person's parts; feedparser keeps name and email merely stripped."""
        for child in self._children(element):
            if set(child.attrib) - {_XML_LANG}:
                raise _Unsure(f"attributes on {child.tag}")
            if child.tag == _ATOM + "name":
                yield "name", _leaf_text(child)
            elif child.tag == _ATOM + "email":
                yield "email", _leaf_text(child)
            elif child.tag == _ATOM + "uri":
                yield "href", self.popped(child, uri=True)
            else:
                raise _Unsure(f"element {child.tag}")

    def image(self, element: Element, context: Context, lang: str | None) -> None:
        self._walk(element, context.setdefault("image", {}), _RSS_IMAGE, lang)

    def rss_item(self, element: Element, context: Context, lang: str | None) -> None:
        self._entry(element, _RSS_ITEM, lang)

    def atom_entry(self, element: Element, context: Context, lang: str | None) -> None:
        self._entry(element, _ATOM_ENTRY, lang)

    def _entry(self, element: Element, table: Table, lang: str | None) -> None:
        entry: Context = {}
        self.entries.append(entry)
        self._walk(element, entry, table, lang)
        # feedparser derives an entry's enclosures from the links it filed as such.
        entry["enclosures"] = [
            link for link in entry.get("links", ()) if link["rel"] == "enclosure"
        ]


Handler = Callable[[_Reader, Element, Context, str | None], None]
Table = Mapping[str, tuple[Handler, frozenset[str], bool]]


def _looks_like_html(value: str) -> bool:
    return bool(_FeedParserMixin.looks_like_html(value))


def _text_construct(key: str, default: str) -> Handler:
    def handler(reader: _Reader, element: Element, context: Context, lang: str | None) -> None:
        detail = reader.construct(element, lang, default)
        context[key] = detail["value"]
        context[key + "_detail"] = detail

    return handler


def _value(key: str, *, uri: bool = False) -> Handler:
    def handler(reader: _Reader, element: Element, context: Context, lang: str | None) -> None:
        context[key] = reader.popped(element, uri=uri)

    return handler


def _date(key: str) -> Handler:
    def handler(reader: _Reader, element: Element, context: Context, lang: str | None) -> None:
        context[key] = _parse_date(reader.popped(element))

    return handler


# feedparser hands an element it has no handler for to a generic one that keeps its text only
# when it has no attributes at all, xml:lang included; such elements are listed with _NONE.
_NONE: frozenset[str] = frozenset()
_LANG = frozenset({_XML_LANG})
_TYPE = frozenset({"type", _XML_LANG})
_LINK = frozenset({"href", "rel", "type", "title", "hreflang", "length", _XML_LANG})
_DOMAIN = frozenset({"domain", _XML_LANG})
_TERM = frozenset({"term", "scheme", "label", _XML_LANG})
_ONCE, _REPEATS = False, True

_RSS_CHANNEL: Table = {
    "title": (_text_construct("title", "text/plain"), _LANG, _ONCE),
    "link": (_Reader.rss_link, _LANG, _ONCE),
    "description": (_text_construct("subtitle", "text/html"), _LANG, _ONCE),
    "language": (_value("language"), _LANG, _ONCE),
    "copyright": (_text_construct("rights", "text/plain"), _LANG, _ONCE),
    "managingEditor": (_Reader.rss_author, _LANG, _ONCE),
    "webMaster": (_Reader.ignored, _LANG, _ONCE),
    "pubDate": (_Reader.ignored, _LANG, _ONCE),
    "lastBuildDate": (_date("updated_parsed"), _LANG, _ONCE),
    "generator": (_Reader.ignored, _LANG, _ONCE),
    "docs": (_Reader.ignored, _NONE, _ONCE),
    "ttl": (_value("ttl"), _NONE, _ONCE),
    "category": (_Reader.category, _DOMAIN, _REPEATS),
    "image": (_Reader.image, _LANG, _ONCE),
    "item": (_Reader.rss_item, _LANG, _REPEATS),
    _ATOM + "link": (_Reader.atom_link, _LINK, _REPEATS),
    _SY + "updatePeriod": (_value("sy_updateperiod"), _NONE, _ONCE),
    _SY + "updateFrequency": (_value("sy_updatefrequency"), _NONE, _ONCE),
    _SY + "updateBase": (_Reader.ignored, _NONE, _ONCE),
}
_RSS_IMAGE: Table = {
    "url": (_value("href", uri=True), _LANG, _ONCE),
    "title": (_Reader.ignored, _LANG, _ONCE),
    "link": (_Reader.ignored, _LANG, _ONCE),
    "width": (_Reader.ignored, _LANG, _ONCE),
    "height": (_Reader.ignored, _LANG, _ONCE),
}
_RSS_ITEM: Table = {
    "title": (_text_construct("title", "text/plain"), _LANG, _ONCE),
    "link": (_Reader.rss_link, _LANG, _ONCE),
    "description": (_text_construct("summary", "text/html"), _LANG, _ONCE),
    _CONTENT + "encoded": (_Reader.content, _LANG, _ONCE),
    "guid": (_Reader.identifier, frozenset({"isPermaLink", _XML_LANG}), _ONCE),
    "pubDate": (_date("published_parsed"), _LANG, _ONCE),
    _DC + "date": (_date("updated_parsed"), _LANG, _ONCE),
    "author": (_Reader.rss_author, _LANG, _REPEATS),
    _DC + "creator": (_Reader.rss_author, _LANG, _REPEATS),
    "category": (_Reader.category, _DOMAIN, _REPEATS),
    _DC + "subject": (_Reader.category, _LANG, _REPEATS),
    "enclosure": (_Reader.enclosure, frozenset({"url", "length", "type", _XML_LANG}), _REPEATS),
    "comments": (_Reader.ignored, _NONE, _ONCE),
    _WFW + "commentRss": (_Reader.ignored, _NONE, _ONCE),
    _SLASH + "comments": (_Reader.ignored, _NONE, _ONCE),
}
_ATOM_FEED: Table = {
    _ATOM + "title": (_text_construct("title", "text/plain"), _TYPE, _ONCE),
    _ATOM + "subtitle": (_text_construct("subtitle", "text/plain"), _TYPE, _ONCE),
    _ATOM + "rights": (_text_construct("rights", "text/plain"), _TYPE, _ONCE),
    _ATOM + "link": (_Reader.atom_link, _LINK, _REPEATS),
    _ATOM + "id": (_Reader.identifier, _LANG, _ONCE),
    _ATOM + "updated": (_date("updated_parsed"), _LANG, _ONCE),
    _ATOM + "author": (_Reader.atom_author, _LANG, _REPEATS),
    _ATOM + "contributor": (_Reader.atom_contributor, _LANG, _REPEATS),
    _ATOM + "category": (_Reader.category, _TERM, _REPEATS),
    _ATOM + "icon": (_value("icon", uri=True), _NONE, _ONCE),
    _ATOM + "logo": (_value("logo", uri=True), _NONE, _ONCE),
    _ATOM + "generator": (_Reader.ignored, frozenset({"uri", "version", _XML_LANG}), _ONCE),
    _ATOM + "entry": (_Reader.atom_entry, _LANG, _REPEATS),
}
_ATOM_ENTRY: Table = {
    _ATOM + "title": (_text_construct("title", "text/plain"), _TYPE, _ONCE),
    _ATOM + "summary": (_text_construct("summary", "text/plain"), _TYPE, _ONCE),
    _ATOM + "content": (_Reader.content, _TYPE, _ONCE),
    _ATOM + "rights": (_text_construct("rights", "text/plain"), _TYPE, _ONCE),
    _ATOM + "link": (_Reader.atom_link, _LINK, _REPEATS),
    _ATOM + "id": (_Reader.identifier, _LANG, _ONCE),
    _ATOM + "published": (_date("published_parsed"), _LANG, _ONCE),
    _ATOM + "updated": (_date("updated_parsed"), _LANG, _ONCE),
    _ATOM + "author": (_Reader.atom_author, _LANG, _REPEATS),
    _ATOM + "contributor": (_Reader.atom_contributor, _LANG, _REPEATS),
    _ATOM + "category": (_Reader.category, _TERM, _REPEATS),
}
