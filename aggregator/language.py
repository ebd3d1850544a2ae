"""Which language an entry is written in: what the source declares, checked against its text.

Sources declare one language for a whole feed, and multilingual organisations post statements in
several under it (an English feed carrying Spanish and French translations). The declared
language stands unless a statistical detector finds that most of the text, on enough of it, is
in another one. CLD2 (through pycld2) is used because it is offline and deterministic, keeps its
tables in its shared library instead of a model loaded into each process's memory, and reads
the start of an entry in about 20 µs: py3langid, used before it, took 90 µs in a loop and 250 µs
inside the pipeline, where its 70 MB model kept falling out of the CPU's caches.
"""

from __future__ import annotations

import re

import pycld2

# Below this many words a detector guesses; a title such as "Solidarity" is English, Catalan
# and Latin at once.
MIN_WORDS = 12
# The share of the text the detector must find in one language, with its own verdict that the
# finding is reliable, to overrule what the source declared, or to name a language for a
# source that declared none. A Russian post full of English product names is 60 to 90% Russian.
OVERRULE = 0.8
GUESS = 0.6
_SAMPLE = 500
_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
# CLD2 refuses, as invalid UTF-8, text holding control characters.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# CLD2 still writes the codes ISO 639 withdrew for Hebrew and Javanese; it also has writing
# systems ("xx-Cyrl") and test languages ("zzb") that are no language to publish.
_RENAMED = {"iw": "he", "jw": "jv"}
_NOT_LANGUAGES = re.compile(r"un|xxx|xx-\w+|zz\w")
# Tags that name one language under two codes: Norwegian is "no" to CLD2 and often "nb" in feeds.
_SAME = {"nb": "no"}


def entry_language(declared: str | None, text: str) -> str | None:
    """The language of `text`: `declared` (a BCP 47 tag) unless detection clearly disagrees."""
    tag = normalize_tag(declared) if declared else None
    if len(text.split(maxsplit=MIN_WORDS)) < MIN_WORDS:
        return tag
    detected, share = detect(text[:_SAMPLE])
    if detected is None:
        return tag
    if tag is None:
        return detected if share >= GUESS else None
    if not _same_language(detected, primary(tag)) and share >= OVERRULE:
        return detected
    return tag


def detect(text: str) -> tuple[str | None, float]:
    """The main language of `text` (its primary subtag) and the share of the text in it; None
    and 0 when CLD2 cannot tell or finds its own answer unreliable."""
    sample = _CONTROL.sub(" ", text).encode("utf-8", "replace")
    try:
        reliable, _bytes_found, found = pycld2.detect(sample)
    except pycld2.error:
        return None, 0.0
    _name, code, percent, _score = found[0]
    if not reliable or _NOT_LANGUAGES.fullmatch(code):
        return None, 0.0
    language = primary(code)
    return _RENAMED.get(language, language), percent / 100


def _same_language(first: str, second: str) -> bool:
    return _SAME.get(first, first) == _SAME.get(second, second)


def primary(tag: str) -> str:
    return tag.split("-", 1)[0].lower()


def normalize_tag(tag: str) -> str | None:
    """'EN_us' → 'en-US': sources write tags in every case and with underscores, and some write
    what is no tag at all ("English", "en-gb; q=1"), which is dropped."""
    tag = tag.strip()
    if not _TAG.fullmatch(tag):
        return None
    parts = tag.replace("_", "-").split("-")
    head = parts[0].lower()
    rest = [part.upper() if len(part) == 2 else part.lower() for part in parts[1:]]
    return "-".join([head, *rest])
