"""Rules that decide when two entries are the same story.

Two keys are computed for every entry. `link_key` is its link made canonical (host in lower
case, default port, fragment and tracking parameters dropped) and stripped of the scheme and a
leading "www.", so the http and https, www and bare, utm-tagged and clean forms of one page
compare equal. `fingerprint` is a bottom-k sketch of the word 4-grams of its title and text: the
64 smallest hashes. Comparing two sketches estimates how much of their text two entries share
(Jaccard similarity) without keeping or reading the texts.

Within a feed, an entry whose id is new but whose link is known is the same entry (some feeds
change ids on every fetch). Across feeds, entries published within a few days of each other are
the same story when their links are the same page, their texts are nearly the same (a
statement republished word for word, with or without an editor's note), or one text is almost
wholly contained in the other (an excerpt on a sister site). A shared headline word or
boilerplate paragraph is not enough, because the rest of the text then differs.

Measured on tests/fixtures/dedupe_pairs.json (83 labelled pairs: republications, edits,
excerpts, and near misses such as independent reports of one strike, shared boilerplate,
translations and quotations): precision 1.0, recall 1.0.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aggregator.records import CleanEntry, ParsedEntry

SKETCH_SIZE = 64
SHINGLE_WORDS = 4
SAME_TEXT = 0.5
CONTAINED = 0.8
MIN_OVERLAP_SAMPLE = 16
MIN_SHINGLES = 12
WINDOW = timedelta(days=7)
TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|_ga|_gl|igshid|"
    r"yclid|twclid|ref_src|ref_url|share|cmpid|oly_\w+|vero_\w+|mkt_tok)$",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WORD = re.compile(r"\w+")


def unique_by_guid(entries: Iterable[CleanEntry]) -> list[CleanEntry]:
    """One entry per id within one fetch; the first wins, as feeds list newest first.

    Sources that repeat an item in one document would otherwise break the unique
    (feed, guid) constraint for the whole batch.
    """
    seen: dict[str, CleanEntry] = {}
    for entry in entries:
        seen.setdefault(entry.guid, entry)
    return list(seen.values())


def unique_by_source_id(entries: Iterable[ParsedEntry]) -> list[ParsedEntry]:
    """One entry per id as the source wrote it (its link when it has none), the first kept.

    As unique_by_guid, but before normalizing: an entry left out as already stored must not let
    a later copy of its id through in its place, which would then replace it at every fetch.
    """
    seen: set[str] = set()
    kept = []
    for entry in entries:
        key = entry.guid or entry.link
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        kept.append(entry)
    return kept


def with_keys(entries: Iterable[CleanEntry]) -> list[CleanEntry]:
    """The entries with their keys, and without their plain text, which only the sketch and
    the filters read: left in, it was a sixth of what a parsing worker sends back to be
    stored."""
    return [
        replace(
            entry,
            link_key=link_key(entry.link) if entry.link else None,
            fingerprint=format_fingerprint(sketch(entry)),
            text="",
        )
        for entry in entries
    ]


def canonical_url(url: str) -> str:
    """The same page's address written one way: what outputs and comparisons use."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = urlencode(
        [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True)
         if not TRACKING.match(key)]
    )  # fmt: skip
    return urlunsplit((scheme, netloc, parts.path or "/", query, "")).strip()


def link_key(url: str) -> str:
    """The canonical URL without scheme and `www.`: http/https and www/bare are one page."""
    canonical = canonical_url(url)
    without_scheme = canonical.split("://", 1)[-1].removeprefix("www.")
    address, _, query = without_scheme.partition("?")
    address = address.rstrip("/") or address
    return f"{address}?{query}" if query else address


def sketch(entry: CleanEntry) -> list[int]:
    """The SKETCH_SIZE smallest 64-bit BLAKE2b hashes of the entry's distinct word 4-grams.

    Stored sketches are compared with new ones, so these values must never change. Each step
    over the hundred-odd shingles of an entry runs inside C (zip, map, join), without a line of
    Python for each: the sketch is about a quarter of a parsing worker's instructions.
    """
    words = _words(f"{entry.title} {entry.text or entry.summary}")
    # Each row of zip is SHINGLE_WORDS words in a row; it stops at the shortest, the last.
    runs = zip(*(words[start:] for start in range(SHINGLE_WORDS)), strict=False)
    shingles = set(map(" ".join, runs))
    if len(shingles) < MIN_SHINGLES:
        return []
    # The hashes are read as one run of big-endian 64-bit integers: a call to int.from_bytes
    # for each of a hundred shingles cost a fifth of the sketch.
    digests = b"".join(map(_DIGEST, map(_HASHER, map(str.encode, shingles))))
    return sorted(struct.unpack(f">{len(shingles)}Q", digests))[:SKETCH_SIZE]


_HASHER = partial(hashlib.blake2b, digest_size=8)
_DIGEST = hashlib.blake2b.digest


def format_fingerprint(values: Sequence[int]) -> str:
    """A sketch as stored: 16 hex digits for each value, spaces between (parse_fingerprint
    reads it back)."""
    return struct.pack(f">{len(values)}Q", *values).hex(" ", 8)


