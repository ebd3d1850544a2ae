"""feeds.yaml → validated, immutable Settings.

Maintainers edit feeds.yaml by hand, so every problem is reported with the file, the line and
a hint, and all problems are reported at once rather than one per run. The YAML is read into
plain data for pydantic together with the line of every key and item (yaml_document), because
PyYAML's constructed objects forget where they came from.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from aggregator.errors import ConfigError, ConfigProblem
from aggregator.yaml_document import Location, read_document

CONFIG_ENV = "AGGREGATOR_CONFIG"
DATABASE_ENV = "AGGREGATOR_DATABASE_URL"
DEFAULT_DATABASE_FILE = "aggregator.db"
DEFAULT_OUTPUT_DIR = "public"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_MAX_DURATION = timedelta(days=3653)
_SQLITE_FILE = re.compile(r"^sqlite(\+\w+)?:///")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def parse_duration(value: object) -> timedelta:
    """Read '30m', '2h', '1d', '1h30m'; a bare number is refused because its unit is a guess."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{value!r} is not a duration; write a number and a unit, like 30m")
    text = str(value).strip().lower()
    if isinstance(value, int) or text.isdigit():
        raise ValueError(
            f"{value!r} has no unit; write it as {text}s, {text}m or {text}h "
            "(s, m, h, d and w are understood)"
        )
    position, seconds = 0, 0
    for match in _DURATION.finditer(text):
        if match.start() != position and text[position : match.start()].strip():
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(
            f"{value!r} is not a duration; write a number and a unit "
            "(s, m, h, d or w), like 30m, 2h or 1d"
        )
    if seconds <= 0:
        raise ValueError(f"{value!r} is zero; an interval must be positive")
    if seconds > _MAX_DURATION.total_seconds():
        raise ValueError(f"{value!r} is longer than ten years; write a shorter duration")
    return timedelta(seconds=seconds)


def _retention(value: object) -> timedelta | None:
    """A duration, or `forever` for a planet that keeps every entry it has seen."""
    if isinstance(value, str) and value.strip().lower() == "forever":
        return None
    return parse_duration(value)


def http_url(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an http:// or https:// URL")
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{url!r} is not a web address; it must start with http:// or https://")
    return url


def _language(value: object) -> object:
    if isinstance(value, str) and not _LANGUAGE.fullmatch(value):
        raise ValueError(f"{value!r} is not a language code; use one like en, es or pt-BR")
    return value


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMG]i?B|B)$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}


