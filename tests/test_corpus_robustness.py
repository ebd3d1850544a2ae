"""The whole pipeline over the feedparser test corpus: nothing crashes, every feed ends up ok or
failing with a reason, every published file stays valid, and nothing executable gets through.

Every corpus file is served from the loopback test server (with the HTTP headers its comment
asks for), listed in one feeds.yaml, polled by one `aggregator update`, and the published site is
read back the way a subscriber's software would read it.

The corpus is split into a few planets by folder so that each planet's page can show all of its
entries (`items_per_page` is capped at 1000) and the sanitize cases have a planet of their own.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import feedparser
import lxml.html
import pytest
import yaml
from conftest import FeedServer, Planet, shared_corpus
from lxml import etree
from sqlalchemy import create_engine, text

from aggregator.config import VIDEO_HOSTS
from aggregator.normalize import IFRAME_SANDBOX

ATOM = "{http://www.w3.org/2005/Atom}"
SAFE_SCHEMES = {"http", "https", "mailto"}
MAX_PAGE_ITEMS = 1000  # the most config.PlanetSection allows for items_per_page
# Headers that would describe the body wrongly once it is served as plain bytes from here, or
# that the test server sets itself.
SKIPPED_HEADERS = {
    "content-location",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "content-type",
}
# A literal "<script" is a tag wherever it appears; handlers and URL schemes are checked on the
# tree a browser builds, since escaped text such as "&lt;img onerror=…&gt;" is harmless.
UNSAFE_TEXT = re.compile(r"<script", re.IGNORECASE)
OWN_SCRIPT = re.compile(rb'<script src="(?:\.\./)*filter\.js" defer></script>')
UNSAFE_ELEMENTS = {
    "script",
    "style",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "form",
    "base",
    "svg",
    "math",
}
URL_ATTRIBUTES = {
    "href",
    "src",
    "cite",
    "action",
    "formaction",
    "background",
    "poster",
    "data",
    "codebase",
    "dynsrc",
    "lowsrc",
    "xlink:href",
}
SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)
# What a browser ignores when it reads the scheme of a URL: leading/trailing C0 controls and
# spaces, and tabs and newlines anywhere (so "jav&#x09;ascript:" is javascript:).
URL_IGNORED = re.compile(r"[\t\n\r]")
C0_OR_SPACE = "".join(chr(code) for code in range(0x21))
# lxml cannot hold these in a tree; a replacement character keeps the markup's shape.
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# json/ is left out: feedparser 6.0 reads no JSON Feed, so parse_feed rejects it as not a feed.
GROUPS = {
    "sanitize": ("wellformed/sanitize",),
    "wellformed": ("wellformed",),
    "illformed": ("illformed",),
    "encoding": ("encoding",),
    "entities": ("entities",),
}
# Entries each group must store at least (observed with feedparser 6.0: 594, 589, 13, 14, 3);
# together over 1000, which test_corpus_stores_over_1000_entries checks on the real counts.
MINIMUM_ENTRIES = {
    "sanitize": 580,
    "wellformed": 570,
    "illformed": 10,
    "encoding": 10,
    "entities": 3,
}
STORED: dict[str, int] = {}


@dataclass(frozen=True)
class Case:
    path: Path
    relative: str
    content_type: str
    headers: dict[str, str]


def corpus_files(group: str) -> list[Path]:
    root = shared_corpus("feedparser")
    (folder,) = GROUPS[group]
    files = sorted((root / folder).rglob("*.xml"))
    if group == "wellformed":
        files = [path for path in files if "sanitize" not in path.relative_to(root).parts]
    return files


def read_case(path: Path, root: Path) -> Case:
    """The Header: lines of the leading comment become the response headers of the case."""
    head = path.read_bytes()[:4096].decode("latin-1")
    comment = head[head.find("<!--") : head.find("-->")] if "<!--" in head else ""
    content_type = "application/xml"
    headers: dict[str, str] = {}
    for line in comment.splitlines():
        match = re.match(r"\s*Header:\s*([A-Za-z0-9-]+):\s*(.*?)\s*$", line)
        if not match:
            continue
        name, value = match.groups()
        if name.lower() == "content-type":
            content_type = value
        elif name.lower() not in SKIPPED_HEADERS:
            headers[name] = value
    return Case(path, path.relative_to(root).as_posix(), content_type, headers)


def url_scheme(value: str) -> str | None:
    cleaned = URL_IGNORED.sub("", value).strip(C0_OR_SPACE)
    match = SCHEME.match(cleaned)
    return match.group(1).lower() if match else None


def sandboxed_player(element: Any) -> bool:
    """The only iframe allowed: an https player from planet.iframe_hosts, sandboxed, empty."""
    source = urlsplit(element.get("src") or "")
    return (
        source.scheme == "https"
        and source.hostname in VIDEO_HOSTS
        and element.get("sandbox") == IFRAME_SANDBOX
        and "allow-top-navigation" not in IFRAME_SANDBOX
        and not element.text
        and len(element) == 0
    )


def element_problems(element: Any, where: str) -> list[str]:
    """What a browser would run in this element: unsafe tags, handlers, styles, script URLs."""
    problems = []
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag.lower() in UNSAFE_ELEMENTS:
        problems.append(f"{where}: <{tag}> element")
    if tag.lower() == "iframe" and not sandboxed_player(element):
        problems.append(f"{where}: <iframe> that is not a sandboxed player from an allowed host")
    if tag.lower() == "meta" and "http-equiv" in {name.lower() for name in element.attrib}:
        # The page's own Content-Security-Policy is the one http-equiv allowed, in <head>.
        policy = (element.get("http-equiv") or "").lower() == "content-security-policy"
        parent = element.getparent()
        if not policy or parent is None or parent.tag != "head":
            problems.append(f"{where}: <meta http-equiv>")
    for name, value in element.attrib.items():
        lowered = name.lower()
        if lowered.startswith("on"):
            problems.append(f"{where}: <{tag} {name}={value!r}> event handler")
        if lowered in {"style", "srcdoc", "srcset"}:
            problems.append(f"{where}: <{tag} {name}={value!r}>")
        if lowered in URL_ATTRIBUTES:
            scheme = url_scheme(value)
            if scheme is not None and scheme not in SAFE_SCHEMES:
                problems.append(f"{where}: <{tag} {name}={value!r}> unsafe URL scheme")
    return problems


def html_problems(markup: str, where: str) -> list[str]:
    """Check an entry's HTML as the tree a browser would build from it (and for script tags)."""
    problems = []
    if match := UNSAFE_TEXT.search(markup):
        problems.append(f"{where}: {match.group(0)!r} in {markup[:300]!r}")
    if markup.strip():
        fragment = lxml.html.fragment_fromstring(
            NOT_IN_XML.sub("\ufffd", markup), create_parent="div"
        )
        for element in fragment.iter():
            problems.extend(element_problems(element, where))
    return problems


