"""Every command explains itself, and the README documents every command, option and feeds.yaml
key with the default the code gives it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from aggregator.cli import cli
from aggregator.config import Settings, load_settings
from aggregator.errors import ConfigError

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix}{name} "))
    return found


COMMANDS = _commands(cli)


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_command_has_help_and_is_in_the_readme(name: str, command: click.Command) -> None:
    assert command.help, f"{name} has no help text"
    assert f"aggregator {name}" in README, f"README.md does not mention `aggregator {name}`"
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0
    assert command.help.split(".")[0].split("\n")[0][:30] in result.output


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_option_is_in_the_readme(name: str, command: click.Command) -> None:
    for parameter in command.params:
        if isinstance(parameter, click.Option) and parameter.name != "help":
            assert any(flag in README for flag in parameter.opts), (name, parameter.opts)


def test_global_options_are_in_the_readme() -> None:
    for parameter in cli.params:
        if isinstance(parameter, click.Option):
            assert any(flag in README for flag in parameter.opts), parameter.opts


def test_version_is_printed() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("aggregator, version ")


def _config_keys() -> list[str]:
    from aggregator.config import DefaultsSection, FeedSection, OwnerSection, PlanetSection

    keys = [f"owner.{name}" for name in OwnerSection.model_fields]
    for section in (PlanetSection, DefaultsSection, FeedSection):
        keys.extend(name for name in section.model_fields if name != "owner")
    return keys


@pytest.mark.parametrize("key", _config_keys())
def test_every_feeds_yaml_key_is_documented(key: str) -> None:
    assert f"`{key}`" in README, f"README.md does not document the feeds.yaml key {key}"


def _readme_defaults(section: str) -> dict[str, str]:
    """The default column of the README's table of feeds.yaml keys for `section` (the table
    under the line that starts with it in backticks), key by key."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"`{section}`"))
    rows: dict[str, str] = {}
    for line in lines[start + 3 :]:
        if not line.startswith("|"):
            break
        keys, default = (cell.strip() for cell in line.strip("|").split("|")[:2])
        for key in re.findall(r"`([^`]+)`", keys):
            rows[key] = default
    return rows


def _documented_value(default: str) -> str | None:
    """What the README's default cell says to write in feeds.yaml (YAML text), or None where
    the cell is words: a value another key gives, or the feed's own."""
    if default.startswith("none"):
        return "null"
    if default == "empty":
        return '""'
    literal = re.fullmatch(r"`([^`]+)`", default)
    return literal.group(1) if literal else None


# The least a feeds.yaml holds, as YAML text by key; a feed's name comes first, so that the feed
# is there with or without the key under test.
_MINIMAL = {
    "planet": {"title": "T", "link": "https://planet.example.org/"},
    "defaults": {},
    "feeds": {"name": "F", "url": "https://example.org/feed"},
}


def _settings_with(tmp_path: Path, section: str, key: str, value: str | None) -> Settings:
    """A minimal feeds.yaml with `key` of `section` set to the YAML text `value`, or left out
    when it is None (a comment in its place, so that every other line stays where it was)."""
    text = ""
    for name, minimal in _MINIMAL.items():
        text += f"{name}:\n"
        values = {**minimal, key: value} if name == section else minimal
        for position, (each, written) in enumerate(values.items()):
            *parents, last = each.split(".")
            line = "".join(f"{parent}: {{" for parent in parents) + f"{last}: {written}"
            line = line + "}" * len(parents) if written is not None else "# left out"
            indent = ("- " if position == 0 else "  ") if name == "feeds" else ""
            text += f"  {indent}{line}\n"
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def _effect(settings: Settings) -> tuple[Any, ...]:
    """All that a feeds.yaml key can change. planet.output_dir and planet.database are compared
    by what they resolve to (the settings' output folder and database URL), which is what the
    README's defaults for them describe."""
    planet = settings.planet.model_dump(exclude={"output_dir", "database"})
    return planet, settings.feeds, settings.database_url, settings.output_dir, settings.theme_dir


DOCUMENTED_DEFAULTS = [
    (section, key, default)
    for section in ("planet", "defaults", "feeds")
    for key, default in _readme_defaults(section).items()
]


@pytest.mark.parametrize(
    ("section", "key", "default"),
    DOCUMENTED_DEFAULTS,
    ids=[f"{section}.{key}" for section, key, _ in DOCUMENTED_DEFAULTS],
)
def test_every_documented_default_is_the_default(
    tmp_path: Path, section: str, key: str, default: str
) -> None:
    """Writing a key's documented default into feeds.yaml changes nothing; a key documented as
    required is refused when it is left out."""
    if default == "required":
        with pytest.raises(ConfigError) as refused:
            _settings_with(tmp_path, section, key, None)
        assert f"'{key}' is required" in str(refused.value)
        return
    value = _documented_value(default)
    if value is None:
        assert section == "feeds", f"the README gives {section}.{key}'s default in words"
        return
    assert _effect(_settings_with(tmp_path, section, key, value)) == _effect(
        _settings_with(tmp_path, section, key, None)
    ), f"README.md says {section}.{key} defaults to {default}"


def test_the_tables_of_defaults_are_read() -> None:
    """The test above is only as good as the README's tables are found: each key once, and the
    first key of each table among them."""
    documented = {f"{section}.{key}" for section, key, _ in DOCUMENTED_DEFAULTS}
    assert len(documented) == len(DOCUMENTED_DEFAULTS)
    assert {"planet.title", "defaults.interval", "feeds.url", "planet.owner.name"} <= documented


def _options_with_defaults() -> list[tuple[str, str, Any]]:
    found = []
    for name, command in [("", cli), *COMMANDS]:
        for parameter in command.params:
            default = parameter.default
            if (
                isinstance(parameter, click.Option)
                and isinstance(default, int | str)
                and not (parameter.is_flag or parameter.count)
            ):
                found.append((name, parameter.opts[-1], default))
    return found


OPTION_DEFAULTS = _options_with_defaults()


@pytest.mark.parametrize(
    ("name", "flag", "default"),
    OPTION_DEFAULTS,
    ids=[f"{name} {flag}".strip() for name, flag, _ in OPTION_DEFAULTS],
)
def test_every_option_default_is_the_one_the_readme_gives(
    name: str, flag: str, default: Any
) -> None:
    """The README gives an option's default soon after naming it: "`--grace` seconds (default
    20)", or in the next cell of the table of global options."""
    mentions = [match.end() for match in re.finditer(re.escape(f"`{flag}"), README)]
    assert mentions, f"README.md does not mention {flag}"
    assert any(
        re.search(rf"(default|\|) `?(\./)?{re.escape(str(default))}\b", README[at : at + 80])
        for at in mentions
    ), f"README.md does not give {flag}'s default, {default}"
