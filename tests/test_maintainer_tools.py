"""The maintainers' tools edit feeds.yaml safely: comments and layout survive every change."""

from __future__ import annotations

import json
from pathlib import Path

import lxml.etree as etree

from aggregator.config import load_settings
from tests.conftest import FeedServer, Planet

COMMENTED = """\
# Our planet. Comments like this one must survive every tool.
planet:
  title: Test Planet   # shown in the header
  link: https://planet.test/
  retention: forever   # the fixtures are from 2015 and 2021
defaults:
  interval: 1h

feeds:
  # Ukraine solidarity
  - url: {usc}
    name: USC
    tags: [ukraine]   # keep me

  # Marxist sites
  - url: {marxist}
    name: Socialist Revolution
"""


def _commented(planet: Planet, feed_server: FeedServer) -> tuple[str, str]:
    usc = feed_server.serve_fixture("/usc", "usc.rdf")
    marxist = feed_server.serve_fixture("/sr", "marxist.rss.xml")
    planet.config.write_text(COMMENTED.format(usc=usc, marxist=marxist))
    return usc, marxist


def _assert_comments_kept(config: Path) -> None:
    text = config.read_text()
    for comment in ("# Our planet.", "# shown in the header", "# Ukraine solidarity",
                    "# keep me", "# Marxist sites"):  # fmt: skip
        assert comment in text, f"lost {comment!r}:\n{text}"


def _urls(planet: Planet) -> list[str]:
    return [feed["url"] for feed in json.loads(planet.run("feeds", "--json").stdout)]