def parse_size(value: object) -> int:
    """Read '10MiB', '512KiB', '2MB'; like durations, a bare number is refused."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{value!r} is not a size; write a number and a unit, like 10MiB")
    match = _SIZE.match(str(value).strip())
    if match is None:
        raise ValueError(
            f"{value!r} is not a size; write a number and a unit (B, KB, MB, KiB, MiB, GiB), "
            "like 10MiB"
        )
    size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if not 1024 <= size <= 1024**3:
        raise ValueError(f"{value!r} is out of range; use a size between 1KiB and 1GiB")
    return size


def compile_pattern(text: str) -> re.Pattern[str]:
    """`/…/` is a regular expression; anything else is plain words, matched whole, any case."""
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        try:
            return re.compile(text[1:-1], re.IGNORECASE)
        except re.error as error:
            raise ValueError(f"{text!r} is not a valid regular expression: {error}") from None
    words = r"\s+".join(re.escape(word) for word in text.split())
    if not words:
        raise ValueError("an empty pattern would match everything; remove it")
    return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


def _patterns(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise ValueError("write a pattern or a list of patterns, like [Events, /^Book launch/]")
    for item in items:
        compile_pattern(item)
    return tuple(items)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Patterns = Annotated[tuple[str, ...], BeforeValidator(_patterns)]
Size = Annotated[int, BeforeValidator(parse_size)]
HttpUrl = Annotated[str, BeforeValidator(http_url)]
Language = Annotated[str, BeforeValidator(_language)]
Retention = Annotated[timedelta | None, BeforeValidator(_retention)]
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")


def _hosts(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError("write a list of host names, like [www.youtube.com, player.vimeo.com]")
    hosts = tuple(item.strip().lower() for item in value)
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise ValueError(f"{host!r} is not a host name; write it without scheme or path")
    return hosts


Hosts = Annotated[tuple[str, ...], BeforeValidator(_hosts)]

MAX_WORKERS = 64


def _workers(value: object) -> object:
    """One message for both forms: as a union of a number and "auto", pydantic reported a
    wrong value twice, under names of its own making (`parse_workers.constrained-int`)."""
    if value == "auto":
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_WORKERS:
        return value
    raise ValueError(f"write auto, or a number of processes from 0 to {MAX_WORKERS}")


Workers = Annotated[int | Literal["auto"], BeforeValidator(_workers)]

# Video players that sources embed; their iframes are kept, sandboxed, and every other iframe
# is removed.
VIDEO_HOSTS = (
    "www.youtube.com",
    "www.youtube-nocookie.com",
    "player.vimeo.com",
    "www.dailymotion.com",
    "archive.org",
)


def _absent_when_empty(value: object) -> object:
    """A section whose every line is commented out reads as null: it means what leaving the
    section out means, not an error."""
    return {} if value is None else value


def _no_feeds_when_empty(value: object) -> object:
    return [] if value is None else value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OwnerSection(_Section):
    name: str | None = None
    email: str | None = None


class PlanetSection(_Section):
    title: str
    link: HttpUrl
    description: str = ""
    language: Language | None = None
    owner: Annotated[OwnerSection, BeforeValidator(_absent_when_empty)] = OwnerSection()
    output_dir: str | None = None
    database: str | None = None
    items_per_page: int = Field(default=30, ge=1, le=1000)
    feed_items: int = Field(default=50, ge=1, le=10000)
    contact: str | None = None
    retention: Retention = timedelta(days=180)
    iframe_hosts: Hosts = VIDEO_HOSTS
    archive_pages: int = Field(default=10, ge=1, le=1000)
    websub_hub: HttpUrl | None = None
    theme: str | None = None
    max_connections: int = Field(default=32, ge=1, le=1000)
    per_host_connections: int = Field(default=2, ge=1, le=16)
    parse_workers: Workers = "auto"
    publish_workers: Workers = "auto"


class RuleSection(_Section):
    """An include or exclude rule: it matches when any pattern matches its field."""

    title: Patterns = ()
    text: Patterns = ()
    category: Patterns = ()
    author: Patterns = ()
    link: Patterns = ()


class DefaultsSection(_Section):
    interval: Duration = timedelta(hours=1)
    min_interval: Duration = timedelta(minutes=15)
    max_interval: Duration = timedelta(days=1)
    timeout: Duration = timedelta(seconds=30)
    max_body_size: Size = 10 * 1024 * 1024
    enabled: bool = True
    language: Language | None = None
    excerpt_words: int = Field(default=60, ge=5, le=1000)
    max_age: Duration | None = None
    new_feed_items: int = Field(default=10, ge=0, le=10000)
    include: RuleSection | None = None
    exclude: RuleSection | None = None


class FeedSection(_Section):
    url: HttpUrl
    name: str | None = None
    link: HttpUrl | None = None
    tags: list[str] = []
    language: Language | None = None
    interval: Duration | None = None
    min_interval: Duration | None = None
    max_interval: Duration | None = None
    timeout: Duration | None = None
    max_body_size: Size | None = None
    enabled: bool | None = None
    excerpt_words: int | None = Field(default=None, ge=5, le=1000)
    max_age: Duration | None = None
    new_feed_items: int | None = Field(default=None, ge=0, le=10000)
    avatar: HttpUrl | None = None
    include: RuleSection | None = None
    exclude: RuleSection | None = None


class ConfigFile(_Section):
    planet: Annotated[PlanetSection, BeforeValidator(_absent_when_empty)]
    defaults: Annotated[DefaultsSection, BeforeValidator(_absent_when_empty)] = DefaultsSection()
    # Each feed is validated as a FeedSection on its own, and made into its FeedConfig at once
    # (see _feed_configs): validated as one list, ten thousand FeedSection models were alive
    # together, and the settings of 10,000 feeds held 3.5 MiB more after loading.
    feeds: Annotated[list[Any], BeforeValidator(_no_feeds_when_empty)] = []


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One configured feed with the defaults already applied. Slotted: a planet of 10,000
    feeds holds 10,000 of them for a whole run, 1.6 MiB less than with a dict each."""

    url: str
    name: str | None
    link: str | None
    tags: tuple[str, ...]
    language: str | None
    interval: timedelta
    min_interval: timedelta
    max_interval: timedelta
    timeout: timedelta
    max_body_size: int
    enabled: bool
    line: int | None
    excerpt_words: int = 60
    avatar: str | None = None
    include: tuple[RuleSection, ...] = ()
    exclude: tuple[RuleSection, ...] = ()
    max_age: timedelta | None = None
    new_feed_items: int = 10
    retention: timedelta | None = timedelta(days=180)
    iframe_hosts: tuple[str, ...] = VIDEO_HOSTS


