"""A story looks the same whether the site's theme keeps the built-in entry templates or not.

Themes copy `entry.html` and `atom_entry.xml` and change them, so those templates stay the
reference for what a story looks like. A site whose theme leaves them alone never renders them:
it calls their hand-written twins in `aggregator.entry_markup` instead, because Jinja takes four
times as long. The two must never drift apart, or copying a template into a theme, without
changing a byte of it, would change the site. These tests hold each twin to its template for
stories that hypothesis makes up, and a whole published site to the same site published with
byte copies of the templates in its theme. They also hold the fast path of `publish._file`,
which every page passes through, to the plain regular expression it stands in for.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from importlib.resources import files
from pathlib import Path
from typing import ParamSpec, Self, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from aggregator import jobs, publish
from aggregator.entry_markup import EntryMarkup
from aggregator.publish import (
    FeedItem,
    Listing,
    SiteView,
    Slugs,
    _environment,
    feed_items,
    language_name,
    rfc3339,
    source_id,
)
from aggregator.publish_manifest import MANIFEST
from aggregator.records import (
    AlsoPublished,
    Category,
    Enclosure,
    EntryDetails,
    EntryView,
    FeedDetails,
    FeedView,
    Link,
    Person,
    TextForm,
)
from tests.conftest import FEEDS, FeedServer, Planet
from tests.test_planet_pages import SOURCES, _config

# The built-in templates only, as a site without a theme has them.
ENVIRONMENT = _environment()
TEMPLATES = files("aggregator").joinpath("templates")
PROPERTY = settings(max_examples=150, deadline=None)

# --- What hypothesis makes stories of -------------------------------------------------------

# Text with what escaping must handle (markup, quotes, ampersands, non-ASCII, newlines) often,
# and any other character now and then: any but a lone surrogate, which no feed parser or
# database gives (and which `feed_items` cannot hash into an id).
AWKWARD = "<>&\"' é—“中\u00a0\n"
TEXT = st.text(
    st.one_of(st.sampled_from(AWKWARD), st.characters(exclude_categories=["Cs"])), max_size=8
)


T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")


def optional(values: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.one_of(st.none(), values)


def tuples(values: st.SearchStrategy[T], most: int = 2) -> st.SearchStrategy[tuple[T, ...]]:
    return st.lists(values, max_size=most).map(tuple)


URLS = st.one_of(
    st.sampled_from(
        [
            "https://example.org/story?id=1&page=2",
            'https://example.org/"quoted"',
            "http://example.org/café",
            "/relative/path",
            "mailto:someone@example.org",
        ]
    ),
    TEXT,
)
# Entry and text languages: none, empty, the same as a site's, and others.
LANGUAGES = st.one_of(
    st.none(),
    st.sampled_from(["", "en", "en-GB", "EN", "fr", "fr-CA", "de", "es", "zz", 'x"<y']),
    TEXT,
)
SITE_LANGUAGES = st.one_of(st.none(), st.sampled_from(["en", "en-US", "fr", "fr-CA", "de"]))
MIME_TYPES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            "audio/mpeg",
            "audio/ogg",
            "video/mp4",
            "video",
            "audio",
            "application/pdf",
            "image/jpeg",
            'text/html; charset="utf-8"',
            "audio/x<y>",
        ]
    ),
    TEXT,
)
# Sizes in bytes: none, zero, and ones whose megabytes sit on or beside a rounding boundary
# of `round(1)` (52428.8 bytes is 0.05 MB, 2359296 is 2.25 MB), besides any others.
LENGTHS = st.one_of(
    st.none(),
    st.sampled_from(
        [0, 1, 52428, 52429, 104857, 157286, 157287, 1048576, 2359296, 2411724, 2411725, 2**30]
    ),
    st.integers(-1, 10**12),
)
MOMENTS = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
    ),
)
# Entry contents as sanitized HTML looks, some of them also well-formed XHTML (which an Atom
# feed then carries as XHTML), and arbitrary text, printed as it is (`| safe`).
CONTENTS = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            "<p>Hello <b>world</b></p>",
            '<p>AT&amp;T&nbsp;<img src="a.png" alt=""><br></p>',
            "<p>unclosed",
            "<div><p>café \u2013 “quoted”</p><ul><li>one</li></ul></div>",
            "plain words",
        ]
    ),
    TEXT,
)
# Source ids: IRIs, which Atom keeps, and others, which it replaces.
IDS = st.one_of(
    st.sampled_from(
        [
            "https://example.org/?p=12345",
            "tag:example.org,2026:entry-1",
            "urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6",
            "12345",
            "not an iri",
            "http://example.org/with space",
        ]
    ),
    TEXT,
)

PEOPLE = st.builds(Person, name=optional(TEXT), email=optional(TEXT), uri=optional(URLS))
CATEGORIES = st.builds(Category, term=TEXT, scheme=optional(URLS), label=optional(TEXT))
LINKS = st.builds(
    Link,
    href=URLS,
    rel=st.one_of(
        st.sampled_from(["alternate", "enclosure", "related", "license", "via", "replies"]), TEXT
    ),
    type=MIME_TYPES,
    length=LENGTHS,
    title=optional(TEXT),
    hreflang=LANGUAGES,
)
ENCLOSURES = st.builds(Enclosure, url=URLS, type=MIME_TYPES, length=LENGTHS)
FEED_DETAILS = st.builds(
    FeedDetails,
    id=optional(IDS),
    title=optional(TEXT),
    subtitle=optional(TEXT),
    links=tuples(LINKS),
    updated=optional(MOMENTS),
    authors=tuples(PEOPLE),
    icon=optional(URLS),
    logo=optional(URLS),
    rights=optional(TEXT),
    license=optional(URLS),
    categories=tuples(CATEGORIES),
)
ALSO = st.builds(AlsoPublished, name=TEXT, site=optional(URLS), link=optional(URLS))


def feed_views(feed_id: int) -> st.SearchStrategy[FeedView]:
    return st.builds(
        FeedView,
        id=st.just(feed_id),
        url=URLS,
        name=TEXT,
        link=optional(URLS),
        avatar=optional(URLS),
        tags=st.just(()),
        language=LANGUAGES,
        status=st.just("ok"),
        last_fetched_at=st.none(),
        last_success_at=st.none(),
        last_http_status=st.none(),
        last_error=st.none(),
        consecutive_errors=st.just(0),
        failing_since=st.none(),
        moved_to=st.none(),
        moved_confirmations=st.just(0),
        next_due_at=st.none(),
        entry_count=st.just(0),
        details=FEED_DETAILS,
    )


def entry_details(language: str | None) -> st.SearchStrategy[EntryDetails]:
    """What the source said of an entry whose language is `language`: its title and content
    are often in that language too, which an Atom entry then leaves unsaid."""
    text_forms = st.builds(
        TextForm,
        type=st.sampled_from(["text", "html", "xhtml"]),
        language=st.one_of(st.just(language), LANGUAGES),
    )
    return st.builds(
        EntryDetails,
        authors=tuples(PEOPLE),
        contributors=tuples(PEOPLE),
        links=tuples(LINKS),
        categories=tuples(CATEGORIES),
        rights=optional(TEXT),
        license=optional(URLS),
        title=text_forms,
        content=text_forms,
        title_html=optional(st.one_of(st.just("<em>Emphasised</em> &amp; more"), TEXT)),
    )


@st.composite
def entry_views(draw: st.DrawFn, feeds: Sequence[FeedView]) -> EntryView:
    language = draw(LANGUAGES)
    return draw(
        st.builds(
            EntryView,
            id=st.integers(1, 10**6),
            guid=IDS,
            link=optional(URLS),
            title=TEXT,
            author=optional(TEXT),
            summary=TEXT,
            content=CONTENTS,
            language=st.just(language),
            categories=tuples(TEXT),
            published=MOMENTS,
            updated=optional(MOMENTS),
            first_seen=MOMENTS,
            feed=st.sampled_from(feeds),
            enclosures=tuples(ENCLOSURES),
            details=entry_details(language),
            also=tuples(ALSO),
        )
    )


@st.composite
def sites(draw: st.DrawFn) -> SiteView:
    """A site of one to three sources, a few stories from them, and the site's language.

    Feed ids are unique within a site, as the database makes them: the Atom twin writes each
    source's <source> once per site and reuses it by feed id.
    """
    feeds = [draw(feed_views(feed_id)) for feed_id in range(1, draw(st.integers(1, 3)) + 1)]
    return SiteView(
        title="Test Planet",
        link="https://planet.test/",
        description="",
        owner_name=None,
        owner_email=None,
        language=draw(SITE_LANGUAGES),
        items_per_page=10,
        feed_items=20,
        entries=draw(st.lists(entry_views(feeds), min_size=1, max_size=3)),
        feeds=feeds,
    )


# Every kind of listing, at depths that give `page.root` "", "../" and "../../".
LISTINGS = st.builds(
    Listing,
    path=st.sampled_from(
        ["index.html", "page/2.html", "sources/libcom.html", "tags/a/b.html", "languages/fr.html"]
    ),
    title=TEXT,
    kind=st.sampled_from(["front", "source", "tag", "language"]),
    entries=st.just(()),
)


@st.composite
def made_up_items(draw: st.DrawFn, entries: Sequence[EntryView]) -> list[FeedItem]:
    """Feed items in every content form, XHTML as a Markup the way `content_form` makes it."""
    items = []
    for entry in entries:
        content_type = draw(st.sampled_from(["text", "html", "xhtml"]))
        content = draw(CONTENTS)
        items.append(
            FeedItem(
                entry,
                id=draw(IDS),
                permalink=draw(st.booleans()),
                content_type=content_type,
                content=Markup(content) if content_type == "xhtml" else content,
            )
        )
    return items


def twins(site: SiteView) -> EntryMarkup:
    """The twins as `PageRenderer` makes them for the site (one Jinja environment here serves
    every example, where a PageRenderer would compile the templates each time)."""
    slugs = Slugs.of(site)
    return EntryMarkup(slugs.sources, site.language, language_name, rfc3339, source_id)


# --- The twins against their templates -------------------------------------------------------
#
# listing.html prints `{{ entry_markup(entry, page) }}` where a theme's copy is not there and
# `{% include "entry.html" %}` where it is, in the same place; atom.xml does the same with
# `atom_entry_markup(item)` and atom_entry.xml. An include inserts the template's whole output
# as it is, and `{{ }}` inserts a Markup as it is (a str it would escape), so the twin must
# return Markup whose text is exactly what rendering the template alone gives: entry.html from
# its indentation to the newline that ends the file (the environment keeps it), atom_entry.xml
# from the newline before <entry> to </entry> (its last comment trims what follows). The
# templates are rendered with what they use of the listing's context: entry.html with `entry`,
# `page`, `site` and `slugs`, atom_entry.xml with `item` and the environment's global
# `source_id`. A variable missing here would fail the render: the environment is strict.


@PROPERTY
@given(site=sites(), page=LISTINGS)
def test_a_story_on_a_page_is_the_same_without_and_with_entry_html_in_the_theme(
    site: SiteView, page: Listing
) -> None:
    slugs = Slugs.of(site)
    markup = twins(site)
    template = ENVIRONMENT.get_template("entry.html")
    for entry in site.entries:
        twin = markup.html(entry, page)
        assert isinstance(twin, Markup)
        assert str(twin) == template.render(entry=entry, page=page, site=site, slugs=slugs)


@PROPERTY
@given(data=st.data(), site=sites())
def test_a_story_in_an_atom_feed_is_the_same_without_and_with_atom_entry_xml_in_the_theme(
    data: st.DataObject, site: SiteView
) -> None:
    """The items as `feed_items` makes them from the stories, then items in every content form
    whatever the stories' own, rendered by one twin as a site's feeds are (a source's <source>
    is written once)."""
    markup = twins(site)
    template = ENVIRONMENT.get_template("atom_entry.xml")
    for item in [*feed_items(site.entries), *data.draw(made_up_items(site.entries))]:
        twin = markup.atom(item)
        assert isinstance(twin, Markup)
        assert str(twin) == template.render(item=item)


def test_the_renderer_calls_the_twins_only_where_the_theme_keeps_the_templates(
    tmp_path: Path,
) -> None:
    site = SiteView("Planet", "https://planet.test/", "", None, None, "fr", 10, 20, (), ())
    built_in = publish.PageRenderer(site).context
    assert built_in["entry_markup"] is not None and built_in["atom_entry_markup"] is not None
    (tmp_path / "entry.html").write_bytes(TEMPLATES.joinpath("entry.html").read_bytes())
    themed = publish.PageRenderer(replace(site, theme=tmp_path)).context
    assert themed["entry_markup"] is None and themed["atom_entry_markup"] is not None


# --- A whole site ----------------------------------------------------------------------------


class _Stopped(datetime):
    """The clock publishing reads, stopped: status.html and status.json count each feed's
    entries of the last 30 days, and the faithful fixtures' entries (October and November
    2026) leave that window one by one as time passes."""

    at = datetime.now(UTC).timestamp()

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Self:
        return cls.fromtimestamp(cls.at, tz)


def _site_files(folder: Path) -> dict[str, bytes]:
    """The site's files; the record of what each publish rendered is no page."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def _first_difference(name: str, expected: bytes, found: bytes) -> str:
    lines = difflib.unified_diff(
        expected.decode("utf-8", "replace").splitlines(),
        found.decode("utf-8", "replace").splitlines(),
        f"{name} (twins)",
        f"{name} (theme's copies)",
        n=1,
        lineterm="",
    )
    return "\n".join(list(lines)[:12])


