"""What subscribers get: valid combined feeds that list the right entries with their sources."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import feedparser
import lxml.etree as etree
import lxml.html
import pytest
import rnc2rng
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from aggregator.models import Entry, Feed
from tests.conftest import FeedServer, Planet, shared_path

SOURCES = {
    "/libcom": ("libcom.atom.xml", "libcom.org"),
    "/acr": ("anticapitalist.rss.xml", "Anti*Capitalist Resistance"),
    "/sr": ("marxist.rss.xml", "Socialist Revolution"),
    "/ist": ("ist.rss.xml", "International Socialist Tendency"),
    "/usc": ("usc.rdf", "Ukraine Solidarity Campaign"),
}


@pytest.fixture
def published(planet: Planet, feed_server: FeedServer) -> Planet:
    feeds = []
    for path, (fixture, name) in SOURCES.items():
        url = feed_server.serve_fixture(path, fixture)
        feeds.append({"url": url, "name": name, "link": f"https://{path[1:]}.example/"})
    planet.write_config(feeds, feed_items=40, items_per_page=25)
    result = planet.run("-v", "update")
    assert result.exit_code == 0, result.output
    return planet


def _stored(planet: Planet) -> list[tuple[Entry, Feed]]:
    engine = create_engine(planet.database_url)
    with Session(engine) as session:
        rows = session.execute(
            select(Entry, Feed).join(Feed).order_by(Entry.published_at.desc(), Entry.id.desc())
        ).all()
        result = [(entry, feed) for entry, feed in rows]
    engine.dispose()
    return result


def test_atom_is_valid_against_the_rfc_4287_schema(published: Planet) -> None:
    schema_text = shared_path("schemas", "atom-rfc4287.rnc").read_text()
    converted = rnc2rng.dumps(rnc2rng.loads(schema_text)).replace('xmlns:local=""', "")
    schema = etree.RelaxNG(etree.fromstring(converted.encode()))
    document = etree.parse(str(published.output / "atom.xml"))
    assert schema.validate(document), schema.error_log


def test_atom_lists_the_newest_entries_with_their_sources(published: Planet) -> None:
    stored = _stored(published)[:40]
    atom = feedparser.parse((published.output / "atom.xml").read_bytes())
    assert not atom.bozo, atom.get("bozo_exception")
    assert atom.feed.title == "Test Planet"
    assert [entry.title for entry in atom.entries] == [entry.title for entry, _ in stored]
    for parsed, (entry, feed) in zip(atom.entries, stored, strict=True):
        assert parsed.source.title == feed.name
        assert parsed.source.id == (feed.details or {}).get("id", feed.url)
        assert parsed.get("link") == entry.link
        if entry.guid.startswith(("http://", "https://", "urn:", "tag:")):
            assert parsed.id == entry.guid
    links = {link.rel: link.href for link in atom.feed.links}
    assert links == {"self": "https://planet.test/atom.xml", "alternate": "https://planet.test/"}


def test_atom_entry_ids_are_unique_and_stable_across_publishes(published: Planet) -> None:
    first = feedparser.parse((published.output / "atom.xml").read_bytes())
    (published.output / "atom.xml").unlink()
    published.run("publish")
    second = feedparser.parse((published.output / "atom.xml").read_bytes())
    ids = [entry.id for entry in first.entries]
    assert len(set(ids)) == len(ids)
    assert ids == [entry.id for entry in second.entries]


def test_rss_has_the_required_elements_and_credits_each_source(published: Planet) -> None:
    stored = _stored(published)[:40]
    document = etree.parse(str(published.output / "rss.xml"))
    channel = document.find("channel")
    assert channel is not None
    for required in ("title", "link", "description"):
        assert (channel.findtext(required) or "").strip(), required
    rss = feedparser.parse((published.output / "rss.xml").read_bytes())
    assert not rss.bozo
    assert [entry.title for entry in rss.entries] == [entry.title for entry, _ in stored]
    for parsed, (_entry, feed) in zip(rss.entries, stored, strict=True):
        assert parsed.source.href == feed.url
        assert parsed.source.title == feed.name
        assert parsed.id
    items = channel.findall("item")
    for item in items:
        guid = item.find("guid")
        assert guid is not None
        if guid.get("isPermaLink") == "true":
            assert guid.text == item.findtext("link")


def test_json_feed_follows_version_1_1(published: Planet) -> None:
    stored = _stored(published)[:40]
    document: dict[str, Any] = json.loads((published.output / "feed.json").read_text())
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"] == "Test Planet"
    assert document["feed_url"] == "https://planet.test/feed.json"
    items = document["items"]
    assert [item["title"] for item in items] == [entry.title for entry, _ in stored]
    for item, (_entry, feed) in zip(items, stored, strict=True):
        assert isinstance(item["id"], str) and item["id"]
        assert "content_html" in item or "content_text" in item
        datetime.fromisoformat(item["date_published"])
        assert item["authors"][0]["name"]
        assert (
            item["_source"].items()
            >= {
                "title": feed.name,
                "feed_url": feed.url,
                "home_page_url": feed.link,
            }.items()
        )
    assert len({item["id"] for item in items}) == len(items)


def test_opml_lists_every_subscription(published: Planet) -> None:
    document = etree.parse(str(published.output / "opml.xml"))
    assert document.getroot().get("version") == "2.0"
    assert document.findtext("head/title")
    outlines = document.findall("body/outline")
    assert len(outlines) == len(SOURCES)
    for outline, (_path, (_fixture, name)) in zip(outlines, SOURCES.items(), strict=True):
        assert outline.get("type") == "rss"
        assert outline.get("text") == name
        assert outline.get("xmlUrl", "").startswith("http://127.0.0.1:")
        assert outline.get("htmlUrl", "").endswith(".example/")


def test_planet_page_groups_entries_by_day_and_credits_sources(published: Planet) -> None:
    page = lxml.html.parse(str(published.output / "index.html")).getroot()
    alternates = {
        link.get("type"): link.get("href") for link in page.iterfind(".//link[@rel='alternate']")
    }
    assert alternates == {
        "application/atom+xml": "atom.xml",
        "application/rss+xml": "rss.xml",
        "application/feed+json": "feed.json",
    }
    articles = page.findall(".//article")
    assert len(articles) == 25
    stored = _stored(published)[:25]
    days = [section.find("h2/time").get("datetime") for section in page.iterfind(".//section")]
    assert days == sorted(set(days), reverse=True)
    assert days == list(dict.fromkeys(entry.published_at.date().isoformat() for entry, _ in stored))
    for article, (entry, feed) in zip(articles, stored, strict=True):
        assert article.find(".//h3").text_content().strip() == entry.title
        content = article.find(".//div[@class='content']")
        assert content is not None
        assert "<p>" not in content.text_content(), "sanitized HTML was escaped twice"
        source = article.find(".//span[@class='source']/a")
        assert source is not None and source.text == feed.name and source.get("href") == feed.link
    assert page.findall(".//div[@class='content']/p"), "no entry content is shown as markup"
    subscriptions = page.xpath(".//aside//li[contains(@class, 'feed ')]")
    assert len(subscriptions) == len(SOURCES)
    assert all(item.get("class") == "feed health-ok" for item in subscriptions)


def test_a_configured_avatar_is_shown_beside_the_source(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve_fixture("/usc", "usc.rdf")
    avatar = "https://ukrainesolidaritycampaign.org/logo.png"
    planet.write_config([{"url": url, "name": "USC", "avatar": avatar}])
    planet.run("update")
    page = lxml.html.parse(str(planet.output / "index.html")).getroot()
    images = page.findall(".//img[@class='avatar']")
    assert len(images) == 1 + 5
    assert {image.get("src") for image in images} == {avatar}
    assert all(image.get("loading") == "lazy" and image.get("alt") == "" for image in images)
