"""The pages beyond the front page: archive, one per source, tag and language, each with its
Atom feed; the status page and its JSON; WebSub pings; themes; stale pages removed."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import feedparser
import lxml.etree as etree
import lxml.html
import pytest
import rnc2rng

from tests.conftest import FeedServer, Planet, shared_path

SOURCES = [
    ("/libcom", "libcom.atom.xml", "libcom.org", ["anarchism", "labour"]),
    ("/acr", "anticapitalist.rss.xml", "Anti*Capitalist Resistance", ["socialism"]),
    ("/sr", "marxist.rss.xml", "Socialist Revolution", ["socialism", "marxism"]),
    ("/ist", "ist.rss.xml", "International Socialist Tendency", ["socialism"]),
    ("/usc", "usc.rdf", "Ukraine Solidarity Campaign", ["ukraine", "labour"]),
]


def _config(feed_server: FeedServer, sources: list[Any] = SOURCES) -> list[dict[str, Any]]:
    return [
        {"url": feed_server.serve_fixture(path, fixture), "name": name, "tags": tags}
        for path, fixture, name, tags in sources
    ]


@pytest.fixture
def site(planet: Planet, feed_server: FeedServer) -> Planet:
    planet.write_config(_config(feed_server), items_per_page=10, archive_pages=3, feed_items=20)
    result = planet.run("update")
    assert result.exit_code == 0, result.output
    return planet


def _page(path: Path) -> Any:
    return lxml.html.parse(str(path)).getroot()


def _titles(path: Path) -> list[str]:
    return [h3.text_content().strip() for h3 in _page(path).iterfind(".//article//h3")]


def test_the_archive_continues_the_front_page_page_by_page(site: Planet) -> None:
    output = site.output
    front = _titles(output / "index.html")
    second = _titles(output / "page" / "2.html")
    third = _titles(output / "page" / "3.html")
    assert len(front) == len(second) == len(third) == 10
    assert not set(front) & set(second) and not set(second) & set(third)
    assert not (output / "page" / "4.html").exists()
    newest_first = feedparser.parse(output / "atom.xml").entries
    assert [entry.title for entry in newest_first] == front + second
    links = {a.get("rel"): a.get("href") for a in _page(output / "page" / "2.html").iter("a")}
    assert links["prev"] == "../index.html" and links["next"] == "../page/3.html"


def test_each_source_has_a_page_and_an_atom_feed_of_everything_it_published(
    site: Planet,
) -> None:
    page = site.output / "sources" / "socialist-revolution.html"
    titles = _titles(page)
    assert len(titles) == 10
    feed = feedparser.parse(site.output / "sources" / "socialist-revolution.xml")
    assert [entry.title for entry in feed.entries] == titles
    assert {entry.source.title for entry in feed.entries} == {"Socialist Revolution"}
    assert feed.feed.links[0].href == "https://planet.test/sources/socialist-revolution.xml"
    assert (site.output / "sources" / "anti-capitalist-resistance.html").is_file()
    autodiscovered = _page(page).xpath("//link[@rel='alternate']/@href")
    assert autodiscovered[0] == "../sources/socialist-revolution.xml"


def test_source_pages_read_a_few_feeds_at_a_time_are_the_same(
    site: Planet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large planet's source pages are read in chunks of feeds, so that publishing never
    holds every feed's entries at once; the pages must not depend on the chunks."""
    from aggregator import store

    def sources() -> dict[str, bytes]:
        return {path.name: path.read_bytes() for path in (site.output / "sources").iterdir()}

    whole = sources()
    assert len(whole) == 2 * len(SOURCES) and len(SOURCES) > 2
    monkeypatch.setattr(store, "SOURCES_PER_READ", 2)
    for path in (site.output / "sources").iterdir():
        path.unlink()
    result = site.run("publish")
    assert result.exit_code == 0, result.output
    assert sources() == whole