def serve_corpus(server: FeedServer, cases: list[Case]) -> list[dict[str, Any]]:
    feeds = []
    for number, case in enumerate(cases):
        options: dict[str, Any] = {"content_type": case.content_type, "headers": case.headers}
        names = {name.lower() for name in case.headers}
        if "etag" in names:
            options["etag"] = False
        if "last-modified" in names:
            options["last_modified"] = False
        url = server.serve("/feedparser/" + quote(case.relative), case.path.read_bytes(), **options)
        feeds.append({"url": url, "name": f"corpus-{number}"})
    return feeds


def write_corpus_config(planet: Planet, feeds: list[dict[str, Any]]) -> None:
    planet.write_config(feeds, items_per_page=MAX_PAGE_ITEMS, feed_items=10000)
    document = yaml.safe_load(planet.config.read_text(encoding="utf-8"))
    document["defaults"]["timeout"] = "10s"
    planet.config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def check_feed_states(states: list[dict[str, Any]], cases_by_url: dict[str, Case]) -> list[str]:
    problems = []
    for state in states:
        case = cases_by_url[state["url"]].relative
        error = state["last_error"]
        if state["status"] == "ok":
            if error is not None:
                problems.append(f"{case}: ok but last_error={error!r}")
        elif state["status"] == "failing":
            readable = (
                isinstance(error, str)
                and re.search(r"[A-Za-z]{3}", error)
                and "Traceback" not in error
                and " object at 0x" not in error
            )
            if not readable:
                problems.append(f"{case}: failing without a readable last_error: {error!r}")
        else:
            problems.append(f"{case}: status {state['status']!r} after an update")
    return problems


def check_atom(data: bytes) -> tuple[int, list[str]]:
    problems = []
    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError as error:
        return 0, [f"atom.xml is not well-formed: {error}"]
    if root.tag != f"{ATOM}feed":
        problems.append(f"atom.xml root is {root.tag}")
    count = len(root.findall(f"{ATOM}entry"))
    read_back = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    if read_back.bozo:
        problems.append(f"feedparser finds atom.xml ill-formed: {read_back.bozo_exception}")
    if len(read_back.entries) != count:
        problems.append(f"feedparser reads {len(read_back.entries)} of {count} atom entries")
    for number, entry in enumerate(read_back.entries):
        where = f"atom.xml entry {number} ({entry.get('id')})"
        # Text constructs (type="text") are shown as text by every reader, so only the HTML ones
        # are read as markup here.
        details = [*(entry.get("content") or []), entry.get("summary_detail") or {}]
        for detail in details:
            if detail.get("type") in {"text/html", "application/xhtml+xml"}:
                problems.extend(html_problems(detail["value"], f"{where} {detail['type']}"))
    return count, problems


