"""Every published page is valid HTML, as the Nu Html Checker (the W3C validator) judges it.

Browsers repair invalid markup each in their own way, and screen readers and feed readers that
scrape the page meet whatever the repair produced; valid markup is read the same everywhere. The
pages mix the template with sanitized markup from the sources, so both are checked together,
on a full planet and on a new one that has nothing to show yet.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.browser.planet_site import VNU_JAR, publish_planet, require_java, require_npm_tool
from tests.conftest import FeedServer, Planet


@pytest.fixture
def vnu() -> list[str]:
    """The checker's command; asked for first, so a missing tool skips before any publishing."""
    return [require_java(), "-jar", str(require_npm_tool(VNU_JAR))]


def _validate(vnu: list[str], files: list[Path]) -> list[dict[str, Any]]:
    """Problems vnu finds in these files (HTML, and the stylesheet as CSS); warnings left out."""
    run = subprocess.run(
        [*vnu, "--format", "json", "--also-check-css", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # vnu writes its report to stderr, and exits 1 whenever it reports an error.
    report: dict[str, Any] = json.loads(run.stderr)
    return [message for message in report["messages"] if message["type"] != "info"]


def _published_files(output: Path) -> list[Path]:
    files = sorted(output.rglob("*.html"))
    assert files, f"nothing published in {output}"
    return [*files, output / "style.css"]


def _summary(problems: list[dict[str, Any]], output: Path) -> str:
    return "\n".join(
        f"{problem.get('url', '').removeprefix(f'file:{output}/')}:{problem.get('lastLine')}: "
        f"{problem['message']}"
        f"\n    {problem.get('extract', '')!r}"
        for problem in problems
    )


def test_a_full_planet_is_valid_html(
    vnu: list[str], planet: Planet, feed_server: FeedServer
) -> None:
    output = publish_planet(planet, feed_server)
    problems = _validate(vnu, _published_files(output))
    assert problems == [], _summary(problems, output)


def test_a_planet_with_nothing_fetched_yet_is_valid_html(
    vnu: list[str], planet: Planet, feed_server: FeedServer
) -> None:
    planet.write_config([{"url": feed_server.url("/gone"), "name": "Not there yet"}])
    assert planet.run("update").exit_code == 0
    problems = _validate(vnu, _published_files(planet.output))
    assert problems == [], _summary(problems, planet.output)
