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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FeedServer, Planet

TOOLS = Path(__file__).parent
NODE_MODULES = TOOLS / "node_modules"
AXE_SCRIPT = NODE_MODULES / "axe-core" / "axe.min.js"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
CHROMIUM = Path("/usr/bin/chromium")
NPM_INSTALL = "npm ci --prefix tests/browser"

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


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve a folder like a static web host; yield its base URL, ending in a slash."""
    handler = functools.partial(_QuietFiles, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


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
