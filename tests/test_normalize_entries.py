"""What the normaliser makes of real entries: ids, titles, links, excerpts, dates, safety."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import normalize
from aggregator.dedupe import unique_by_guid
from aggregator.normalize import (
    NormalizeOptions,
    excerpt,
    normalize_entry,
    plain_text,
    text_of_markup,
)
from aggregator.parse import parse_feed
from aggregator.records import CleanEntry, ParsedEntry

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
FETCHED = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _clean(fixture: str, url: str, language: str | None = None) -> list[CleanEntry]:
    parsed = parse_feed((FEEDS / fixture).read_bytes(), url, {})
    options = NormalizeOptions(language=language)
    return [normalize_entry(entry, url, FETCHED, options) for entry in parsed.entries]


def _by_title(entries: list[CleanEntry], start: str) -> CleanEntry:
    return next(entry for entry in entries if entry.title.startswith(start))


def _parsed(**fields: object) -> ParsedEntry:
    values: dict[str, object] = {
        "guid": None, "link": None, "title": "A title",
        "author": None, "summary": None, "content": None, "published": None,
        "updated": None, "categories": (), "base": "https://example.org/feed/",
        "language": None,
    }  # fmt: skip
    values.update(fields)
    return ParsedEntry(**values)  # type: ignore[arg-type]


def test_an_entry_without_a_title_gets_one_from_its_text_marked_derived() -> None:
    entries = _clean("ist.rss.xml", "http://internationalsocialists.org/wordpress/feed/")
    untitled = next(entry for entry in entries if entry.title_derived)
    assert untitled.title.startswith("For years, indeed decades, we have denounced")
    assert untitled.title.endswith("…")
    assert len(untitled.title.split()) <= 11
    assert sum(entry.title_derived for entry in entries) == 1


def test_rss_1_0_entries_take_their_date_from_dc_date_and_derive_missing_titles() -> None:
    entries = _clean("usc.rdf", "http://ukrainesolidaritycampaign.org/feed/rdf/")
    assert len(entries) == 5
    assert all(entry.published.year == 2015 and entry.published.month == 9 for entry in entries)
    (derived,) = [entry for entry in entries if entry.title_derived]
    assert derived.title.startswith("by Kristina Jovanovski Workers in Ukraine")


def test_titles_are_plain_text_with_entities_decoded_and_unicode_kept() -> None:
    libcom = _clean("libcom.atom.xml", "https://libcom.org/rss.xml")
    assert "Hot August at H&M in Italy" in {entry.title for entry in libcom}
    acr = _clean("anticapitalist.rss.xml", "https://anticapitalistresistance.org/feed/")
    chatgpt = _by_title(acr, "ChatGPT")
    assert "anti\u2011capitalism" in chatgpt.title
    assert "\u00a0" not in chatgpt.title


def test_relative_urls_are_resolved_against_xml_base_or_the_entry_link() -> None:
    libcom = _clean("libcom.atom.xml", "https://libcom.org/rss.xml")
    truckers = _by_title(libcom, "Strike and self-organisation")
    assert 'src="https://libcom.org/files/images/news/truckers-banner.jpg"' in truckers.content
    acr = _clean("anticapitalist.rss.xml", "https://anticapitalistresistance.org/feed/")
    britain = _by_title(acr, "Britain to see")
    assert 'href="https://anticapitalistresistance.org/category/britain/"' in britain.content


def test_hostile_markup_never_reaches_the_stored_content() -> None:
    acr = _clean("anticapitalist.rss.xml", "https://anticapitalistresistance.org/feed/")
    hostile = _by_title(acr, "Against Multipolar Imperialism")
    lowered = hostile.content.lower()
    assert "<script" not in lowered
    assert "javascript:" not in lowered
    assert "onclick" not in lowered
    assert 'href="https://spectrejournal.com/"' in hostile.content
    assert 'rel="noopener noreferrer nofollow"' in hostile.content


def test_excerpts_are_plain_text_without_image_alt_text() -> None:
    libcom = _clean("libcom.atom.xml", "https://libcom.org/rss.xml")
    truckers = _by_title(libcom, "Strike and self-organisation")
    assert "Two truck drivers standing" not in truckers.summary
    assert "<" not in truckers.summary
    assert truckers.summary


def test_every_entry_keeps_its_source_id_author_and_categories() -> None:
    entries = _clean("marxist.rss.xml", "https://socialistrevolution.org/feed/")
    assert len({entry.guid for entry in entries}) == 12
    assert all(entry.guid == entry.link for entry in entries)
    assert all(entry.author for entry in entries)
    assert all(entry.categories for entry in entries)


def test_configured_language_wins_over_the_feeds_own_when_the_text_agrees() -> None:
    url = "https://socialistrevolution.org/feed/"
    assert {entry.language for entry in _clean("marxist.rss.xml", url)} == {"en-US"}
    assert {entry.language for entry in _clean("marxist.rss.xml", url, "en-GB")} == {"en-GB"}


def test_statements_in_other_languages_get_their_own_in_an_english_feed() -> None:
    entries = _clean("ist.rss.xml", "http://internationalsocialists.org/wordpress/feed/")
    spanish = _by_title(entries, "Comunicado de la Corriente Socialista Internacional")
    french = next(entry for entry in entries if entry.summary.startswith("1. L\u2019Europe"))
    assert spanish.language == "es"
    assert french.language == "fr"
    others = [entry for entry in entries if entry not in (spanish, french)]
    assert {entry.language for entry in others} == {"en-US"}


def test_a_language_configured_by_mistake_does_not_relabel_the_text() -> None:
    url = "https://socialistrevolution.org/feed/"
    assert {entry.language for entry in _clean("marxist.rss.xml", url, "es")} == {"en"}


@pytest.mark.parametrize(
    ("declared", "title", "expected"),
    [
        # Too little text to tell: the declared language stands, tidied.
        ("EN_us", "Solidaridad", "en-US"),
        ("en-gb", "Huelga general", "en-GB"),
        # What is not a language tag is dropped rather than published.
        ("English", "Solidarity", None),
        ("en-gb; q=1", "Solidarity", None),
        (None, "Solidarity", None),
        # No declaration, enough text: the detector names it.
        (
            None,
            "Los trabajadores de la limpieza convocan una huelga indefinida en todos los "
            "hospitales públicos de la ciudad contra la subcontratación",
            "es",
        ),
    ],
)
def test_declared_language_tags_are_tidied_and_short_text_is_not_guessed(
    declared: str | None, title: str, expected: str | None
) -> None:
    entry = normalize_entry(
        _parsed(title=title, language=declared), "https://e.org/f", FETCHED, NormalizeOptions()
    )
    assert entry.language == expected


def test_id_falls_back_from_guid_to_link_to_a_content_hash() -> None:
    options = NormalizeOptions()
    with_guid = normalize_entry(
        _parsed(guid="urn:x:1", link="/a"), "https://e.org/f", FETCHED, options
    )
    assert with_guid.guid == "urn:x:1"
    with_link = normalize_entry(_parsed(link="/a"), "https://e.org/f", FETCHED, options)
    assert with_link.guid == "https://example.org/a"
    hashed = normalize_entry(_parsed(content="<p>text</p>"), "https://e.org/f", FETCHED, options)
    again = normalize_entry(_parsed(content="<p>text</p>"), "https://e.org/f", FETCHED, options)
    assert hashed.guid.startswith("sha256:") and hashed.guid == again.guid
    long = normalize_entry(_parsed(guid="x" * 2000), "https://e.org/f", FETCHED, options)
    assert len(long.guid) < 100


def test_dates_missing_or_in_the_future_become_the_fetch_time() -> None:
    options = NormalizeOptions()
    undated = normalize_entry(_parsed(), "https://e.org/f", FETCHED, options)
    assert undated.published == FETCHED
    future = FETCHED + timedelta(days=400)
    clamped = normalize_entry(_parsed(published=future, updated=future), "u", FETCHED, options)
    assert clamped.published == FETCHED and clamped.updated == FETCHED


def test_a_repeated_id_within_one_document_is_stored_once() -> None:
    options = NormalizeOptions()
    first = normalize_entry(_parsed(guid="g", title="First"), "u", FETCHED, options)
    second = normalize_entry(_parsed(guid="g", title="Second"), "u", FETCHED, options)
    assert [entry.title for entry in unique_by_guid([first, second])] == ["First"]


def test_content_hash_changes_with_the_text_and_only_with_it() -> None:
    options = NormalizeOptions()
    base = normalize_entry(_parsed(guid="g", content="<p>one</p>"), "u", FETCHED, options)
    same = normalize_entry(_parsed(guid="g", content="<p>one</p>"), "u", FETCHED, options)
    edited = normalize_entry(_parsed(guid="g", content="<p>two</p>"), "u", FETCHED, options)
    assert base.content_hash == same.content_hash != edited.content_hash


@pytest.mark.parametrize("markup", ["<b>Bold</b> &amp; <i>brave</i>", "Bold &amp; brave"])
def test_html_titles_lose_their_tags(markup: str) -> None:
    entry = normalize_entry(_parsed(title=markup), "u", FETCHED, NormalizeOptions())
    assert entry.title == "Bold & brave"


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60))
def test_a_name_without_markup_reads_as_the_html_parser_reads_it(text: str) -> None:
    """Names and titles without markup skip the HTML parser; that must change nothing."""
    assert plain_text(text) == text_of_markup(text)


@pytest.mark.parametrize("text", ["a\x00b", "\ufeffName", "AT&amp;T", "Jo <b>Bloggs</b>", "x > y"])
def test_the_characters_a_parser_reads_differently_still_go_through_it(text: str) -> None:
    assert plain_text(text) == text_of_markup(text)


def test_plain_text_stays_text_and_html_stays_html() -> None:
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
    <id>urn:t</id><updated>2024-01-01T00:00:00Z</updated>
    <entry><id>urn:1</id><title type="text">AT&amp;T &lt;b&gt;bold&lt;/b&gt;</title>
    <updated>2024-01-01T00:00:00Z</updated>
    <summary type="text">&lt;img src=x onerror=alert(1)&gt; is how XSS looks</summary>
    <content type="html">&lt;p&gt;Real &lt;b&gt;markup&lt;/b&gt;&lt;/p&gt;</content>
    </entry></feed>"""
    (parsed,) = parse_feed(atom, "https://e.org/atom", {}).entries
    entry = normalize_entry(parsed, "https://e.org/atom", FETCHED, NormalizeOptions())
    assert entry.title == "AT&T <b>bold</b>"
    assert entry.summary == "<img src=x onerror=alert(1)> is how XSS looks"
    assert entry.content == "<p>Real <b>markup</b></p>"


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    st.text(max_size=200),
)
def test_any_date_and_title_give_a_utc_date_not_after_the_fetch_and_a_title(
    moment: datetime, title: str
) -> None:
    entry = normalize_entry(
        _parsed(title=title, published=moment), "u", FETCHED, NormalizeOptions()
    )
    assert entry.published.tzinfo is not None and entry.published <= FETCHED
    assert entry.title.strip()
    assert entry.title == " ".join(entry.title.split())