def test_tag_pages_show_only_the_sources_with_that_tag(site: Planet) -> None:
    feed = feedparser.parse(site.output / "tags" / "labour.xml")
    assert {entry.source.title for entry in feed.entries} <= {
        "libcom.org",
        "Ukraine Solidarity Campaign",
    }
    assert len(_titles(site.output / "tags" / "labour.html")) == len(feed.entries) == 10
    ukraine = feedparser.parse(site.output / "tags" / "ukraine.xml")
    assert {entry.source.title for entry in ukraine.entries} == {"Ukraine Solidarity Campaign"}
    marxism = feedparser.parse(site.output / "tags" / "marxism.xml")
    assert {entry.source.title for entry in marxism.entries} == {"Socialist Revolution"}


def test_a_spanish_reader_can_follow_only_the_spanish_stories(site: Planet) -> None:
    spanish = feedparser.parse(site.output / "languages" / "es.xml")
    assert [entry.title for entry in spanish.entries] == [
        "Comunicado de la Corriente Socialista Internacional sobre la crisis de refugiados!"
    ]
    assert spanish.entries[0].title_detail.language == "es"
    assert (site.output / "languages" / "fr.html").is_file()
    english = _titles(site.output / "languages" / "en.html")
    assert len(english) == 10
    assert _page(site.output / "languages" / "es.html").get("lang") == "en"


def test_every_atom_file_is_valid_against_the_rfc_4287_schema(site: Planet) -> None:
    schema_text = shared_path("schemas", "atom-rfc4287.rnc").read_text()
    converted = rnc2rng.dumps(rnc2rng.loads(schema_text)).replace('xmlns:local=""', "")
    schema = etree.RelaxNG(etree.fromstring(converted.encode()))
    documents = sorted(site.output.rglob("*.xml"))
    atom = [path for path in documents if path.name not in ("rss.xml", "opml.xml")]
    assert len(atom) > 10
    for path in atom:
        assert schema.validate(etree.parse(str(path))), (path, schema.error_log)


def test_every_link_between_pages_resolves(site: Planet) -> None:
    pages = sorted(site.output.rglob("*.html"))
    assert len(pages) > 15
    for path in pages:
        document = _page(path)
        targets = document.xpath("//a/@href | //link/@href | //img/@src")
        for target in targets:
            if urlsplit(target).scheme or target.startswith(("#", "mailto:")):
                continue
            resolved = urljoin(path.relative_to(site.output).as_posix(), target)
            assert (site.output / resolved).is_file(), f"{path}: {target}"


def test_pages_forbid_inline_script_and_frame_only_the_allowed_players(site: Planet) -> None:
    for path in site.output.rglob("*.html"):
        document = _page(path)
        (policy,) = document.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives["default-src"] == "'none'"
        assert "unsafe-inline" not in policy
        assert "https://www.youtube.com" in directives["frame-src"]
        assert all(script.get("src") for script in document.iter("script"))


def test_pages_of_removed_sources_and_tags_are_removed(
    site: Planet, feed_server: FeedServer
) -> None:
    assert (site.output / "sources" / "ukraine-solidarity-campaign.html").is_file()
    assert (site.output / "tags" / "ukraine.xml").is_file()
    site.write_config(
        _config(feed_server, SOURCES[:4]), items_per_page=10, archive_pages=3, feed_items=20
    )
    result = site.run("publish")
    assert result.exit_code == 0, result.output
    assert not (site.output / "sources" / "ukraine-solidarity-campaign.html").exists()
    assert not (site.output / "sources" / "ukraine-solidarity-campaign.xml").exists()
    assert not (site.output / "tags" / "ukraine.html").exists()
    assert (site.output / "tags" / "labour.html").is_file()


def test_status_puts_what_needs_attention_first(planet: Planet, feed_server: FeedServer) -> None:
    feeds = _config(feed_server, SOURCES[:2])
    feeds.append({"url": feed_server.url("/missing"), "name": "Missing"})
    feeds.append({"url": feed_server.serve_fixture("/pod", "podcast.rss.xml"), "name": "WCH"})
    planet.write_config(feeds)
    planet.run("update")
    status = json.loads((planet.output / "status.json").read_text(encoding="utf-8"))
    missing = status["feeds"][0]
    assert missing["name"] == "Missing"
    assert missing["state"] == "failing" and missing["http_status"] == 404
    assert missing["failing_since"] and missing["last_error"] and missing["next_due"]
    assert status["feeds_by_state"] == {"failing": 1, "ok": 3}
    by_name = {feed["name"]: feed for feed in status["feeds"]}
    # The podcast's episodes are from November 2026; the fixture of libcom from 2016.
    assert by_name["libcom.org"]["entries_last_30_days"] == 0
    assert by_name["libcom.org"]["entries_stored"] == 10
    rows = _page(planet.output / "status.html").xpath("//table[@class='status']/tbody/tr")
    assert [row.xpath("string(th/a)") for row in rows] == [f["name"] for f in status["feeds"]]
    assert "failing since" in rows[0].text_content()


