"""parse_fast against feedparser: the same ParsedFeed, or no answer at all.

The fast path may decline anything, but whatever it returns must equal, field for field, what
parse_with_feedparser returns for the same response, which feedparser must read without a
warning; and it must read every feed of the benchmark farm, or it gains nothing. The documents
are feedparser's own test corpus (in ../shared beside the clone), the fixtures, the farm, and
feeds that hypothesis builds from the elements the fast path reads, with awkward text in them.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import hypothesis
import pytest
from hypothesis import strategies as st

from aggregator import parse
from aggregator.errors import ParseError
from aggregator.parse import parse_well_formed, parse_with_feedparser
from aggregator.records import ParsedFeed
from bench.farm import Farm
from bench.server import CONTENT_TYPES

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FEEDS = Path(__file__).parent / "fixtures" / "feeds"
URL = "https://planet.example/sources/feed.xml"
HEADER_SETS: tuple[dict[str, str], ...] = (
    {},
    {"content-type": "application/rss+xml; charset=utf-8"},
    {"content-type": "text/xml"},
    {"content-type": "application/rss+xml; charset=iso-8859-1"},
    {"content-type": "application/atom+xml", "content-language": "en_GB"},
)
# A corpus case names the HTTP headers it assumes in its leading comment.
HEADER_LINE = re.compile(rb"^Header:\s*([\w-]+):\s*(.*?)\s*$", re.MULTILINE)
WORDPRESS = (
    "anticapitalist.rss.xml",
    "anticapitalist.v2.rss.xml",
    "ist.rss.xml",
    "marxist.rss.xml",
)


def check(content: bytes, headers: dict[str, str], url: str = URL) -> tuple[bool, str | None]:
    """Whether the fast path took the document, and what is wrong with its answer if anything."""
    fast = parse_well_formed(content, url, headers)
    if fast is None:
        return False, None
    try:
        slow = parse_with_feedparser(content, url, headers)
    except ParseError as error:
        return True, f"feedparser finds no feed: {error}"
    if slow.warning is not None:
        return True, f"feedparser warns: {slow.warning}"
    if fast != slow:
        return True, difference(fast, slow)
    return True, None


def difference(fast: Any, slow: Any, where: str = "feed") -> str:
    """The first field where the two readings part, for a failure a person can act on."""
    if type(fast) is not type(slow) or not hasattr(fast, "__dataclass_fields__"):
        if isinstance(fast, tuple) and isinstance(slow, tuple) and len(fast) == len(slow):
            for index, (one, other) in enumerate(zip(fast, slow, strict=True)):
                if one != other:
                    return difference(one, other, f"{where}[{index}]")
        return f"{where}: fast path {fast!r}, feedparser {slow!r}"
    for field in fields(fast):
        one, other = getattr(fast, field.name), getattr(slow, field.name)
        if one != other:
            return difference(one, other, f"{where}.{field.name}")
    return f"{where}: unequal"


def own_headers(content: bytes) -> dict[str, str]:
    return {name.decode().lower(): value.decode() for name, value in HEADER_LINE.findall(content)}


def test_the_fast_path_reads_the_corpus_as_feedparser_does() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is absent: ../shared sits beside the clone in CI only")
    problems: list[str] = []
    taken_files = taken = declined = 0
    files = sorted(path for path in CORPUS.rglob("*") if path.is_file())
    for path in files:
        content = path.read_bytes()
        header_sets = [*HEADER_SETS, own] if (own := own_headers(content[:2048])) else HEADER_SETS
        took_file = False
        for headers in header_sets:
            took, problem = check(content, headers)
            took_file |= took
            taken += took
            declined += not took
            if problem:
                problems.append(f"{path.relative_to(CORPUS)} {headers}: {problem}")
        taken_files += took_file
    print(
        f"\nfast path: took {taken_files} of {len(files)} corpus files under some headers; "
        f"{taken} (file, headers) pairs taken, {declined} declined"
    )
    assert not problems, "\n".join(problems[:30])


@pytest.mark.parametrize(
    "path",
    sorted(path for path in FEEDS.rglob("*") if path.suffix in {".xml", ".rdf", ".html"}),
    ids=lambda path: str(path.relative_to(FEEDS)),
)
def test_the_fast_path_reads_the_fixtures_as_feedparser_does(path: Path) -> None:
    content = path.read_bytes()
    for headers in HEADER_SETS:
        _, problem = check(content, headers)
        assert problem is None, f"{headers}: {problem}"
    if path.name in WORDPRESS:
        served = {"content-type": "application/rss+xml; charset=UTF-8"}
        assert check(content, served) == (True, None)


def test_the_fast_path_reads_every_farm_feed(tmp_path: Path) -> None:
    farm = Farm(tmp_path, feeds=40, entries=5)
    farm.write()
    assert {farm.path(index).suffix for index in range(farm.feeds)} == {".rss", ".atom"}
    for index in range(farm.feeds):
        path, url = farm.path(index), farm.url(index, 8080)
        content = path.read_bytes()
        served = CONTENT_TYPES[path.suffix]
        for content_type in (served, f"{served}; charset=utf-8"):
            result = check(content, {"content-type": content_type}, url)
            assert result == (True, None), f"{path.name} {content_type}: {result}"
        for headers in HEADER_SETS:
            _, problem = check(content, headers, url)
            assert problem is None, f"{path.name} {headers}: {problem}"


def rss(channel: str, prolog: str = "", declarations: str = "") -> bytes:
    return (
        f'{prolog}<rss version="2.0"{declarations}><channel><title>T</title>'
        f"<item><title>Item</title>{channel}</item></channel></rss>"
    ).encode()


# Documents lxml reads strictly, where feedparser reads something else or complains.
RSS = {"content-type": "application/rss+xml"}
TRICKY = {
    # expat knows name characters by an older edition of XML than libxml2.
    "a PI target beyond expat's names": (rss("<?\u3400 x?>"), RSS),
    "a prefix beyond expat's names": (
        rss("", declarations=' xmlns:\u3400="https://x.example/"'),
        RSS,
    ),
    # feedparser replaces its pattern for an XML declaration, here up to the first ">".
    "a stylesheet PI with > first": (rss("", prolog='<?xml-stylesheet href="a>b"?>'), RSS),
    # feedparser maps "dc" to the namespace it is bound to here, so reads no creator.
    "dc bound to DC terms": (
        rss(
            "<x:creator>Jo</x:creator>",
            declarations=' xmlns:dc="http://purl.org/dc/terms/"'
            ' xmlns:x="http://purl.org/dc/elements/1.1/"',
        ),
        RSS,
    ),
    # feedparser keeps an element it has no handler for as text only without attributes.
    "xml:lang on slash:comments": (
        rss(
            '<s:comments xml:lang="en">3</s:comments>',
            declarations=' xmlns:s="http://purl.org/rss/1.0/modules/slash/"',
        ),
        RSS,
    ),
    # RFC 3023: text/xml without a charset is ASCII.
    "UTF-8 served as text/xml": (
        rss("<description>caf\u00e9</description>"),
        {"content-type": "text/xml"},
    ),
    "no Content-Type": (rss(""), {}),
}


@pytest.mark.parametrize(("content", "headers"), TRICKY.values(), ids=TRICKY.keys())
def test_the_fast_path_declines_what_feedparser_reads_otherwise(
    content: bytes, headers: dict[str, str]
) -> None:
    assert check(content, headers) == (False, None)


def test_parse_feed_reads_with_the_fast_path_and_falls_back_to_feedparser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = Farm(tmp_path, feeds=1, entries=3)
    farm.write()
    content, served = farm.path(0).read_bytes(), {"content-type": "application/xml"}
    expected = parse_with_feedparser(content, URL, served)
    # Without a Content-Type feedparser warns, and the fast path leaves the feed to it.
    fallback = parse_with_feedparser(content, URL, {})
    calls: list[tuple[Any, ...]] = []

    def feedparser_route(*args: Any) -> ParsedFeed:
        calls.append(args)
        return fallback

    monkeypatch.setattr(parse, "parse_with_feedparser", feedparser_route)
    assert parse.parse_feed(content, URL, served) == expected
    assert calls == []
    assert parse.parse_feed(content, URL, {}) is fallback
    assert calls == [(content, URL, {})]


# Text that trips readers up: markup and references, which feedparser sniffs for HTML in plain
# RSS text; UTF-8 read as Latin-1 and C1 controls, which it rewrites; addresses in author
# strings, which it splits; relative and odd URLs, which it joins to the base.
AWKWARD = st.sampled_from(
    [
        "AT&T", "a < b", "<b>bold</b>", "<p>one</p>", "<unknown>tag</unknown>", "&lt;i&gt;",
        "&copy; 2026", "&bogus; x", "caf\u00e9", "\u00c3\u00a9t\u00c3\u00a9", "\u0080\u0093",
        "it\u2019s", "jo@union.example (Jo Bloggs)", "Jo <jo@x.org>", "noreply@x.example",
        "/relative/path", "?a=1&b=2", "http://x.example/?a=1&amp;b=2", "tag:x.example,2026:1",
        "javascript:alert(1)", "", "  ", "\u00a0",
    ]
)  # fmt: skip
# XML 1.0 characters only, surrogates excluded.
XML_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\ufffe\uffff",
        min_codepoint=0x09,
    ).filter(lambda char: char >= " " or char in "\t\n\r"),
    max_size=40,
)
TEXT = st.one_of(AWKWARD, XML_TEXT, st.lists(AWKWARD, max_size=3).map(" ".join))
DATES = st.sampled_from(
    [
        "Fri, 13 Nov 2026 02:55:00 +0000", "13 Nov 2026 02:55 EST", "2026-11-14T17:37:00Z",
        "2026-11-14T17:37:00.5+02:00", "2026-11-14", "junk", "", "Mon, 32 Jan 2026 00:00:00 +0000",
    ]
)  # fmt: skip
NO_ATTRIBUTES = st.just("")
LANGS = st.sampled_from(["", ' xml:lang="en"', ' xml:lang="fr_CA"', ' xml:lang=""'])


@st.composite
def texts(draw: st.DrawFn, values: st.SearchStrategy[str] = TEXT) -> str:
    """Element content, escaped or as CDATA."""
    value = draw(values)
    if "]]>" not in value and draw(st.booleans()):
        return f"<![CDATA[{value}]]>"
    return escape(value)


@st.composite
def elements(
    draw: st.DrawFn,
    name: str,
    attributes: st.SearchStrategy[str] = NO_ATTRIBUTES,
    values: st.SearchStrategy[str] = TEXT,
) -> str:
    return f"<{name}{draw(attributes)}{draw(LANGS)}>{draw(texts(values))}</{name}>"


@st.composite
def parts(draw: st.DrawFn, once: list[Any], repeated: list[Any]) -> str:
    """Some of the elements that may come once, any of the others, in any order."""
    chosen = draw(st.lists(st.sampled_from(range(len(once))), unique=True))
    items = [draw(once[index]) for index in chosen]
    items += draw(st.lists(st.one_of(repeated), max_size=4)) if repeated else []
    return "\n".join(draw(st.permutations(items)))


@st.composite
def atom_links(draw: st.DrawFn, name: str = "link") -> str:
    rel = draw(st.sampled_from(["", "alternate", "self", "enclosure", "license", "ALTERNATE"]))
    kind = draw(st.sampled_from(["", "text/html", "TEXT/HTML", "html", "audio/mpeg"]))
    attributes = f"href={quoteattr(draw(TEXT))}"
    attributes += f" rel={quoteattr(rel)}" if rel else ""
    attributes += f" type={quoteattr(kind)}" if kind else ""
    return f"<{name} {attributes}/>"


def rss_feed() -> st.SearchStrategy[str]:
    item = parts(
        once=[
            elements("title"),
            elements("link"),
            elements("description"),
            elements("content:encoded"),
            elements("pubDate", values=DATES),
            elements("dc:date", values=DATES),
            # feedparser keeps an element it has no handler for only without attributes.
            st.builds("<comments>{}</comments>".format, texts()),
            elements("guid", st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"'])),
        ],
        repeated=[
            elements("author"),
            elements("dc:creator"),
            elements("dc:subject"),
            elements("category", st.sampled_from(["", ' domain="https://d.example/"'])),
            st.builds(
                "<enclosure url={} length={} type={}/>".format,
                TEXT.map(quoteattr),
                TEXT.map(quoteattr),
                TEXT.map(quoteattr),
            ),
        ],
    ).map(lambda inside: f"<item>{inside}</item>")
    channel = parts(
        once=[
            elements("title"),
            elements("link"),
            elements("description"),
            elements("language"),
            elements("copyright"),
            elements("managingEditor"),
            elements("lastBuildDate", values=DATES),
            st.just("<sy:updatePeriod>daily</sy:updatePeriod>"),
            st.builds("<image><url>{}</url></image>".format, texts()),
        ],
        repeated=[atom_links("atom:link"), elements("category"), item],
    )
    namespaces = (
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
    )
    return st.builds(
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" {namespaces}{{}}>'
        "<channel>{}</channel></rss>".format,
        LANGS,
        channel,
    )


def atom_feed() -> st.SearchStrategy[str]:
    kinds = st.sampled_from(["", ' type="text"', ' type="html"'])
    person = st.builds(
        "<{0}>{1}</{0}>".format,
        st.sampled_from(["author", "contributor"]),
        parts(
            once=[
                st.builds("<name>{}</name>".format, texts()),
                st.builds("<email>{}</email>".format, texts()),
                st.builds("<uri>{}</uri>".format, texts()),
            ],
            repeated=[],
        ),
    )
    category = st.builds(
        "<category term={} scheme={} label={}/>".format,
        TEXT.map(quoteattr), TEXT.map(quoteattr), TEXT.map(quoteattr),
    )  # fmt: skip
    entry = parts(
        once=[
            elements("title", kinds),
            elements("summary", kinds),
            elements("content", kinds),
            elements("rights", kinds),
            elements("id"),
            elements("published", values=DATES),
            elements("updated", values=DATES),
        ],
        repeated=[atom_links(), person, category],
    ).map(lambda inside: f"<entry>{inside}</entry>")
    feed = parts(
        once=[
            elements("title", kinds),
            elements("subtitle", kinds),
            elements("id"),
            elements("updated", values=DATES),
            st.builds("<icon>{}</icon>".format, texts()),
        ],
        repeated=[atom_links(), person, category, entry],
    )
    return st.builds(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom"{}>{}</feed>'.format,
        LANGS,
        feed,
    )


@hypothesis.settings(derandomize=True, max_examples=300, deadline=None)
@hypothesis.given(
    document=st.one_of(rss_feed(), atom_feed()),
    content_type=st.sampled_from(["application/rss+xml", "text/xml; charset=utf-8"]),
)
def test_awkward_text_in_the_elements_read_is_read_as_feedparser_reads_it(
    document: str, content_type: str
) -> None:
    took, problem = check(document.encode(), {"content-type": content_type})
    assert problem is None
    assert took