def test_read_more_boilerplate_is_gone_even_when_doubled() -> None:
    entries = _clean("ist.rss.xml", "http://internationalsocialists.org/wordpress/feed/")
    assert all("read more" not in entry.summary.lower() for entry in entries)
    threat = _by_title(entries, "International solidarity against the threat of war")
    assert threat.summary.endswith("if this becomes a military confrontation.")
    cut = next(entry for entry in entries if entry.title_derived)
    assert cut.summary.endswith("learn of the arrest during a…")


_PIECES = [
    "strike", "Union", ".", "!", "?", " ", "\n", "\u00a0", "\u2026", "...", "[\u2026]", "[ ... ]",
    "\u00bb", "Read More", "READ MORE", "Read Moreover", "Continue reading",
    "CONT\u0131NUE READ\u0131NG", "The post", "appeared first on", "appeared fir\u017ft on",
    "Labour Briefing",
]  # fmt: skip


def _strip_boilerplate_slowly(text: str) -> tuple[str, bool]:
    """Every pattern tried at every pass, as the quick checks of strip_boilerplate must agree."""
    cut = False
    while True:
        before = text
        text, markers = normalize._TRUNCATION.subn("", text)
        cut = cut or bool(markers)
        for pattern in normalize._BOILERPLATE:
            text = pattern.sub("", text)
        if text == before:
            return text.strip(), cut


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30))
def test_boilerplate_is_stripped_as_if_every_pattern_were_tried(pieces: list[str]) -> None:
    text = " ".join(pieces)
    assert normalize.strip_boilerplate(text) == _strip_boilerplate_slowly(text)


