"""Known XSS payloads, one per entry in every field, through the whole pipeline into every
published file: nothing executable comes out."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pytest

from tests.conftest import FeedServer, Planet
from tests.test_corpus_robustness import (
    run_update,
    site_problems,
    without_own_script,
    write_corpus_config,
)

PAYLOADS = [
    line
    for line in (Path(__file__).parent / "fixtures" / "xss_payloads.txt")
    .read_text(encoding="utf-8")
    .splitlines()
    if line.strip()
]


def _feed() -> str:
    items = "".join(
        f"<item><title>{escape(payload)}</title><link>https://example.org/{n}</link>"
        f"<guid>urn:xss:{n}</guid><author>{escape(payload)}</author>"
        f"<category>{escape(payload)}</category>"
        f"<description>{escape('<p>Payload ' + str(n) + ':</p>' + payload)}</description>"
        f"<content:encoded><![CDATA[<p>Before</p>{payload}<p>after</p>]]></content:encoded>"
        "</item>"
        for n, payload in enumerate(PAYLOADS)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(PAYLOADS[0])}</title><link>javascript:alert(1)</link>"
        f"<description>xss</description>{items}</channel></rss>"
    )


def test_at_least_fifty_payloads_are_tried() -> None:
    assert len(PAYLOADS) >= 50


def test_no_payload_reaches_a_published_file_in_executable_form(
    planet: Planet, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = feed_server.serve("/xss", _feed())
    write_corpus_config(planet, [{"url": url, "name": "xss"}])
    states = run_update(planet, caplog, "xss")
    assert [state["entry_count"] for state in states] == [len(PAYLOADS)]
    problems = site_problems(planet.output, len(PAYLOADS))
    assert not problems, "\n".join(problems[:40])
    # In the markup files every text is escaped, so no raw tag may appear at all; feed.json's
    # text fields are plain text by its specification and its HTML is checked above.
    for name in ("index.html", "atom.xml", "rss.xml", "opml.xml"):
        data = without_own_script((planet.output / name).read_bytes())
        text = data.decode("utf-8").lower()
        assert "<script" not in text, name
        assert 'href="javascript:' not in text and "href='javascript:" not in text, name
