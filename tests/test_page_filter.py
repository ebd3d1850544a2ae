"""The front page's optional filter by language and source, as a reader uses it in Chromium.

The filter is the one script the pages load. With JavaScript it narrows the stories shown and
hides the days left empty; without it, every story is shown and no control of it appears. The
planet here has a Spanish source that also posts in English, so language and source differ, and
two English sources on days of their own, so choosing Spanish leaves whole days empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from tests.browser.planet_site import (
    DESKTOP,
    HEIGHT,
    PHONE,
    axe_violations,
    chromium_browser,
    is_elsewhere,
    publish_aside,
    serve_folder,
)
from tests.conftest import FeedServer, Planet

SPANISH_SOURCE = "la-izquierda-diario"
ENGLISH_SOURCE = "libcom-org"
# The Spanish source's stories: (day and hour, title, text). One is its own English translation.
IZQUIERDA_DIARIO = (
    (
        datetime(2024, 3, 8, 10, tzinfo=UTC),
        "Huelga feminista en todo el Estado este 8 de marzo",
        "Los sindicatos y las asambleas feministas convocan una huelga general de veinticuatro "
        "horas para exigir igualdad salarial, el fin de la precariedad y servicios públicos "
        "dignos para todas las trabajadoras.",
    ),
    (
        datetime(2024, 3, 8, 9, tzinfo=UTC),
        "Feminist strike across the country this 8 March",
        "Unions and feminist assemblies are calling a twenty-four hour general strike to demand "
        "equal pay, an end to insecure work and decent public services for every working woman.",
    ),
    (
        datetime(2024, 3, 7, 18, tzinfo=UTC),
        "Los trabajadores del metro votan ir a la huelga",
        "La plantilla del metro ha votado en asamblea a favor de una huelga indefinida contra "
        "los recortes de personal y la subida de los ritmos de trabajo que impone la empresa.",
    ),
)
# Records every violation of the page's Content-Security-Policy. Added through the debugging
# protocol, which the policy does not govern, so it runs before the page's own script.
WATCH_POLICY = """
    window.policyViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
        window.policyViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
"""


def _izquierda_diario_feed() -> str:
    items = "".join(
        f"<item><title>{title}</title>"
        f"<link>https://izquierdadiario.example/{moment:%Y%m%d%H}</link>"
        f"<guid>https://izquierdadiario.example/{moment:%Y%m%d%H}</guid>"
        f"<pubDate>{format_datetime(moment)}</pubDate>"
        f"<description><![CDATA[<p>{text}</p>]]></description></item>"
        for moment, title, text in IZQUIERDA_DIARIO
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>La Izquierda Diario</title><link>https://izquierdadiario.example/</link>"
        f"<description>Diario de la izquierda</description><language>es</language>{items}"
        "</channel></rss>"
    )


def publish_two_language_planet(planet: Planet, server: FeedServer) -> Path:
    """A front page of three sources in two languages on several days, and two archive pages."""
    feeds: list[dict[str, Any]] = [
        {
            "url": server.serve("/izquierda", _izquierda_diario_feed()),
            "name": "La Izquierda Diario",
            "link": "https://izquierdadiario.example/",
        },
        {
            "url": server.serve_fixture("/ist", "ist.rss.xml"),
            "name": "International Socialist Tendency",
        },
        {
            "url": server.serve_fixture("/libcom", "libcom.atom.xml"),
            "name": "libcom.org",
            "link": "https://libcom.org/",
        },
    ]
    planet.write_config(feeds, items_per_page=10)
    result = planet.run("update")
    assert result.exit_code == 0, result.output
    return planet.output


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_browser()


@dataclass(frozen=True)
class Site:
    url: str
    output: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Published once for the module."""
    output = publish_aside(tmp_path_factory.mktemp("planet"), publish_two_language_planet)
    with serve_folder(output) as url:
        yield Site(url, output)