def test_truncation_markers_become_one_ellipsis() -> None:
    for fixture, url in [
        ("usc.rdf", "http://ukrainesolidaritycampaign.org/feed/rdf/"),
        ("marxist.rss.xml", "https://socialistrevolution.org/feed/"),
    ]:
        for entry in _clean(fixture, url):
            assert "[…]" not in entry.summary and "[...]" not in entry.summary
            assert not entry.summary.endswith(" …")


def test_wordpress_footer_and_captions_stay_out_of_excerpts() -> None:
    acr = _clean("anticapitalist.rss.xml", "https://anticapitalistresistance.org/feed/")
    assert all("appeared first on" not in entry.summary for entry in acr)
    libcom = _clean("libcom.atom.xml", "https://libcom.org/rss.xml")
    for entry in libcom:
        assert "<figcaption" not in entry.summary
    truckers = _by_title(libcom, "Strike and self-organisation")
    assert "figcaption" in truckers.content or "<figure" in truckers.content


def test_excerpt_length_is_configurable() -> None:
    options = NormalizeOptions(excerpt_words=5)
    entry = normalize_entry(
        _parsed(summary="<p>one two three four five six seven</p>"), "u", FETCHED, options
    )
    assert entry.summary == "one two three four five…"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1,
                        max_size=12), min_size=1, max_size=120),
       st.integers(min_value=5, max_value=80))  # fmt: skip
