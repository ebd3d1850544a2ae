"""The published pages as a reader sees them: opened in headless Chromium from a web server.

A page can be well-formed and still broken for people: a stylesheet that 404s on a page one
folder down, a policy that blocks the page's own resources, a wide image or table that makes a
phone scroll sideways, text too faint to read. These tests load the published site the way a
visitor's browser does and look for that. There is no internet here, so every request to another
host is answered locally (images with a large picture, so the layout meets real-sized content)
and never counted as a failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
)

from tests.browser.planet_site import (
    DESKTOP,
    HEIGHT,
    PHONE,
    axe_violations,
    chromium_browser,
    is_elsewhere,
    publish_aside,
    publish_planet,
    serve_folder,
)

# Wider than any screen, so pictures in entries must be scaled down to fit.
LARGE_PICTURE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="1600" height="900">'
    '<rect width="1600" height="900" fill="#888"/></svg>'
)
# One page of each kind: axe takes about a second a page, too long to run on all of them.
AXE_PAGES = (
    "index.html",
    "page/2.html",
    "status.html",
    "sources/libcom-org.html",
    "tags/marxism.html",
)
ColorScheme = Literal["light", "dark"]


@dataclass(frozen=True)
class Site:
    url: str
    pages: tuple[str, ...]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module: starting it costs more than any single check."""
    yield from chromium_browser()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The site is published once for the module."""
    output = publish_aside(tmp_path_factory.mktemp("planet"), publish_planet)
    pages = tuple(sorted(path.relative_to(output).as_posix() for path in output.rglob("*.html")))
    with serve_folder(output) as url:
        yield Site(url, pages)


@dataclass
class Visit:
    """An open page and what went wrong while it loaded."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    in_flight: set[Request] = field(default_factory=set)


class OpenPages(Protocol):
    def __call__(
        self, paths: Iterable[str], width: int = DESKTOP, color_scheme: ColorScheme = "light"
    ) -> dict[str, Visit]: ...


# Lazy images and frames load as a reader scrolls to them; loading them all at once stands in
# for scrolling through the page.
LOAD_LAZY_CONTENT = """() => document.querySelectorAll('[loading=lazy]')
    .forEach(element => { element.loading = 'eager'; })"""
# How long a page has to start the requests that loading its lazy content causes.
REQUEST_START_SECONDS = 0.2
# Every request is answered from this machine; one still open after this is stuck.
SETTLE_SECONDS = 10


def _answer_elsewhere(route: Route) -> None:
    if route.request.resource_type == "image":
        route.fulfill(status=200, content_type="image/svg+xml", body=LARGE_PICTURE)
    else:
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>x</title>")