@dataclass
class Visit:
    page: Page
    errors: list[str] = field(default_factory=list)

    def policy_violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.policyViolations")
        return found


@pytest.fixture
def open_page(browser: Browser, site: Site) -> Iterator[Any]:
    """Open a page of the site, recording console errors, failed requests and policy violations
    from the start; requests to other hosts are answered empty, as there is no internet here."""
    contexts: list[BrowserContext] = []

    def open_one(
        path: str = "index.html",
        *,
        javascript: bool = True,
        width: int = DESKTOP,
        color_scheme: Literal["light", "dark"] = "light",
    ) -> Visit:
        context = browser.new_context(
            viewport={"width": width, "height": HEIGHT},
            java_script_enabled=javascript,
            color_scheme=color_scheme,
        )
        contexts.append(context)
        context.route(is_elsewhere, lambda route: route.fulfill(status=204))
        context.add_init_script(WATCH_POLICY)
        seen = Visit(context.new_page())

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                seen.errors.append(f"{message.text} ({message.location.get('url')})")

        seen.page.on("console", on_console)
        seen.page.on("pageerror", lambda error: seen.errors.append(str(error)))
        seen.page.on(
            "response",
            lambda response: (
                seen.errors.append(f"{response.url}: HTTP {response.status}")
                if response.status >= 400
                else None
            ),
        )
        seen.page.goto(f"{site.url}{path}", wait_until="load")
        return seen

    yield open_one
    for context in contexts:
        context.close()


def _shown(page: Page, attribute: str) -> list[str]:
    """The value of `attribute` on each story the reader can see, in page order."""
    values: list[str] = page.eval_on_selector_all(
        "main article.entry",
        f"articles => articles.filter(article => article.checkVisibility())"
        f".map(article => article.getAttribute('{attribute}') || '')",
    )
    return values


def _all(page: Page, attribute: str) -> list[str]:
    values: list[str] = page.eval_on_selector_all(
        "main article.entry",
        f"articles => articles.map(article => article.getAttribute('{attribute}') || '')",
    )
    return values


def _days(page: Page) -> list[tuple[bool, bool]]:
    """Each day group as (shown, has a story shown)."""
    found: list[list[bool]] = page.eval_on_selector_all(
        "main section.day",
        """days => days.map(day => [
            day.checkVisibility(),
            Array.from(day.querySelectorAll('article.entry')).some(a => a.checkVisibility()),
        ])""",
    )
    return [(shown, has_story) for shown, has_story in found]


def test_the_front_page_has_two_languages_and_several_sources(open_page: Any) -> None:
    page = open_page().page
    assert {"es", "en"} <= set(_all(page, "data-language"))
    assert {SPANISH_SOURCE, ENGLISH_SOURCE} <= set(_all(page, "data-source"))


def test_the_script_loads_on_the_front_page_and_its_archive_only(site: Site) -> None:
    tag = 'src="{}filter.js" defer></script>'
    assert tag.format("") in (site.output / "index.html").read_text(encoding="utf-8")
    assert tag.format("../") in (site.output / "page" / "2.html").read_text(encoding="utf-8")
    for path in ("status.html", f"sources/{ENGLISH_SOURCE}.html", "languages/es.html"):
        assert "<script" not in (site.output / path).read_text(encoding="utf-8"), path
    assert (site.output / "filter.js").is_file()


def test_choosing_a_language_shows_only_its_stories_and_hides_empty_days(
    open_page: Any,
) -> None:
    seen = open_page()
    page = seen.page
    language = page.get_by_label("Language", exact=True)
    source = page.get_by_label("Source", exact=True)
    assert language.is_visible() and source.is_visible()
    every_story = len(_all(page, "data-language"))

    language.select_option("es")
    shown = _shown(page, "data-language")
    assert shown and set(shown) == {"es"}
    assert len(shown) < every_story
    assert _all(page, "data-language").count("es") == len(shown)
    days = _days(page)
    assert all(shown == has_story for shown, has_story in days), days
    assert (False, False) in days, "no day was left empty, so none was hidden"
    status = page.locator(".story-filter [role=status]").inner_text()
    assert status.startswith(f"{len(shown)} of the {every_story} stories"), status
    assert page.url.endswith("#language=es")

    language.select_option("")
    assert len(_shown(page, "data-language")) == every_story
    assert all(shown for shown, _ in _days(page))
    assert seen.errors == [] and seen.policy_violations() == []