def _counted(calls: Counter[str], name: str, method: Callable[P, R]) -> Callable[P, R]:
    """`method`, counting its calls in `calls[name]`."""

    def counting(*args: P.args, **kwargs: P.kwargs) -> R:
        calls[name] += 1
        return method(*args, **kwargs)

    return counting


def test_a_theme_with_byte_copies_of_the_entry_templates_publishes_the_same_site(
    planet: Planet, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planet's test sources, with a podcast's enclosures and the faithful fixtures'
    people, rights, licences, links, languages and text forms, published once with the
    twins and once through the templates, in French so that the English stories say so."""
    feeds = _config(feed_server, SOURCES)
    feeds.append({"url": feed_server.serve_fixture("/podcast", "podcast.rss.xml")})
    for fixture in sorted((FEEDS / "faithful").iterdir()):
        if fixture.suffix not in (".xml", ".rdf"):
            continue
        url = feed_server.serve_fixture(f"/faithful/{fixture.name}", f"faithful/{fixture.name}")
        feeds.append({"url": url, "tags": ["faithful"]})
    options = {"items_per_page": 10, "archive_pages": 3, "feed_items": 100, "language": "fr"}
    planet.write_config(feeds, **options)
    assert planet.run("update").exit_code == 0
    theme = planet.root / "theme"
    theme.mkdir()
    for name in ("entry.html", "atom_entry.xml"):
        (theme / name).write_bytes(TEMPLATES.joinpath(name).read_bytes())

    monkeypatch.setattr(jobs, "datetime", _Stopped)
    calls: Counter[str] = Counter()
    for name in ("html", "atom"):
        monkeypatch.setattr(EntryMarkup, name, _counted(calls, name, getattr(EntryMarkup, name)))
    with_twins, with_templates = planet.root / "twins", planet.root / "templates"
    result = planet.run("--output", str(with_twins), "publish")
    assert result.exit_code == 0, result.output
    assert calls["html"] > 100 and calls["atom"] > 100
    calls.clear()
    planet.write_config(feeds, **options, theme="theme")
    result = planet.run("--output", str(with_templates), "publish")
    assert result.exit_code == 0, result.output
    assert not calls, "the theme's copies were not rendered in place of the twins"

    expected, found = _site_files(with_twins), _site_files(with_templates)
    assert sorted(found) == sorted(expected)
    assert len(expected) > 40
    differing = [name for name in expected if found[name] != expected[name]]
    assert not differing, "\n\n".join(
        _first_difference(name, expected[name], found[name]) for name in differing[:3]
    )


# --- Characters XML forbids ------------------------------------------------------------------

# What `_file` must drop: controls (\x1c to \x1f are whitespace to Python, the others not),
# U+FFFE, U+FFFF and lone surrogates; and what it strips from the end, whitespace, some of it
# not ASCII (which `bytes.rstrip` does not strip). Pages end in a mixture of both often: which
# of dropping and stripping comes first decides what is left.
FORBIDDEN = st.sampled_from(list("\x00\x01\x08\x0b\x0c\x0e\x1b\x1c\x1f\ud800\udfff\ufffe\uffff"))
WHITESPACE = st.sampled_from(list("\t\n\r \x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000"))
PAGES = st.builds(
    str.__add__,
    st.text(st.one_of(FORBIDDEN, WHITESPACE, st.characters(exclude_categories=())), max_size=20),
    st.text(st.one_of(FORBIDDEN, WHITESPACE), max_size=6),
)


@settings(max_examples=500, deadline=None)
@given(text=PAGES)
def test_pages_drop_characters_xml_forbids_the_same_way_on_the_fast_path(text: str) -> None:
    expected = (publish._XML_INVALID.sub("", text).rstrip() + "\n").encode("utf-8")
    assert publish._file(text) == expected