def check_rss(data: bytes) -> tuple[int, list[str]]:
    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError as error:
        return 0, [f"rss.xml is not well-formed: {error}"]
    problems = [] if root.tag == "rss" else [f"rss.xml root is {root.tag}"]
    items = root.findall("channel/item")
    for number, item in enumerate(items):
        # An RSS description is HTML, whatever the entry had.
        description = item.findtext("description") or ""
        problems.extend(html_problems(description, f"rss.xml item {number} description"))
    return len(items), problems


def check_json_feed(data: bytes) -> tuple[int, list[str]]:
    try:
        document = json.loads(data)
    except ValueError as error:
        return 0, [f"feed.json is not JSON: {error}"]
    problems = []
    items = document.get("items", [])
    for number, item in enumerate(items):
        where = f"feed.json item {number} ({item.get('id')})"
        # content_text and summary are plain text by the JSON Feed spec; content_html is HTML.
        if "content_html" in item:
            problems.extend(html_problems(item["content_html"], f"{where} content_html"))
    return len(items), problems


def without_own_script(data: bytes) -> bytes:
    """The page without the site's own filter script, the one script it may carry: first in
    the document (in <head>), from the site itself, with no content. Any other is a problem."""
    return OWN_SCRIPT.sub(b"", data, count=1)


def check_index(data: bytes) -> tuple[int, list[str]]:
    problems = []
    data = without_own_script(data)
    if re.search(rb"<script", data, re.IGNORECASE):
        problems.append("index.html contains '<script'")
    document = lxml.html.document_fromstring(data)
    head = document.find("head")
    for element in document.iter():
        problems.extend(element_problems(element, "index.html"))
        if element.tag == "link" and (head is None or element.getparent() is not head):
            problems.append("index.html: <link> outside <head>")
    articles = document.xpath('//article[contains(concat(" ", @class, " "), " entry ")]')
    return len(articles), problems


def check_opml(data: bytes) -> list[str]:
    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError as error:
        return [f"opml.xml is not well-formed: {error}"]
    problems = [] if root.tag == "opml" else [f"opml.xml root is {root.tag}"]
    for outline in root.iter("outline"):
        for name in ("xmlUrl", "htmlUrl"):
            value = outline.get(name)
            scheme = url_scheme(value) if value is not None else None
            if value is not None and scheme not in {"http", "https"}:
                problems.append(f"opml.xml: {name}={value!r} is not a web address")
    return problems


def _stories(planet: Planet) -> int:
    """Stored entries that represent a story: copies of another feed's story are not published
    on their own (many corpus feeds share links such as http://example.com/)."""
    engine = create_engine(planet.database_url)
    with engine.connect() as connection:
        count = connection.execute(
            text("SELECT count(*) FROM entries WHERE duplicate_of IS NULL")
        ).scalar()
    engine.dispose()
    return int(count or 0)


def site_problems(output: Path, stored: int) -> list[str]:
    """Every published file parses, carries every stored story, and runs nothing."""
    atom_count, atom_problems = check_atom((output / "atom.xml").read_bytes())
    rss_count, rss_problems = check_rss((output / "rss.xml").read_bytes())
    json_count, json_problems = check_json_feed((output / "feed.json").read_bytes())
    page_count, page_problems = check_index((output / "index.html").read_bytes())
    problems = atom_problems + rss_problems + json_problems + page_problems
    problems += check_opml((output / "opml.xml").read_bytes())
    # Every stored entry is published, so every one of them went through the checks above.
    for name, count, expected in (
        ("atom.xml", atom_count, stored),
        ("rss.xml", rss_count, stored),
        ("feed.json", json_count, stored),
        ("index.html", page_count, min(stored, MAX_PAGE_ITEMS)),
    ):
        if count != expected:
            problems.append(f"{name} has {count} entries; expected {expected}")
    return problems


