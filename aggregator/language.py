"""Which language an entry is written in: what the source declares, checked against its text.

Sources declare one language for a whole feed, and multilingual organisations post statements in
several under it (an English feed carrying Spanish and French translations). The declared
language stands unless a statistical detector is confident, on enough text, that the text is in
another one. py3langid is used because it is offline, deterministic and fast (a fraction of a
millisecond on the first 300 characters of a text); its model, about 70 MB in memory, is
loaded on first use, once per process.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Protocol

# Below this many words a detector guesses; a title such as "Solidarity" is English, Catalan
# and Latin at once.
MIN_WORDS = 12
# How sure the detector must be to overrule what the source declared, or to name a language
# for a source that declared none.
OVERRULE = 0.95
GUESS = 0.8
_SAMPLE = 300
_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


class _Identifier(Protocol):
    def classify(self, text: str) -> tuple[str, float]: ...


def load_model() -> None:
    """Load the model now rather than at the first entry (see aggregator.read_worker)."""
    _identifier()


def model_loaded() -> bool:
    return _identifier.cache_info().currsize > 0


@cache
def _identifier() -> _Identifier:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier: _Identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return identifier


def entry_language(declared: str | None, text: str) -> str | None:
    """The language of `text`: `declared` (a BCP 47 tag) unless detection clearly disagrees."""
    tag = normalize_tag(declared) if declared else None
    if len(text.split(maxsplit=MIN_WORDS)) < MIN_WORDS:
        return tag
    detected, confidence = _identifier().classify(text[:_SAMPLE])
    if tag is None:
        return detected if confidence >= GUESS else None
    if detected != primary(tag) and confidence >= OVERRULE:
        return detected
    return tag


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
