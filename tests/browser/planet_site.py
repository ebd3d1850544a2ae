"""A published planet as a visitor meets it, and the tools that look at it like one.

The browser and HTML validity tests share this: a site built by the real CLI from the fixture
feeds (several sources with tags, an avatar, a story republished by a second source, a source
whose feed is broken), served over HTTP on 127.0.0.1 as a web server would, plus the lookups
that skip a test with the command to run when Chromium, the npm tools or Java are missing.
"""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import FeedServer, Planet

TOOLS = Path(__file__).parent
NODE_MODULES = TOOLS / "node_modules"
AXE_SCRIPT = NODE_MODULES / "axe-core" / "axe.min.js"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
CHROMIUM = Path("/usr/bin/chromium")
NPM_INSTALL = "npm ci --prefix tests/browser"
# The screens a page must fit: a phone and a desktop.
PHONE = 375
DESKTOP = 1280
HEIGHT = 800
LOOPBACK = "127.0.0.1"
# The impacts of an axe-core violation that fail a test.
BLOCKING_IMPACTS = {"serious", "critical"}

RECALL_LINK = (
    "https://socialistrevolution.org/recall-conference-campaign-members-fight-to-take-back-"
    "control-of-the-british-labour-party/"
)
AVATAR = "https://ukrainesolidaritycampaign.org/logo.png"


def _republished_feed() -> str:
    """A second source carrying the recall story under its own title, as cross-posts do."""
    moment = format_datetime(datetime(2021, 2, 2, 9, tzinfo=UTC))
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Socialist Appeal</title><link>https://socialist.example/</link>"
        "<description>Marxist paper</description><item>"
        "<title>Recall Conference Campaign: members fight back</title>"
        f"<link>{RECALL_LINK}?utm_source=rss</link><guid>appeal-recall</guid>"
        f"<pubDate>{moment}</pubDate>"
        "<description><![CDATA[<p>Left-wing groups and trade unions in Britain have come "
        "together to launch a united campaign for an immediate recall Labour conference.</p>"
        "]]></description></item></channel></rss>"
    )


def publish_planet(planet: Planet, server: FeedServer) -> Path:
    """Update a planet of every kind of source the fixtures hold; return its output folder."""
    feeds: list[dict[str, Any]] = [
        {
            "url": server.serve_fixture("/libcom", "libcom.atom.xml"),
            "name": "libcom.org",
            "link": "https://libcom.org/",
            "tags": ["anarchism", "labour"],
        },
        {
            "url": server.serve_fixture("/acr", "anticapitalist.rss.xml"),
            "name": "Anti*Capitalist Resistance",
            "tags": ["ecosocialism"],
        },
        {
            "url": server.serve_fixture("/sr", "marxist.rss.xml"),
            "name": "Socialist Revolution",
            "link": "https://socialistrevolution.org/",
            "tags": ["marxism"],
        },
        {
            "url": server.serve("/appeal", _republished_feed()),
            "name": "Socialist Appeal",
            "tags": ["marxism"],
        },
        {
            "url": server.serve_fixture("/ist", "ist.rss.xml"),
            "name": "International Socialist Tendency",
            "tags": ["international"],
        },
        {
            "url": server.serve_fixture("/usc", "usc.rdf"),
            "name": "Ukraine Solidarity Campaign",
            "avatar": AVATAR,
            "tags": ["ukraine", "solidarity"],
        },
        {
            "url": server.serve_fixture("/broken", "broken.xml"),
            "name": "A feed that breaks",
            "link": "https://broken.example/",
        },
    ]
    planet.write_config(feeds, items_per_page=25)
    result = planet.run("update")
    assert result.exit_code == 0, result.output
    return planet.output


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The test reports what failed; a line per request would only bury it."""


def publish_aside(root: Path, build: Callable[[Planet, FeedServer], Path]) -> Path:
    """Build and publish a planet in `root` with `build`, in a thread of its own: the update
    runs its own event loop, which cannot start in a thread where Playwright's is running.
    SQLite is enough; the pages are the subject."""
    planet = Planet(root=root, database_url=f"sqlite:///{root / 'planet.db'}")
    feeds = FeedServer()
    try:
        with ThreadPoolExecutor(max_workers=1) as worker:
            return worker.submit(build, planet, feeds).result()
    finally:
        feeds.close()


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve a folder like a static web host; yield its base URL, ending in a slash."""
    handler = functools.partial(_QuietFiles, directory=str(folder))
    httpd = ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def is_elsewhere(url: str) -> bool:
    """A request that leaves the site served on loopback (there is no internet here)."""
    return urlsplit(url).hostname != LOOPBACK


def chromium_browser() -> Iterator[Browser]:
    """A headless Chromium for a test module, or a skip saying how to install one."""
    executable = require_chromium()
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=str(executable))
        except PlaywrightError as error:
            pytest.skip(f"{executable} does not start ({error}): apt-get install -y chromium")
        yield chromium
        chromium.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The serious and critical accessibility violations axe-core finds on the open page.

    axe is evaluated through the debugging protocol, which the page's script policy does not
    govern."""
    page.evaluate(require_npm_tool(AXE_SCRIPT).read_text(encoding="utf-8"))
    results: dict[str, Any] = page.evaluate("axe.run(document)")
    return [
        {
            "rule": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"][:5]],
        }
        for violation in results["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


def require_chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install -y chromium")
    return CHROMIUM


def require_npm_tool(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path.relative_to(TOOLS.parent.parent)} is absent: {NPM_INSTALL}")
    return path


def require_java() -> str:
    java = shutil.which("java")
    if java is None:
        pytest.skip("java is absent: apt-get install -y openjdk-17-jre-headless")
    return java