@dataclass(frozen=True)
class Settings:
    path: Path
    planet: PlanetSection
    feeds: tuple[FeedConfig, ...]
    database_url: str
    output_dir: Path
    theme_dir: Path | None = None


def load_settings(
    path: Path, database_url: str | None = None, output_dir: Path | None = None
) -> Settings:
    """Read and validate feeds.yaml; explicit arguments win over the file, the file over defaults.

    `database_url` given here has already been resolved from the command line or the
    environment by the caller.
    """
    text = _read(path)
    data, lines, problems = _compose(path, text)
    if problems and not isinstance(data, dict):
        raise ConfigError(problems)
    problems += _duplicate_problems(path, _raw_feed_urls(data, lines))
    parsed = None
    try:
        parsed = ConfigFile.model_validate(data if data is not None else {})
    except ValidationError as error:
        problems += _problems_from(path, error, lines)
    feeds, feed_problems = _feed_configs(path, parsed, data, lines)
    problems += feed_problems
    if problems or parsed is None:
        raise ConfigError(sorted(problems, key=lambda problem: problem.line or 0))
    bounds = _bound_problems(path, feeds)
    base = path.resolve().parent
    theme = base / parsed.planet.theme if parsed.planet.theme else None
    if theme is not None and not theme.is_dir():
        bounds.append(
            ConfigProblem(
                str(path),
                lines.get(("planet", "theme")),
                "planet.theme",
                f"{theme} is not a folder; it must hold the templates and static files that "
                "replace the built-in ones",
            )
        )
    if bounds:
        raise ConfigError(bounds)
    return Settings(
        path=path,
        planet=parsed.planet,
        feeds=feeds,
        database_url=database_url
        or os.environ.get(DATABASE_ENV)
        or _relative_sqlite(parsed.planet.database, base)
        or f"sqlite:///{base / DEFAULT_DATABASE_FILE}",
        output_dir=output_dir or base / (parsed.planet.output_dir or DEFAULT_OUTPUT_DIR),
        theme_dir=theme,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(str(path), None, "", f"no such file; pass -c PATH or set ${CONFIG_ENV}")]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            [ConfigProblem(str(path), None, "", f"cannot be read: {error}")]
        ) from None


_UNCLOSED = ("while parsing a flow", "while scanning a quoted", "while scanning a double")