def run_update(
    planet: Planet, caplog: pytest.LogCaptureFixture, label: str
) -> list[dict[str, Any]]:
    """One `aggregator update`, then the feeds as `aggregator feeds --json` lists them."""
    started = time.monotonic()
    result = planet.run("-v", "update")
    print(f"{label}: update took {time.monotonic() - started:.1f}s")
    assert "Traceback" not in result.output, result.output[-5000:]
    assert result.exit_code == 0, result.output[-5000:]
    logged = [record for record in caplog.records if record.exc_info]
    assert not logged, "\n".join(caplog.text.splitlines()[-60:])

    listing = planet.run("feeds", "--json")
    assert listing.exit_code == 0, listing.output[-2000:]
    states: list[dict[str, Any]] = json.loads(listing.stdout)
    return states


@pytest.mark.parametrize("group", list(GROUPS))
def test_whole_pipeline_over_corpus(
    group: str, planet: Planet, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    root = shared_corpus("feedparser")
    cases = [read_case(path, root) for path in corpus_files(group)]
    assert cases, f"no corpus files found for {group}"
    feeds = serve_corpus(feed_server, cases)
    cases_by_url = {feed["url"]: case for feed, case in zip(feeds, cases, strict=True)}
    write_corpus_config(planet, feeds)

    states = run_update(planet, caplog, group)

    assert sorted(state["url"] for state in states) == sorted(cases_by_url)
    stored = sum(state["entry_count"] for state in states)
    STORED[group] = stored
    failing = sum(state["status"] == "failing" for state in states)
    print(f"{group}: {len(cases)} feeds, {stored} entries stored, {failing} feeds failing")
    problems = check_feed_states(states, cases_by_url)
    problems += site_problems(planet.output, _stories(planet))
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:60])
    assert stored >= MINIMUM_ENTRIES[group], f"only {stored} entries stored"


def test_corpus_stores_over_1000_entries() -> None:
    """Runs after the groups above (pytest keeps file order) and adds up what they stored."""
    if set(STORED) != set(GROUPS):
        pytest.skip("needs every group of test_whole_pipeline_over_corpus in the same run")
    assert sum(STORED.values()) > 1000, STORED


HOSTILE_FEEDS = {
    # The channel's own link is shown on the page and in the OPML as the source's home page.
    "channel-link-javascript.xml": """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Channel link</title><link>javascript:alert(1)</link>
<item><title>An item</title><link>https://example.org/a</link><guid>urn:hostile:1</guid>
<description>Plain words.</description></item></channel></rss>""",
    "atom-link-vbscript.xml": """<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Feed link</title><id>urn:hostile:feed</id>
<link rel="alternate" href="vbscript:msgbox(1)"/><updated>2024-01-01T00:00:00Z</updated>
<entry><title>An entry</title><id>urn:hostile:2</id><updated>2024-01-01T00:00:00Z</updated>
<link href="https://example.org/b"/><content type="html">&lt;p&gt;Words&lt;/p&gt;</content></entry>
</feed>""",
    "atom-link-data.xml": """<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Data link</title><id>urn:hostile:data</id>
<link rel="alternate" href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="/>
<updated>2024-01-01T00:00:00Z</updated>
<entry><title>An entry</title><id>urn:hostile:3</id><updated>2024-01-01T00:00:00Z</updated>
<link href="https://example.org/c"/><content type="html">&lt;p&gt;Words&lt;/p&gt;</content></entry>
</feed>""",
    # The content sanitizes to nothing, the summary is text that reads like markup: rss.xml falls
    # back to the plain-text summary for <description>, which RSS readers render as HTML.
    "summary-markup-as-text.xml": """<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Summary</title><id>urn:hostile:summary</id>
<link rel="alternate" href="https://example.org/"/><updated>2024-01-01T00:00:00Z</updated>
<entry><title>An entry</title><id>urn:hostile:4</id><updated>2024-01-01T00:00:00Z</updated>
<link href="https://example.org/d"/>
<content type="html">&lt;script&gt;alert(1)&lt;/script&gt;</content>
<summary type="html">&amp;lt;img src=x onerror=alert(1)&amp;gt;</summary></entry>
</feed>""",
}


@pytest.mark.parametrize("name", list(HOSTILE_FEEDS))
def test_hostile_feed_publishes_nothing_executable(
    name: str, planet: Planet, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Feed-level fields and text fallbacks, which the corpus's sanitize cases do not reach."""
    url = feed_server.serve(f"/hostile/{name}", HOSTILE_FEEDS[name])
    write_corpus_config(planet, [{"url": url, "name": "hostile"}])

    states = run_update(planet, caplog, name)

    assert [state["status"] for state in states] == ["ok"], states
    stored = states[0]["entry_count"]
    assert stored == 1, states
    problems = site_problems(planet.output, stored)
    assert not problems, "\n".join(problems)
