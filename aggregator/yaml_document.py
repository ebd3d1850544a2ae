"""A YAML document read from the parser's events: its data, the line of every key and item,
and what the data cannot show (a key given twice, an alias inside itself).

PyYAML's own loading builds a node for every key and value, with two marks each, before it
builds the data. For a planet of 10,000 feeds that tree took 25 MiB and half a second, five
times the memory of the data; the process kept the memory afterwards. Read from the events,
which PyYAML's C parser produces one at a time, the same document takes a tenth of that time.
Scalars are still resolved and constructed by the loader's own resolver and constructors, so
the data is what `yaml.safe_load` gives, merge keys (`<<`) included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

Location = tuple[str | int, ...]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Located:
    """A problem the data cannot show, where it is."""

    line: int
    location: Location
    message: str


@dataclass
class Document:
    data: Any
    lines: dict[Location, int]
    problems: list[Located]


@dataclass
class _Anchored:
    value: Any
    line: int
    # The lines below the anchored node, relative to it, for the places an alias repeats it.
    below: list[tuple[Location, int]]


@dataclass
class _Collection:
    """A mapping or a sequence being read."""

    location: Location
    anchor: str | None
    mark: Any
    merged: list[dict[Any, Any]] = field(default_factory=list)
    # The line of each key given so far, by its text.
    seen: dict[str, int] = field(default_factory=dict)


def read_document(text: str, loader_class: Any) -> Document:
    """The single document of `text` (None when it is empty); YAMLError when it is not valid
    YAML or holds more than one document."""
    loader = loader_class(text)
    try:
        return _Reader(loader).read()
    finally:
        loader.dispose()


class _Reader:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.lines: dict[Location, int] = {}
        # The lines set, in order, while some anchored node is being read (below it).
        self.order: list[tuple[Location, int]] = []
        self.anchored_open = 0
        self.problems: list[Located] = []
        self.anchors: dict[str, _Anchored] = {}
        self.stack: list[_Collection] = []

    def read(self) -> Document:
        loader = self.loader
        loader.get_event()  # StreamStart
        data = None
        if not loader.check_event(yaml.StreamEndEvent):
            document = loader.get_event()
            data = self._node(())
            loader.get_event()  # DocumentEnd
            if not loader.check_event(yaml.StreamEndEvent):
                raise ComposerError(
                    "expected a single document in the stream",
                    document.start_mark,
                    "but found another document",
                    loader.get_event().start_mark,
                )
        return Document(data, self.lines, self.problems)

    def _node(self, location: Location) -> Any:
        """Read the node that starts at the next event, and what it holds."""
        event = self.loader.get_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event, location, line)
        self._set_line(location, line)
        start = len(self.order)
        anchor = event.anchor
        if anchor is not None and anchor in self.anchors:
            raise ComposerError(
                f"found duplicate anchor {anchor!r}; first occurrence",
                None,
                "second occurrence",
                event.start_mark,
            )
        if anchor is not None:
            self.anchored_open += 1
        if isinstance(event, yaml.ScalarEvent):
            value = self._scalar(event, self._scalar_tag(event))
        elif isinstance(event, yaml.SequenceStartEvent):
            _plain_tag(event, _SEQ_TAG)
            value = self._sequence(_Collection(location, anchor, event.start_mark))
        else:
            _plain_tag(event, _MAP_TAG)
            value = self._mapping(_Collection(location, anchor, event.start_mark))
        if anchor is not None:
            depth = len(location)
            below = [(where[depth:], number) for where, number in self.order[start:]]
            self.anchors[anchor] = _Anchored(value, line, below)
            self.anchored_open -= 1
            if not self.anchored_open:
                self.order.clear()
        return value

    def _alias(self, event: Any, location: Location, line: int) -> Any:
        if any(open_.anchor == event.anchor for open_ in self.stack):
            self.problems.append(Located(line, location, "an alias refers to itself; expand it"))
            self._set_line(location, line)
            return None
        anchored = self.anchors.get(event.anchor)
        if anchored is None:
            raise ComposerError(
                None, None, f"found undefined alias {event.anchor!r}", event.start_mark
            )
        self._set_line(location, anchored.line)
        for where, number in anchored.below:
            self._set_line(location + where, number)
        return anchored.value

    def _scalar_tag(self, event: Any) -> str:
        """The tag the scalar gives, or the one its text implies (an int, a date, `<<`)."""
        if event.tag is None or event.tag == "!":
            return str(self.loader.resolve(yaml.ScalarNode, event.value, event.implicit))
        return str(event.tag)

    def _scalar(self, event: Any, tag: str) -> Any:
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        constructors = self.loader.yaml_constructors
        construct = constructors.get(tag, constructors[None])
        return construct(self.loader, node)

    def _sequence(self, collection: _Collection) -> list[Any]:
        items: list[Any] = []
        self.stack.append(collection)
        while not self.loader.check_event(yaml.SequenceEndEvent):
            items.append(self._node((*collection.location, len(items))))
        self.loader.get_event()
        self.stack.pop()
        return items

    def _mapping(self, collection: _Collection) -> dict[Any, Any]:
        pairs: dict[Any, Any] = {}
        loader = self.loader
        self.stack.append(collection)
        while not loader.check_event(yaml.MappingEndEvent):
            key_event = loader.peek_event()
            key_line = key_event.start_mark.line + 1
            if not isinstance(key_event, yaml.ScalarEvent):
                raise ConstructorError(
                    "while constructing a mapping",
                    collection.mark,
                    "found unhashable key",
                    key_event.start_mark,
                )
            loader.get_event()
            tag = self._scalar_tag(key_event)
            if tag == _MERGE_TAG:
                self._merge(collection, key_line)
                continue
            key = self._scalar(key_event, tag)
            name = key_event.value
            location = (*collection.location, name)
            if name in collection.seen:
                self.problems.append(
                    Located(
                        key_line,
                        location,
                        f"duplicate key; it is already set on line {collection.seen[name]}",
                    )
                )
            collection.seen[name] = key_line
            pairs[key] = self._node(location)
            self._set_line(location, key_line)
        loader.get_event()
        self.stack.pop()
        if not collection.merged:
            return pairs
        # As PyYAML merges: the mapping's own keys win, then the first merged mapping.
        merged: dict[Any, Any] = {}
        for source in reversed(collection.merged):
            merged.update(source)
        merged.update(pairs)
        return merged

    def _merge(self, collection: _Collection, line: int) -> None:
        """`<<: *defaults` (or a list of such): the keys the mapping does not give itself come
        with the merge key's line."""
        value = self._node((*collection.location, "<<"))
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, dict):
                raise ConstructorError(
                    "while constructing a mapping",
                    collection.mark,
                    "expected a mapping or a list of mappings for merging",
                    None,
                )
            collection.merged.append(source)
            for key in source:
                if isinstance(key, str) and key not in collection.seen:
                    self._set_line((*collection.location, key), line)

    def _set_line(self, location: Location, line: int) -> None:
        self.lines[location] = line
        if self.anchored_open:
            self.order.append((location, line))


def _plain_tag(event: Any, default: str) -> None:
    """Sets (!!set), ordered maps (!!omap) and other tagged collections are not settings."""
    if event.tag not in (None, "!", default):
        raise ConstructorError(
            None, None, f"a tag here must be left out, not {event.tag!r}", event.start_mark
        )