def _compose(path: Path, text: str) -> tuple[Any, dict[Location, int], list[ConfigProblem]]:
    try:
        document = read_document(text, _FAST_LOADER)
    except yaml.YAMLError:
        document = None
    try:
        if document is None:
            # The pure-Python parser again, for its wording of the problem and its position.
            document = read_document(text, yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        reason = getattr(error, "problem", None) or str(error)
        context = getattr(error, "context", None) or ""
        opened = getattr(error, "context_mark", None)
        if opened is not None and context.startswith(_UNCLOSED):
            what = context.removeprefix("while parsing a ").removeprefix("while scanning a ")
            found = f" on line {mark.line + 1}" if mark is not None else ""
            reason = f"this {what} is never closed ({reason}{found})"
            mark = opened
        line = mark.line + 1 if mark is not None else None
        return None, {}, [ConfigProblem(str(path), line, "", f"not valid YAML: {reason}")]
    data = document.data
    problems = [
        ConfigProblem(str(path), found.line, _dotted(found.location), found.message)
        for found in document.problems
    ]
    if data is not None and not isinstance(data, dict):
        problems.append(
            ConfigProblem(
                str(path), 1, "", "must be a mapping with the keys planet, defaults and feeds"
            )
        )
    return data, document.lines, problems


# libyaml reads a planet of a thousand feeds ten times faster than the pure-Python parser,
# which every command would otherwise pay on start.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _dotted(location: Location) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _line_of(location: Location, lines: dict[Location, int]) -> int | None:
    for end in range(len(location), -1, -1):
        if location[:end] in lines:
            return lines[location[:end]]
    return None


_SECTIONS: dict[str, type[BaseModel]] = {
    "planet": PlanetSection,
    "owner": OwnerSection,
    "defaults": DefaultsSection,
    "feeds": FeedSection,
    "include": RuleSection,
    "exclude": RuleSection,
}


def _feed_configs(
    path: Path,
    parsed: ConfigFile | None,
    data: Any,
    lines: dict[Location, int],
) -> tuple[tuple[FeedConfig, ...], list[ConfigProblem]]:
    """Every feed validated: the feeds with the planet's defaults applied (when the rest of
    the file is valid too), and the problems found."""
    items = data.get("feeds") if isinstance(data, dict) else None
    feeds = []
    problems: list[ConfigProblem] = []
    for index, item in enumerate(items if isinstance(items, list) else ()):
        try:
            section = FeedSection.model_validate(item)
        except ValidationError as error:
            problems += _problems_from(path, error, lines, ("feeds", index))
            continue
        if parsed is not None:
            line = lines.get(("feeds", index))
            feeds.append(_feed_config(section, parsed.planet, parsed.defaults, line))
    return tuple(feeds), problems


def _problems_from(
    path: Path, error: ValidationError, lines: dict[Location, int], within: Location = ()
) -> list[ConfigProblem]:
    problems = []
    for detail in error.errors():
        location: Location = within + tuple(detail["loc"])
        kind = detail["type"]
        if kind == "extra_forbidden":
            message = _unknown_key_message(location)
        elif kind == "missing":
            field = location[-1]
            location = location[:-1]
            message = f"'{field}' is required here"
        elif kind == "model_type":
            message = _mapping_expected_message(location)
        elif kind == "list_type":
            message = "write a list: [first, second], or one '- item' per line"
        else:
            message = str(detail["msg"]).removeprefix("Value error, ")
        problems.append(
            ConfigProblem(str(path), _line_of(location, lines), _dotted(location), message)
        )
    return problems


def _mapping_expected_message(location: Location) -> str:
    """For a section given a single value: pydantic's words name our classes ("a valid
    dictionary or instance of FeedSection"); these say what to write instead."""
    known = ", ".join(_section_at(location).model_fields)
    return f"write its keys under it, one 'key: value' per line ({known}), not a single value"


def _section_at(location: Location) -> type[BaseModel]:
    """The model of the section at `location` (a feed's for an item of `feeds`)."""
    name = next((str(part) for part in reversed(location) if isinstance(part, str)), "")
    return _SECTIONS.get(name, ConfigFile)


def _unknown_key_message(location: Location) -> str:
    key = str(location[-1])
    known = list(_section_at(location[:-1]).model_fields)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(known)
    return f"unknown key '{key}'; {hint}"


def _feed_config(
    feed: FeedSection, planet: PlanetSection, defaults: DefaultsSection, line: int | None
) -> FeedConfig:
    return FeedConfig(
        url=feed.url,
        name=feed.name,
        link=feed.link,
        tags=tuple(feed.tags),
        language=feed.language or defaults.language,
        interval=feed.interval or defaults.interval,
        min_interval=feed.min_interval or defaults.min_interval,
        max_interval=feed.max_interval or defaults.max_interval,
        timeout=feed.timeout or defaults.timeout,
        max_body_size=feed.max_body_size or defaults.max_body_size,
        enabled=defaults.enabled if feed.enabled is None else feed.enabled,
        line=line,
        excerpt_words=feed.excerpt_words or defaults.excerpt_words,
        avatar=feed.avatar,
        max_age=feed.max_age or defaults.max_age,
        new_feed_items=(
            defaults.new_feed_items if feed.new_feed_items is None else feed.new_feed_items
        ),
        retention=planet.retention,
        iframe_hosts=planet.iframe_hosts,
        include=tuple(rule for rule in (defaults.include, feed.include) if rule is not None),
        exclude=tuple(rule for rule in (defaults.exclude, feed.exclude) if rule is not None),
    )


def _bound_problems(path: Path, feeds: tuple[FeedConfig, ...]) -> list[ConfigProblem]:
    """The configured interval must lie within the bounds the adaptive schedule keeps to."""
    problems = []
    for index, feed in enumerate(feeds):
        if not feed.min_interval <= feed.interval <= feed.max_interval:
            problems.append(
                ConfigProblem(
                    str(path),
                    feed.line,
                    f"feeds[{index}].interval",
                    f"interval {_words(feed.interval)} is outside min_interval "
                    f"{_words(feed.min_interval)} .. max_interval {_words(feed.max_interval)}; "
                    "change the interval or the bounds (here or in defaults)",
                )
            )
    return problems


def _words(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def _raw_feed_urls(data: Any, lines: dict[Location, int]) -> list[tuple[int, str, int | None]]:
    """The feeds whose url is valid, read from the raw data so that duplicates are reported
    even when other parts of the file are invalid."""
    feeds = data.get("feeds") if isinstance(data, dict) else None
    found = []
    for index, item in enumerate(feeds if isinstance(feeds, list) else []):
        try:
            url = http_url(item.get("url") if isinstance(item, dict) else None)
        except ValueError:
            continue
        found.append((index, url, lines.get(("feeds", index))))
    return found


def _duplicate_problems(
    path: Path, feeds: list[tuple[int, str, int | None]]
) -> list[ConfigProblem]:
    seen: dict[str, int | None] = {}
    problems = []
    for index, url, line in feeds:
        key = _comparable_url(url)
        if key in seen:
            problems.append(
                ConfigProblem(
                    str(path),
                    line,
                    f"feeds[{index}].url",
                    f"duplicate feed {url}; it is already listed on line {seen[key]}; "
                    "remove one of them",
                )
            )
        else:
            seen[key] = line
    return problems


def _comparable_url(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def _relative_sqlite(url: str | None, base: Path) -> str | None:
    """Make a relative SQLite path in feeds.yaml relative to the file, not to the cwd.

    Done with string prefixes rather than SQLAlchemy's URL parser because config sits below the
    database layer and must not import it.
    """
    match = _SQLITE_FILE.match(url or "")
    if url is None or match is None:
        return url
    rest = url[match.end() :]
    if not rest or rest.startswith(("/", ":memory:")):
        return url
    return match.group(0) + str(base / rest)