class Hub:
    """A WebSub hub that records the publish pings it gets."""

    def __init__(self) -> None:
        self.pings: list[dict[str, list[str]]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                hub.pings.append(parse_qs(self.rfile.read(length).decode()))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def topics(self) -> set[str]:
        return {url for ping in self.pings for url in ping["hub.url"]}


@pytest.fixture
def hub() -> Iterator[Hub]:
    stub = Hub()
    yield stub
    stub.server.shutdown()


def test_the_websub_hub_hears_of_every_feed_that_changed(
    planet: Planet, feed_server: FeedServer, hub: Hub
) -> None:
    feeds = _config(feed_server, SOURCES[4:])
    planet.write_config(feeds, websub_hub=hub.url)
    planet.run("update")
    assert all(ping["hub.mode"] == ["publish"] for ping in hub.pings)
    assert {
        "https://planet.test/atom.xml",
        "https://planet.test/rss.xml",
        "https://planet.test/feed.json",
        "https://planet.test/sources/ukraine-solidarity-campaign.xml",
    } <= hub.topics()
    assert "https://planet.test/opml.xml" not in hub.topics()
    atom = feedparser.parse(planet.output / "atom.xml")
    assert {link.rel: link.href for link in atom.feed.links}["hub"] == hub.url
    document = json.loads((planet.output / "feed.json").read_text())
    assert document["hubs"] == [{"type": "WebSub", "url": hub.url}]

    hub.pings.clear()
    planet.run("publish")
    assert hub.pings == []


def test_an_unreachable_hub_does_not_stop_the_publish(
    planet: Planet, feed_server: FeedServer
) -> None:
    planet.write_config(_config(feed_server, SOURCES[4:]), websub_hub=feed_server.url("/nohub"))
    result = planet.run("update")
    assert result.exit_code == 0
    assert (planet.output / "atom.xml").is_file()


def test_a_theme_replaces_templates_and_static_files_one_by_one(
    planet: Planet, feed_server: FeedServer
) -> None:
    theme = planet.root / "theme"
    (theme / "static").mkdir(parents=True)
    (theme / "entry.html").write_text(
        '<article class="entry themed"><h3>{{ entry.title }}</h3></article>\n'
    )
    (theme / "static" / "style.css").write_text("body { color: #c00; }\n")
    (theme / "static" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>\n")
    planet.write_config(_config(feed_server, SOURCES[4:]), theme="theme")
    assert planet.run("update").exit_code == 0
    page = _page(planet.output / "index.html")
    assert len(page.xpath("//article[@class='entry themed']")) == 5
    assert page.xpath("//aside[@class='subscriptions']"), "the built-in listing is still used"
    assert (planet.output / "style.css").read_text() == "body { color: #c00; }\n"
    assert (planet.output / "logo.svg").is_file()


def test_a_missing_theme_folder_is_a_check_error(planet: Planet) -> None:
    planet.write_config([], theme="no-such-theme")
    result = planet.run("check")
    assert result.exit_code == 2
    assert "planet.theme" in result.stderr and "is not a folder" in result.stderr


def test_temporary_files_of_a_killed_publish_are_cleaned_up(site: Planet) -> None:
    """A publish killed between writing a temporary file and renaming it leaves that file; the
    next publish removes it once it is old enough not to belong to a publish still running."""
    old = site.output / "sources" / ".socialist-revolution.html.k1ll3d"
    fresh = site.output / ".index.html.runn1n"
    for leftover in (old, fresh):
        leftover.write_text("partial")
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    assert site.run("publish").exit_code == 0
    assert not old.exists()
    assert fresh.exists()
