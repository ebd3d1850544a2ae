"""A large site's listings are rendered by worker processes while the publishing process reads
their entries: the files must be exactly those rendered in one process, a theme must reach the
workers, and a worker that dies must cost no page."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aggregator import jobs
from aggregator.config import load_settings
from aggregator.publish import Listing, PageRenderer, SiteView, listings
from aggregator.publish_manifest import MANIFEST
from aggregator.publish_pool import LISTINGS_PER_TASK, POOL_MIN_LISTINGS, PagePool
from tests.conftest import FeedServer, Planet
from tests.test_planet_pages import SOURCES


def _site_files(output: Path) -> dict[str, bytes]:
    return {
        path.relative_to(output).as_posix(): path.read_bytes()
        for path in sorted(output.rglob("*"))
        if path.is_file() and not path.name.startswith("status.") and path.name != MANIFEST
    }


def _publish(planet: Planet, feeds: list[dict[str, Any]], workers: int, **options: Any) -> None:
    planet.write_config(
        feeds, items_per_page=5, archive_pages=3, publish_workers=workers, **options
    )
    for path in sorted(planet.output.rglob("*"), reverse=True) if planet.output.exists() else ():
        path.unlink() if path.is_file() else path.rmdir()
    result = planet.run("publish")
    assert result.exit_code == 0, result.output


@pytest.fixture
def feeds(planet: Planet, feed_server: FeedServer) -> list[dict[str, Any]]:
    config = [
        {"url": feed_server.serve_fixture(path, fixture), "name": name, "tags": tags}
        for path, fixture, name, tags in SOURCES
    ]
    planet.write_config(config)
    result = planet.run("update")
    assert result.exit_code == 0, result.output
    return config


def test_pages_rendered_by_workers_are_those_rendered_here(
    planet: Planet, feeds: list[dict[str, Any]]
) -> None:
    _publish(planet, feeds, workers=0)
    here = _site_files(planet.output)
    assert any(name.startswith("tags/") for name in here)
    assert any(name.startswith("languages/") for name in here)
    assert len([name for name in here if name.startswith("sources/")]) == 2 * len(SOURCES)
    _publish(planet, feeds, workers=2)
    assert _site_files(planet.output) == here


def test_a_theme_reaches_the_workers(planet: Planet, feeds: list[dict[str, Any]]) -> None:
    theme = planet.root / "theme"
    theme.mkdir()
    (theme / "entry.html").write_text(
        '<article class="entry themed"><h3>{{ entry.title }}</h3></article>\n', encoding="utf-8"
    )
    _publish(planet, feeds, workers=2, theme="theme")
    page = (planet.output / "sources" / "socialist-revolution.html").read_text(encoding="utf-8")
    assert page.count('class="entry themed"') == 5


@contextmanager
def _listings_read(
    planet: Planet, feeds: list[dict[str, Any]]
) -> Iterator[tuple[SiteView, PageRenderer, list[Listing]]]:
    """The planet's site and its listings, read in a transaction that stays open while they
    are rendered (a source's entries are read when its page is)."""
    planet.write_config(feeds, items_per_page=5)
    settings = load_settings(planet.config, planet.database_url)
    sessions = jobs.open_store(settings)
    with sessions.begin() as session:
        site = jobs.read_site(settings, session)
        here = PageRenderer(site)
        yield site, here, list(listings(site, here.slugs))


def _staged_by(pool: PagePool, folder: Path, pages: list[Listing], here: PageRenderer) -> Any:
    """Each file the pool staged, with the bytes it staged."""
    folder.mkdir(exist_ok=True)
    staged = [file for files in pool.staged(folder, pages, here) for file in files]
    return [(name, Path(str(temporary)).read_bytes()) for name, temporary in staged]


def _rendered_here(pages: list[Listing], here: PageRenderer) -> list[tuple[str, bytes]]:
    return [file for listing in pages for file in here.listing_files(listing)]


def test_a_worker_that_dies_costs_no_page(planet: Planet, feeds: list[dict[str, Any]]) -> None:
    """Killed by hand here, as the kernel's out-of-memory killer would: the listings it held
    and every later one are rendered in the publishing process."""
    with _listings_read(planet, feeds) as (site, here, pages), PagePool(1, site) as pool:
        assert pool.executor is not None
        assert pool.executor.submit(os.getpid).result(timeout=60) > 0
        (worker,) = multiprocessing.active_children()
        os.kill(worker.pid or 0, signal.SIGKILL)
        worker.join(timeout=30)
        staged = _staged_by(pool, planet.root / "site", pages, here)
        assert pool.executor is None
        assert staged == _rendered_here(pages, here)


@pytest.mark.parametrize(("render_here", "started"), [(1000, False), (3, True)])
def test_workers_start_only_once_more_listings_than_render_here_need_rendering(
    planet: Planet, feeds: list[dict[str, Any]], render_here: int, started: bool
) -> None:
    """A publish after an update renders few listings (the rest are kept) and starts no
    workers for them; one that renders many starts them, and the files are the same."""
    with (
        _listings_read(planet, feeds) as (site, here, pages),
        PagePool(2, site, render_here) as pool,
    ):
        assert len(pages) > LISTINGS_PER_TASK
        assert pool.executor is None
        staged = _staged_by(pool, planet.root / "site", pages, here)
        assert (pool.executor is not None) is started
        assert staged == _rendered_here(pages, here)


def test_auto_uses_workers_only_for_a_large_site_and_more_than_one_cpu(
    planet: Planet, feeds: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(planet.config, planet.database_url)
    sessions = jobs.open_store(settings)
    with sessions.begin() as session:
        site = jobs.read_site(settings, session)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    with PagePool.for_setting("auto", site) as small:
        assert small.workers == 0
    large = replace(site, feeds=list(site.feeds) * POOL_MIN_LISTINGS)
    with PagePool.for_setting("auto", large) as pool:
        assert pool.workers == 4
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    with PagePool.for_setting("auto", large) as single:
        assert single.workers == 0
