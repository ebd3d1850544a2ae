"""Every command explains itself, and the README documents every command and option."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aggregator.cli import cli

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