def _watch(page: Page) -> Visit:
    seen = Visit(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.console_errors.append(f"{message.text} ({message.location.get('url')})")

    def on_failure(request: Request) -> None:
        seen.in_flight.discard(request)
        seen.failed_requests.append(f"{request.url}: {request.failure}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            seen.failed_requests.append(f"{response.url}: HTTP {response.status}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.console_errors.append(str(error)))
    page.on("request", lambda request: seen.in_flight.add(request))
    page.on("requestfinished", lambda request: seen.in_flight.discard(request))
    page.on("requestfailed", on_failure)
    page.on("response", on_response)
    return seen


@pytest.fixture(scope="module")
def open_pages(browser: Browser, site: Site) -> Iterator[OpenPages]:
    """Open pages side by side at a width and colour scheme, recording errors from the start.

    Every page starts loading before the first is waited for, so a site of dozens of pages
    takes about as long as its slowest page.
    """
    contexts = []

    def open_all(
        paths: Iterable[str], width: int = DESKTOP, color_scheme: ColorScheme = "light"
    ) -> dict[str, Visit]:
        context = browser.new_context(
            viewport={"width": width, "height": HEIGHT}, color_scheme=color_scheme
        )
        contexts.append(context)
        context.route(is_elsewhere, _answer_elsewhere)
        visits = {}
        for path in paths:
            visits[path] = _watch(context.new_page())
            visits[path].page.goto(f"{site.url}{path}", wait_until="commit")
        for seen in visits.values():
            seen.page.wait_for_load_state("load")
            seen.page.evaluate(LOAD_LAZY_CONTENT)
        time.sleep(REQUEST_START_SECONDS)
        deadline = time.monotonic() + SETTLE_SECONDS
        for seen in visits.values():
            while seen.in_flight and time.monotonic() < deadline:
                seen.page.wait_for_timeout(10)
            stuck = [f"{request.url}: never finished" for request in seen.in_flight]
            seen.failed_requests.extend(stuck)
        return visits

    yield open_all
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def desktop(open_pages: OpenPages, site: Site) -> dict[str, Visit]:
    """Every page on a desktop screen in light mode, opened once for the checks that only read."""
    return open_pages(site.pages)


def test_every_page_loads_without_errors_or_failed_requests(desktop: dict[str, Visit]) -> None:
    assert {"index.html", "status.html", "page/2.html"} <= set(desktop)
    problems = {
        path: seen.console_errors + seen.failed_requests
        for path, seen in desktop.items()
        if seen.console_errors or seen.failed_requests
    }
    assert problems == {}, json.dumps(problems, indent=2)


def test_the_front_page_shows_the_stories(desktop: dict[str, Visit]) -> None:
    page = desktop["index.html"].page
    assert page.title() == "Test Planet"
    assert page.locator("main article").count() == 25
    assert page.locator("main article .entry-title").first.is_visible()


def test_every_internal_link_answers_200(desktop: dict[str, Visit], site: Site) -> None:
    targets: set[str] = set()
    for seen in desktop.values():
        found: list[str] = seen.page.eval_on_selector_all(
            "a[href], link[href], img[src]",
            "elements => elements.map(element => element.href || element.src)",
        )
        targets.update(url.split("#")[0] for url in found if url.startswith(site.url))
    for name in ("atom.xml", "rss.xml", "feed.json", "opml.xml", "status.html", "page/2.html"):
        assert f"{site.url}{name}" in targets
    request = desktop["index.html"].page.request
    statuses = {url: request.get(url).status for url in sorted(targets)}
    assert {url: status for url, status in statuses.items() if status != 200} == {}


def test_the_page_refuses_inline_script(desktop: dict[str, Visit]) -> None:
    """An entry that slipped past the sanitizer still could not run code on the page."""
    ran = desktop["index.html"].page.evaluate(
        """() => {
            const script = document.createElement('script');
            script.textContent = 'window.inlineScriptRan = true';
            document.head.append(script);
            return window.inlineScriptRan === true;
        }"""
    )
    assert ran is False


def test_text_for_screen_readers_only_is_not_shown(desktop: dict[str, Visit]) -> None:
    hidden = desktop["index.html"].page.locator(".visually-hidden")
    assert hidden.count() > 0
    sizes = hidden.evaluate_all(
        "elements => elements.map(element => element.getBoundingClientRect())"
        ".map(box => [box.width, box.height])"
    )
    assert all(width <= 1 and height <= 1 for width, height in sizes), sizes


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_every_page_fits_the_screen_without_sideways_scrolling(
    open_pages: OpenPages, desktop: dict[str, Visit], site: Site, width: int, tmp_path: Path
) -> None:
    overflowing = {}
    visits = desktop if width == DESKTOP else open_pages(site.pages, width)
    for path, seen in visits.items():
        if path in {"index.html", "status.html"}:
            name = f"{path.removesuffix('.html')}-{width}px.png"
            seen.page.screenshot(path=tmp_path / name, full_page=True)
        scroll_width, inner_width = seen.page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        if scroll_width > inner_width:
            overflowing[path] = scroll_width
    assert overflowing == {}, f"wider than {width} px: {overflowing}"


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_axe_finds_no_serious_accessibility_violations(
    open_pages: OpenPages, color_scheme: ColorScheme
) -> None:
    blocking: dict[str, list[dict[str, Any]]] = {}
    for path, seen in open_pages(AXE_PAGES, DESKTOP, color_scheme).items():
        found = axe_violations(seen.page)
        if found:
            blocking[path] = found
    assert blocking == {}, json.dumps(blocking, indent=2)
