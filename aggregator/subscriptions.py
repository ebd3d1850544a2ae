"""Subscription lists from other tools, read into feeds.yaml entries: OPML (what most planets and
feed readers export) and Planet Venus / Planet Planet config.ini files."""

from __future__ import annotations

import configparser
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Imported:
    feeds: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


def read_opml(data: bytes) -> Imported:
    """Every outline with an xmlUrl; folder outlines and `category` attributes become tags.

    The standard library's parser is enough here: expat refuses entity-expansion attacks
    (billion laughs) and the file is the maintainer's own.
    """
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise ValueError(f"not an OPML file: {error}") from None
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise ValueError("not an OPML file: no <opml><body>")
    feeds: list[dict[str, Any]] = []
    warnings: list[str] = []
    _outlines(body, [], feeds, warnings)
    return Imported(feeds, warnings)


def _outlines(
    parent: ElementTree.Element,
    folders: list[str],
    feeds: list[dict[str, Any]],
    warnings: list[str],
) -> None:
    for outline in parent.findall("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        name = (outline.get("title") or outline.get("text") or "").strip()
        if not url:
            _outlines(outline, [*folders, name] if name else folders, feeds, warnings)
            continue
        if urlsplit(url).scheme not in ("http", "https"):
            warnings.append(f"skipped {url!r}: not an http(s) address")
            continue
        categories = [
            part.strip().strip("/")
            for part in (outline.get("category") or "").split(",")
            if part.strip().strip("/")
        ]
        feeds.append(
            {
                "url": url,
                "name": name or None,
                "link": (outline.get("htmlUrl") or "").strip() or None,
                "tags": list(dict.fromkeys(_tag(tag) for tag in [*folders, *categories])),
                "language": (outline.get("language") or "").strip() or None,
            }
        )


def read_venus(text: str) -> Imported:
    """Feed sections of a Planet Venus (or Planet Planet) config.ini.

    Each section named by a URL is a feed: `name` becomes its name, a `face` given as a URL its
    avatar, the `filter` and `exclude` regular expressions its include and exclude rules (on
    title and text, as Venus matched them). Options with no equivalent (faces given as file
    names, filter plugins, templates) are listed as warnings.
    """
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as error:
        raise ValueError(f"not a Planet config.ini: {error}") from None
    feeds: list[dict[str, Any]] = []
    warnings: list[str] = []
    for section in parser.sections():
        if urlsplit(section).scheme not in ("http", "https"):
            continue
        options = {
            key: value
            for key, value in parser.items(section)
            if parser.defaults().get(key) != value
        }
        feed: dict[str, Any] = {
            "url": section,
            "name": options.pop("name", None),
            "link": options.pop("link", None),
            "tags": [],
            "language": None,
        }
        face = options.pop("face", None)
        if face and urlsplit(face).scheme in ("http", "https"):
            feed["avatar"] = face
        elif face:
            warnings.append(f"{section}: face {face!r} is a file name; set avatar to its URL")
        for venus, ours in (("filter", "include"), ("exclude", "exclude")):
            pattern = options.pop(venus, None)
            if pattern:
                feed[ours] = {"title": f"/{pattern}/", "text": f"/{pattern}/"}
        feeds.append(feed)
        if options:
            warnings.append(f"{section}: not carried over: {', '.join(sorted(options))}")
    return Imported(feeds, warnings)


def _tag(text: str) -> str:
    return "-".join(text.lower().split())