def test_add_finds_the_feed_of_a_web_page_and_appends_it(
    planet: Planet, feed_server: FeedServer
) -> None:
    usc, marxist = _commented(planet, feed_server)
    ist = feed_server.serve_fixture("/ist/feed/", "ist.rss.xml")
    page = (Path(__file__).parent / "fixtures/feeds/not-a-feed.html").read_text()
    home = feed_server.serve(
        "/ist/", page.replace("https://example.org/feed/", ist), content_type="text/html"
    )
    before = planet.config.read_text()
    dry = planet.run("add", home, "--tag", "international", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "+  - url: " + ist in dry.stdout and "10 entries, newest 2021-07-16" in dry.stdout
    assert planet.config.read_text() == before
    result = planet.run("add", home, "--tag", "international", "--tag", "statements")
    assert result.exit_code == 0, result.output
    _assert_comments_kept(planet.config)
    assert planet.config.read_text().endswith(
        f"  - url: {ist}\n    name: International Socialist Tendency\n"
        "    link: http://internationalsocialists.org/wordpress\n"
        "    tags: [international, statements]\n    language: en-US\n"
    )
    assert planet.run("check").exit_code == 0
    assert _urls(planet) == [usc, marxist, ist]
    again = planet.run("add", ist)
    assert "nothing to change" in again.stdout


def test_add_refuses_what_is_not_a_feed_and_changes_nothing(
    planet: Planet, feed_server: FeedServer
) -> None:
    _commented(planet, feed_server)
    before = planet.config.read_text()
    broken = feed_server.serve_fixture("/broken", "broken.xml")
    result = planet.run("add", broken)
    assert result.exit_code == 1
    assert "not a readable feed" in result.stderr
    assert planet.run("add", "ftp://example.org/feed").exit_code == 2
    assert planet.config.read_text() == before


def test_remove_takes_out_one_feed_and_keeps_the_rest(
    planet: Planet, feed_server: FeedServer
) -> None:
    usc, marxist = _commented(planet, feed_server)
    assert planet.run("remove", marxist, "--dry-run").exit_code == 0
    assert marxist in planet.config.read_text()
    result = planet.run("remove", marxist)
    assert result.exit_code == 0, result.output
    assert marxist not in planet.config.read_text()
    assert "# keep me" in planet.config.read_text()
    assert _urls(planet) == [usc]
    missing = planet.run("remove", "https://nowhere.test/feed")
    assert missing.exit_code == 2 and "no feed has the url" in missing.stderr


OPML = """<?xml version="1.0"?>
<opml version="2.0"><head><title>Reader export</title></head><body>
  <outline text="Labour movement">
    <outline type="rss" text="Labor Notes" xmlUrl="https://labornotes.org/rss.xml"
             htmlUrl="https://labornotes.org/"/>
    <outline type="rss" text="USC again" xmlUrl="{usc}"/>
  </outline>
  <outline type="rss" text="Viento Sur" xmlUrl="https://vientosur.info/feed/" language="es"
           category="/magazine,/Spain"/>
  <outline type="rss" text="Not a web feed" xmlUrl="gopher://old.example/feed"/>
</body></opml>"""


def test_import_opml_adds_new_feeds_with_folders_as_tags(
    planet: Planet, feed_server: FeedServer
) -> None:
    usc, _marxist = _commented(planet, feed_server)
    opml = planet.root / "export.opml"
    opml.write_text(OPML.format(usc=usc))
    result = planet.run("import-opml", str(opml))
    assert result.exit_code == 0, result.output
    assert "imported 2 feeds (1 already listed)" in result.stdout
    assert "skipped 'gopher://old.example/feed'" in result.stderr
    text = planet.config.read_text()
    assert "  - url: https://labornotes.org/rss.xml\n    name: Labor Notes\n" in text
    assert "tags: [labour-movement]" in text
    assert "tags: [magazine, spain]\n    language: es" in text
    _assert_comments_kept(planet.config)
    assert planet.run("check").exit_code == 0


def test_export_then_import_gives_the_same_subscriptions(
    planet: Planet, feed_server: FeedServer, tmp_path: Path
) -> None:
    usc, marxist = _commented(planet, feed_server)
    exported = planet.run("export-opml")
    assert exported.exit_code == 0
    document = etree.fromstring(exported.stdout.encode())
    assert [outline.get("xmlUrl") for outline in document.iter("outline")] == [usc, marxist]
    other = Planet(root=tmp_path / "other", database_url=f"sqlite:///{tmp_path / 'other.db'}")
    other.root.mkdir()
    other.write_config([])
    (other.root / "feeds.opml").write_text(exported.stdout)
    assert other.run("import-opml", str(other.root / "feeds.opml")).exit_code == 0
    assert _urls(other) == [usc, marxist]


VENUS = """\
[Planet]
name = Planet Labour
link = https://planet.example.org/
owner_name = Someone

[DEFAULT]
items_per_page = 30

[https://www.rs21.org.uk/feed/]
name = rs21
face = rs21.png
filter = (strike|union)

[https://www.counterfire.org/feed]
name = Counterfire
face = https://www.counterfire.org/logo.png
exclude = ^Podcast
filters = excerpt.py
"""


def test_import_venus_converts_feed_sections(planet: Planet, feed_server: FeedServer) -> None:
    _commented(planet, feed_server)
    config_ini = planet.root / "config.ini"
    config_ini.write_text(VENUS)
    result = planet.run("import-venus", str(config_ini))
    assert result.exit_code == 0, result.output
    assert "imported 2 feeds" in result.stdout
    assert "https://www.rs21.org.uk/feed/: face 'rs21.png' is a file name" in result.stderr
    assert "https://www.counterfire.org/feed: not carried over: filters" in result.stderr
    settings = load_settings(planet.config)
    rs21, counterfire = settings.feeds[2:]
    assert (rs21.url, rs21.name, rs21.avatar) == ("https://www.rs21.org.uk/feed/", "rs21", None)
    assert rs21.include[0].title == ("/(strike|union)/",)
    assert counterfire.avatar == "https://www.counterfire.org/logo.png"
    assert counterfire.exclude[0].text == ("/^Podcast/",)
    _assert_comments_kept(planet.config)


def test_check_fix_applies_only_confirmed_moves_and_keeps_the_history(
    planet: Planet, feed_server: FeedServer
) -> None:
    usc, _marxist = _commented(planet, feed_server)
    new = feed_server.serve_fixture("/new/usc", "usc.rdf")
    feed_server.serve("/usc", "", status=301, headers={"Location": new})
    planet.run("update")
    early = planet.run("check", "--fix")
    assert "nothing to fix" in early.stdout
    planet.run("update", "--all")
    planet.run("update", "--all")
    result = planet.run("check", "--fix")
    assert result.exit_code == 0, result.output
    assert f"-  - url: {usc}" in result.stdout and f"+  - url: {new}" in result.stdout
    assert f"  - url: {new}\n    name: USC\n    tags: [ukraine]   # keep me" in (
        planet.config.read_text()
    )
    _assert_comments_kept(planet.config)
    states = json.loads(planet.run("feeds", "--json").stdout)
    moved = next(state for state in states if state["url"] == new)
    assert moved["status"] == "ok" and moved["entry_count"] == 5
    assert "0 new" in planet.run("-v", "update", "--all").stdout


def test_check_online_reports_how_each_feed_answers(
    planet: Planet, feed_server: FeedServer
) -> None:
    usc, marxist = _commented(planet, feed_server)
    feed_server.serve("/sr", "gone", status=410)
    result = planet.run("check", "--online")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    found = "ok: Ukraine Solidarity Campaign (5 entries, newest 2015-09-29)"
    assert lines[1] == f"{planet.config}:11: {usc}: {found}"
    assert lines[2] == f"{planet.config}:16: {marxist}: FAILS: HTTP 410 Gone"