def test_an_excerpt_is_a_prefix_of_the_words_and_never_longer_than_asked(
    words: list[str], limit: int
) -> None:
    text = " ".join(" ".join(words).split())
    result = excerpt(text, limit)
    kept = result.removesuffix("…").split()
    assert len(kept) <= limit
    assert text.split()[: len(kept) - 1] == kept[:-1] if kept else True
    if len(text.split()) > limit:
        assert result.endswith("…")
    else:
        assert result == text


def test_whitespace_is_the_same_to_str_split_and_to_regular_expressions() -> None:
    """collapse splits with str.split, where it once replaced runs of \\s."""
    space = re.compile(r"\s")
    assert all(
        (space.fullmatch(chr(code)) is not None) == chr(code).isspace() for code in range(0x110000)
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([" ", "\t", "\n", "\u00a0", "\u2003", "\u1680", "\x1c",
                                         "\u0301", "e", "\u00e9", "x"])))  # fmt: skip
def test_collapse_leaves_one_space_between_words_and_composes_characters(text: str) -> None:
    expected = unicodedata.normalize("NFC", re.sub(r"\s+", " ", text)).strip()
    assert normalize.collapse(text) == expected


_BLOCKS = "p|div|br|li|ul|ol|h[1-6]|blockquote|pre|tr|td|th|table|figure|figcaption|dd|dt|hr"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["<p>", "</P>", "<br/>", "<b>", "</b>", "<pre>", "<p", "<h7>",
                                 "<H2 id=x>", "< p>", "<tr>", "word", " ", "&amp;", "<"]),
                max_size=20))  # fmt: skip
def test_a_space_goes_before_every_block_tag_and_nowhere_else(pieces: list[str]) -> None:
    markup = "".join(pieces)
    expected = re.sub(rf"<(/?)({_BLOCKS})\b", r" <\1\2", markup, flags=re.IGNORECASE)
    assert normalize._BLOCK_START.sub(" ", markup) == expected