def test_choosing_a_source_shows_only_its_stories(open_page: Any) -> None:
    seen = open_page()
    page = seen.page
    every_story = len(_all(page, "data-source"))

    page.get_by_label("Source", exact=True).select_option(ENGLISH_SOURCE)
    shown = _shown(page, "data-source")
    assert shown and set(shown) == {ENGLISH_SOURCE}
    assert len(shown) < every_story
    days = _days(page)
    assert all(shown == has_story for shown, has_story in days), days
    assert (False, False) in days

    # The Spanish source also posts in English: both choices together show that one story.
    page.get_by_label("Source", exact=True).select_option(SPANISH_SOURCE)
    page.get_by_label("Language", exact=True).select_option("en")
    assert _shown(page, "data-source") == [SPANISH_SOURCE]
    assert _shown(page, "lang") == ["en"]

    page.get_by_label("Language", exact=True).select_option(label="All languages")
    page.get_by_label("Source", exact=True).select_option(label="All sources")
    assert len(_shown(page, "data-source")) == every_story
    assert all(shown for shown, _ in _days(page))
    assert not page.url.endswith("#")
    assert "#" not in page.url
    assert seen.errors == [] and seen.policy_violations() == []


def test_a_shared_link_opens_the_page_filtered_and_paging_keeps_the_filter(
    open_page: Any,
) -> None:
    seen = open_page(f"index.html#language=es&source={SPANISH_SOURCE}")
    page = seen.page
    assert page.get_by_label("Language", exact=True).input_value() == "es"
    assert page.get_by_label("Source", exact=True).input_value() == SPANISH_SOURCE
    assert set(_shown(page, "data-source")) == {SPANISH_SOURCE}
    assert set(_shown(page, "data-language")) == {"es"}
    older = page.locator(".pagination a[rel=next]")
    assert older.get_attribute("href") == f"page/2.html#language=es&source={SPANISH_SOURCE}"
    assert seen.errors == [] and seen.policy_violations() == []


def test_the_archive_page_loads_the_filter_without_errors(open_page: Any) -> None:
    seen = open_page("page/2.html")
    assert seen.page.locator(".story-filter").count() == 1
    assert seen.errors == [] and seen.policy_violations() == []


def test_the_filter_fits_a_phone_screen(open_page: Any) -> None:
    page = open_page(width=PHONE).page
    panel = page.locator(".story-filter")
    assert panel.is_visible()
    box = panel.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE
    for name in ("Language", "Source"):
        control = page.get_by_label(name, exact=True).bounding_box()
        assert control is not None and control["x"] + control["width"] <= PHONE, name
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_axe_finds_no_serious_accessibility_violations_in_the_filter(
    open_page: Any, color_scheme: Literal["light", "dark"]
) -> None:
    page = open_page(color_scheme=color_scheme).page
    page.get_by_label("Language", exact=True).select_option("es")
    blocking = axe_violations(page)
    assert blocking == [], json.dumps(blocking, indent=2)


def test_without_javascript_every_story_shows_and_no_control_does(open_page: Any) -> None:
    seen = open_page(javascript=False)
    page = seen.page
    stories = _all(page, "data-source")
    assert len(stories) == 10
    assert page.locator("main article.entry:visible").count() == len(stories)
    assert all(shown for shown, _ in _days(page))
    assert page.locator("select, .story-filter, [role=search]").count() == 0
    assert page.get_by_label("Language", exact=True).count() == 0
    assert seen.errors == []
