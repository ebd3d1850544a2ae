"""A feed that writes a character as a reference to no character still has its entries read.

Some publishing systems write an emoji as the two halves of its UTF-16 form, each a numeric
reference ("&#55357;&#57001;"); others leave half of one, or a number beyond Unicode. feedparser
raises on any of them, which lost the whole feed. The pair is now read as the character it
stands for, and the rest as U+FFFD, as a browser reads them.
"""

from __future__ import annotations

import json

import feedparser
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.parse import parse_feed, repaired_references
from tests.conftest import FeedServer, Planet


def test_a_feed_with_references_to_no_character_is_read_and_published(
    planet: Planet, feed_server: FeedServer
) -> None:
    url = feed_server.serve_fixture("/bulletin/feed/", "references.rss.xml")
    planet.write_config([{"url": url}])
    result = planet.run("update")
    assert result.exit_code == 0, result.output

    states = json.loads(planet.run("feeds", "--json").stdout)
    assert [(state["url"], state["status"]) for state in states] == [(url, "ok")]
    published = feedparser.parse(planet.output / "atom.xml")
    titles = {entry.link.rsplit("/", 2)[-2]: entry for entry in published.entries}
    assert len(titles) == 4
    strike = titles["red-flags-over-the-depot"]
    assert strike.title.endswith("first morning of the strike \U0001f6a9")
    assert "from five \U0001f4e2 and not one lorry" in strike.summary
    assert titles["ballot-result-announced"].title == (
        "Ballot result \ufffd announced at the members\u2019 meeting"
    )
    assert "stands at \ufffd\u00a312,400" in titles["hardship-fund-passes-its-target"].summary
    assert titles["meeting-moved"].summary.startswith("Thursday\u2019s meeting")


def _references(text: str, halves: bool) -> bytes:
    """`text` as numeric references, one per character; beyond the first plane, as the two
    halves of its UTF-16 form when `halves`, else as the one reference `repaired_references`
    writes."""
    written = []
    for character in text:
        code = ord(character)
        if code > 0xFFFF and halves:
            code -= 0x10000
            written.append(f"&#{0xD800 + (code >> 10)};&#x{0xDC00 + (code & 0x3FF):x};")
        elif code > 0xFFFF:
            written.append(f"&#x{code:X};")
        else:
            written.append(f"&#{code};")
    return "".join(written).encode("ascii")


CHARACTERS = st.characters(exclude_categories=["Cs"])


@settings(max_examples=300, deadline=None)
@given(st.text(CHARACTERS, max_size=12))
def test_surrogate_pairs_become_the_character_they_stand_for(text: str) -> None:
    assert repaired_references(_references(text, halves=True)) == _references(text, halves=False)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40).map(lambda data: data.replace(b"&#", b"")))
def test_bytes_without_references_are_left_alone(data: bytes) -> None:
    assert repaired_references(data) == data


# Any number at all, as a decimal or hexadecimal reference: the surrogates, the numbers just
# beyond Unicode and far beyond, and ordinary characters between them.
NUMBERS = st.one_of(
    st.integers(0xD800, 0xDFFF),
    st.integers(0x10FFFF, 0x110001),
    st.integers(0, 10**30),
    st.integers(0x20, 0x2FFF),
)
REFERENCES = st.tuples(NUMBERS, st.booleans()).map(
    lambda pair: f"&#x{pair[0]:x};" if pair[1] else f"&#{pair[0]};"
)


@settings(max_examples=150, deadline=None)
@given(st.lists(REFERENCES, min_size=1, max_size=6))
def test_no_numeric_reference_stops_a_feed_being_read(references: list[str]) -> None:
    title = "Pay offer rejected " + " ".join(references)
    document = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Branch news</title><link>https://branch.example.org/</link>
<item><title>{title}</title><link>https://branch.example.org/pay-offer-rejected/</link>
<description>The offer was put to the members and turned down.</description></item>
</channel></rss>""".encode()
    feed = parse_feed(document, "https://branch.example.org/feed/", {})
    assert [entry.link for entry in feed.entries] == [
        "https://branch.example.org/pay-offer-rejected/"
    ]
    assert feed.entries[0].title is not None
    assert feed.entries[0].title.startswith("Pay offer rejected")