def similarity(first: Sequence[int], second: Sequence[int]) -> float:
    """Estimated Jaccard similarity of two bottom-k sketches (0 when either is too short)."""
    if not first or not second:
        return 0.0
    union = sorted(set(first) | set(second))[:SKETCH_SIZE]
    both = set(first) & set(second)
    return sum(1 for value in union if value in both) / len(union)


def containment(part: Sequence[int], whole: Sequence[int]) -> float:
    """Estimated share of `part`'s text found in `whole` (an excerpt in its full article).

    Below the largest value of `whole`'s sketch, the sketch holds every hash of `whole`, so the
    values of `part` in that range can be looked up exactly; too few of them tell nothing.
    """
    if not part or not whole:
        return 0.0
    ceiling = whole[-1] if len(whole) >= SKETCH_SIZE else max(whole)
    in_range = [value for value in part if value <= ceiling]
    if len(in_range) < MIN_OVERLAP_SAMPLE:
        return 0.0
    present = set(whole)
    return sum(1 for value in in_range if value in present) / len(in_range)


def parse_fingerprint(text: str | None) -> list[int]:
    """The values of a stored fingerprint (16 hex digits each, spaces between): read as bytes
    in one call, since every candidate of every new entry is read this way."""
    if not text:
        return []
    raw = bytes.fromhex(text)
    return list(struct.unpack(f">{len(raw) // 8}Q", raw))


INDEX_SIZE = 16
# Fewest lookup values a candidate shares with an entry that same_story may accept; the least
# among the labelled duplicates is 4 (tests/test_dedupe_cross_site.py holds them to this).
MIN_SHARED = 3
# A lookup value held by more entries than this is a stock phrase; it is left out of lookups.
COMMON = 100
# Rows of entry_sketches one lookup may read: the rarest values are looked up first, since a
# story's own text is rare and its stock phrases common.
LOOKUP_ROWS = 3000
_SIGNED = 2**63


def index_values(fingerprint: Sequence[int]) -> list[int]:
    """The values of a sketch that go into the lookup table, and that a new entry looks up
    there, as signed 64-bit integers.

    Only the smallest INDEX_SIZE are used on either side: two texts that share much share
    their smallest hashes too (the smallest hashes of an article that fall in an excerpt of it
    are among the excerpt's smallest). The labelled duplicates share at least 4 of them, as
    many as when a new entry looked up all of its 64; looking up 16 reads a quarter of the
    table's rows and finds a third fewer entries that then fail same_story.
    """
    return [value - _SIGNED for value in fingerprint[:INDEX_SIZE]]


@dataclass(frozen=True)
class Candidate:
    """A stored entry of another feed that a new entry may repeat."""

    id: int
    feed_id: int
    link_key: str | None
    fingerprint: list[int]
    published: datetime


def same_story(entry: CleanEntry, candidate: Candidate) -> bool:
    if abs(entry.published - candidate.published) > WINDOW:
        return False
    if entry.link_key and entry.link_key == candidate.link_key:
        return True
    mine = parse_fingerprint(entry.fingerprint)
    theirs = candidate.fingerprint
    return (
        similarity(mine, theirs) >= SAME_TEXT
        or max(containment(mine, theirs), containment(theirs, mine)) >= CONTAINED
    )


def could_share_text(shared: int, first: int, second: int) -> bool:
    """Whether two sketches with `shared` values in common can pass similarity or containment.

    Similarity counts shared values among the union's smallest, which number at least the
    longer sketch, so it needs SAME_TEXT of that; containment needs CONTAINED of at least
    MIN_OVERLAP_SAMPLE values. Checking this first saves the full comparison of texts that
    merely share a phrase.
    """
    needed = min(
        math.ceil(SAME_TEXT * max(first, second)), math.ceil(CONTAINED * MIN_OVERLAP_SAMPLE)
    )
    return shared >= needed


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _WORD.findall(folded)


@dataclass(frozen=True)
class Merge:
    """`duplicate` (and whatever pointed at it) now points at `original`."""

    duplicate: int
    original: int


def merges(new: Sequence[tuple[int, CleanEntry, Sequence[Candidate]]]) -> list[Merge]:
    """For each new entry (its id, itself, its candidates) that repeats stories of other
    feeds, point all of them at the one published first (the original publisher); a stored
    entry wins a tie.

    same_story runs only on the candidates that share the entry's link or enough of its sketch
    to pass one of its two tests (see could_share_text), counted as one set intersection in C.
    """
    found: list[Merge] = []
    for entry_id, entry, candidates in new:
        mine = parse_fingerprint(entry.fingerprint)
        values = frozenset(mine)
        matches = [
            candidate
            for candidate in candidates
            if (
                (entry.link_key is not None and entry.link_key == candidate.link_key)
                or could_share_text(
                    len(values.intersection(candidate.fingerprint)),
                    len(mine),
                    len(candidate.fingerprint),
                )
            )
            and same_story(entry, candidate)
        ]
        if not matches:
            continue
        members = [(other.published, 0, other.id) for other in matches]
        members.append((entry.published, 1, entry_id))
        original = min(members)[2]
        found.extend(
            Merge(duplicate=member, original=original)
            for _moment, _order, member in members
            if member != original
        )
    return found
