"""What a maintainer sees when feeds.yaml is wrong: `aggregator check` names the file, the
line and a hint, reports every problem at once, and never touches the database.

Each feeds.yaml is written out as literal text so that the line numbers asserted below can be
read off the test itself.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from textwrap import dedent

import hypothesis
import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from aggregator.cli import cli
from aggregator.config import CONFIG_ENV, DATABASE_ENV, load_settings, parse_duration
from aggregator.yaml_document import read_document
from tests.conftest import Planet

SHIPPED = Path(__file__).parents[1] / "feeds.yaml"


def check(planet: Planet, text: str) -> Result:
    """Write `text` (dedented, so its first line is line 1) as feeds.yaml and run `check`."""
    planet.config.write_text(dedent(text), encoding="utf-8")
    return planet.run("check")


def problems(result: Result) -> list[str]:
    """The reported problems: one non-blank stderr line each."""
    return [line for line in result.stderr.splitlines() if line.strip()]


def problems_at(result: Result, config: Path, line: int) -> list[str]:
    """The problems reported at `config:line`, whether or not they carry the `error: ` prefix."""
    location = f"{config}:{line}: "
    return [
        problem
        for problem in problems(result)
        if problem.removeprefix("error: ").startswith(location)
    ]


def assert_one_problem(result: Result, config: Path, line: int, *phrases: str) -> str:
    """Exit 2 and exactly one problem, at `config:line`, containing every phrase."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert len(problems(result)) == 1, result.stderr
    [problem] = problems_at(result, config, line) or [None]
    assert problem is not None, f"nothing reported at {config}:{line}:\n{result.stderr}"
    for phrase in phrases:
        assert phrase in problem, f"{phrase!r} not in {problem!r}"
    return problem


def reported_lines(result: Result, config: Path) -> list[int]:
    lines = []
    for problem in problems(result):
        rest = problem.removeprefix("error: ").removeprefix(f"{config}:")
        number, _, _ = rest.partition(":")
        assert number.isdigit(), f"no line number in {problem!r}"
        lines.append(int(number))
    return sorted(lines)


# --- The shipped file ---------------------------------------------------------------------------


def test_shipped_feeds_yaml_passes_check() -> None:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    default_enabled = (data.get("defaults") or {}).get("enabled", True)
    enabled = sum(1 for feed in data["feeds"] if feed.get("enabled", default_enabled))
    assert enabled > 0

    result = CliRunner().invoke(cli, ["-c", str(SHIPPED), "check"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert f"{SHIPPED}: OK, {enabled} feeds enabled" in result.stdout


# --- Unknown keys: a typo gets a suggestion -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "phrases"),
    [
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
                intervall: 2h
            """,
            6,
            ["feeds[0].intervall", "unknown key 'intervall'", "did you mean 'interval'"],
            id="feed",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            default:
              interval: 2h
            feeds:
              - url: https://one.test/feed
            """,
            4,
            ["unknown key 'default'", "did you mean 'defaults'"],
            id="top-level",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
              descripton: Left and labour news
            feeds:
              - url: https://one.test/feed
            """,
            4,
            ["planet.descripton", "unknown key 'descripton'", "did you mean 'description'"],
            id="planet",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
              owner:
                name: Test Owner
                emial: owner@planet.test
            """,
            6,
            ["planet.owner.emial", "did you mean 'email'"],
            id="planet-owner",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            defaults:
              timout: 10s
            """,
            5,
            ["defaults.timout", "did you mean 'timeout'"],
            id="defaults",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
                name: One
                colour: red
            """,
            7,
            ["unknown key 'colour'", "known keys: url, name, link, tags"],
            id="feed-no-close-match",
        ),
    ],
)
def test_unknown_key_is_reported_on_its_line_with_a_hint(
    planet: Planet, text: str, line: int, phrases: list[str]
) -> None:
    result = check(planet, text)
    assert_one_problem(result, planet.config, line, *phrases)


# --- Required keys ------------------------------------------------------------------------------


def test_feed_without_url_is_reported_on_the_line_of_that_feed(planet: Planet) -> None:
    result = check(
        planet,
        """\
        planet:
          title: Test Planet
          link: https://planet.test/
        feeds:
          - url: https://one.test/feed
          - name: No address
            tags: [labour]
          - url: https://three.test/feed
        """,
    )
    assert_one_problem(result, planet.config, 6, "feeds[1]", "'url' is required")


def test_planet_without_title_is_reported_on_the_planet_line(planet: Planet) -> None:
    result = check(
        planet,
        """\
        feeds:
          - url: https://one.test/feed
        planet:
          link: https://planet.test/
        """,
    )
    assert_one_problem(result, planet.config, 3, "planet", "'title' is required")


# --- Empty sections and values of the wrong shape -----------------------------------------------


def test_a_section_with_every_line_commented_out_is_no_section(planet: Planet) -> None:
    result = check(
        planet,
        """\
        planet:
          title: Test Planet
          link: https://planet.test/
          owner:
            # name: Planet maintainers
        defaults:
          # interval: 2h
        feeds:
          # - url: https://one.test/feed
        """,
    )
    assert result.exit_code == 0, result.output
    settings = load_settings(planet.config)
    assert settings.feeds == ()
    assert settings.planet.owner.name is None


@pytest.mark.parametrize(
    ("text", "line", "phrases"),
    [
        ("defaults: 1h\nfeeds: []\n", 4, ["defaults", "'key: value'", "(interval, min_interval"]),
        ("feeds: https://one.test/feed\n", 4, ["feeds", "write a list"]),
        ("feeds:\n  - https://one.test/feed\n", 5, ["feeds[0]", "'key: value'", "(url, name"]),
        ("feeds:\n  - url: https://one.test/f\n    tags: union\n", 6, ["tags", "[first, second]"]),
    ],
)
def test_a_value_of_the_wrong_shape_says_what_to_write(
    planet: Planet, text: str, line: int, phrases: list[str]
) -> None:
    result = check(planet, "planet:\n  title: Test Planet\n  link: https://planet.test/\n" + text)
    problem = assert_one_problem(result, planet.config, line, *phrases)
    assert "Section" not in problem and "dictionary" not in problem


# --- Addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "where"),
    [
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
              - url: ftp://example.org/feed
            """,
            6,
            "feeds[1].url",
            id="ftp-url",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: not a url
            """,
            5,
            "feeds[0].url",
            id="not-a-url",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
                name: One
                link: example.org
            """,
            7,
            "feeds[0].link",
            id="feed-link-without-scheme",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: example.org
            """,
            3,
            "planet.link",
            id="planet-link-without-scheme",
        ),
    ],
)
def test_bad_url_is_reported_with_the_schemes_it_needs(
    planet: Planet, text: str, line: int, where: str
) -> None:
    result = check(planet, text)
    assert_one_problem(result, planet.config, line, where, "http:// or https://")


# --- Duplicate feeds ----------------------------------------------------------------------------

DUPLICATE_FEEDS = """\
planet:
  title: Test Planet
  link: https://planet.test/
feeds:
  - url: https://one.test/feed
    name: One
  - url: https://two.test/feed
  - url: {second}
    name: One again
"""


@pytest.mark.parametrize(
    "second",
    [
        pytest.param("https://one.test/feed", id="same-url"),
        pytest.param("https://ONE.test/feed", id="host-upper-case"),
        pytest.param("https://One.Test/feed", id="host-mixed-case"),
        pytest.param("HTTPS://one.test/feed", id="scheme-upper-case"),
    ],
)
def test_duplicate_feed_is_reported_on_the_second_naming_the_first(
    planet: Planet, second: str
) -> None:
    result = check(planet, DUPLICATE_FEEDS.format(second=second))
    assert_one_problem(result, planet.config, 8, "feeds[2]", f"duplicate feed {second}", "line 5")


def test_feeds_differing_in_path_case_are_not_duplicates(planet: Planet) -> None:
    result = check(planet, DUPLICATE_FEEDS.format(second="https://one.test/FEED"))
    assert result.exit_code == 0, result.output
    assert "OK, 3 feeds enabled" in result.stdout


# --- Intervals ----------------------------------------------------------------------------------

FEED_INTERVAL = """\
planet:
  title: Test Planet
  link: https://planet.test/
feeds:
  - url: https://one.test/feed
    interval: {interval}
"""


@pytest.mark.parametrize(
    ("interval", "phrase"),
    [
        pytest.param("30x", "'30x' is not a duration", id="unknown-unit"),
        pytest.param("0m", "must be positive", id="zero"),
        pytest.param("30", "has no unit", id="bare-number"),
        pytest.param("'30'", "has no unit", id="quoted-bare-number"),
        pytest.param("1h30", "'1h30' is not a duration", id="trailing-number"),
        pytest.param("-5m", "'-5m' is not a duration", id="negative"),
        pytest.param(
            "99999999999999999999w", "99999999999999999999w", id="too-large-for-timedelta"
        ),
        pytest.param("100000000d", "100000000d", id="too-large-for-a-schedule"),
    ],
)
def test_bad_feed_interval_is_reported_on_its_line(
    planet: Planet, interval: str, phrase: str
) -> None:
    result = check(planet, FEED_INTERVAL.format(interval=interval))
    assert_one_problem(result, planet.config, 6, "feeds[0].interval", phrase)


def test_bad_default_interval_is_reported_on_its_line(planet: Planet) -> None:
    result = check(
        planet,
        """\
        planet:
          title: Test Planet
          link: https://planet.test/
        defaults:
          timeout: 10s
          interval: soon
        feeds:
          - url: https://one.test/feed
        """,
    )
    assert_one_problem(
        result, planet.config, 6, "defaults.interval", "'soon' is not a duration", "like 30m"
    )


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
    ],
)
def test_good_feed_interval_is_accepted(planet: Planet, interval: str, expected: timedelta) -> None:
    result = check(planet, FEED_INTERVAL.format(interval=interval))

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "OK, 1 feeds enabled" in result.stdout
    assert load_settings(planet.config).feeds[0].interval == expected


# --- Other values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "where", "value"),
    [
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
                language: english
            """,
            6,
            "feeds[0].language",
            "'english'",
            id="feed-word",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
                language: en_US
            """,
            6,
            "feeds[0].language",
            "'en_US'",
            id="feed-underscore",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
              language: e
            """,
            4,
            "planet.language",
            "'e'",
            id="planet-too-short",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            defaults:
              language: français
            """,
            5,
            "defaults.language",
            "'français'",
            id="defaults-word",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
              language: |
                en
            """,
            4,
            "planet.language",
            "'en\\n'",
            id="planet-block-scalar-trailing-newline",
        ),
    ],
)
def test_bad_language_code_is_reported_on_its_line(
    planet: Planet, text: str, line: int, where: str, value: str
) -> None:
    result = check(planet, text)
    assert_one_problem(result, planet.config, line, where, value, "is not a language code")


@pytest.mark.parametrize("language", ["en", "es", "pt-BR", "es-419"])
def test_good_language_code_is_accepted(planet: Planet, language: str) -> None:
    result = check(
        planet,
        f"""\
        planet:
          title: Test Planet
          link: https://planet.test/
        feeds:
          - url: https://one.test/feed
            language: {language}
        """,
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("key", "value", "phrase"),
    [
        ("items_per_page", "0", "greater than or equal to 1"),
        ("items_per_page", "1001", "less than or equal to 1000"),
        ("feed_items", "0", "greater than or equal to 1"),
    ],
)
def test_out_of_range_page_size_is_reported_on_its_line(
    planet: Planet, key: str, value: str, phrase: str
) -> None:
    result = check(
        planet,
        f"""\
        planet:
          title: Test Planet
          link: https://planet.test/
          {key}: {value}
        feeds:
          - url: https://one.test/feed
        """,
    )
    assert_one_problem(result, planet.config, 4, f"planet.{key}", phrase)


@pytest.mark.parametrize("key", ["parse_workers", "publish_workers"])
@pytest.mark.parametrize("value", ["lots", "65", "-1", "true", "[2]"])
def test_a_bad_number_of_workers_is_one_problem_saying_what_to_write(
    planet: Planet, key: str, value: str
) -> None:
    text = f"planet:\n  title: T\n  link: https://planet.test/\n  {key}: {value}\nfeeds: []\n"
    problem = assert_one_problem(check(planet, text), planet.config, 4, f"planet.{key}:")
    assert problem.endswith("write auto, or a number of processes from 0 to 64"), problem


@pytest.mark.parametrize(
    ("value", "expected"), [("auto", "auto"), ("0", 0), ("64", 64), ('"3"', 3)]
)
def test_a_number_of_workers_or_auto_is_accepted(
    planet: Planet, value: str, expected: object
) -> None:
    text = f"planet:\n  title: T\n  link: https://planet.test/\n  parse_workers: {value}\n"
    planet.config.write_text(text, encoding="utf-8")
    assert load_settings(planet.config).planet.parse_workers == expected


# --- YAML syntax --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
                tags: [labour, unions
                language: en
              - url: https://two.test/feed
            """,
            6,
            id="unclosed-bracket",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
                name: "Solidarity
              - url: https://two.test/feed
            """,
            6,
            id="unclosed-quote",
        ),
        pytest.param(
            """\
            planet:
              title: Test: Planet
              link: https://planet.test/
            """,
            2,
            id="colon-in-plain-value",
        ),
        pytest.param(
            "planet:\n  title: Test Planet\n\tlink: https://planet.test/\n",
            3,
            id="tab-indentation",
        ),
    ],
)
def test_invalid_yaml_is_reported_on_the_line_of_the_problem(
    planet: Planet, text: str, line: int
) -> None:
    result = check(planet, text)
    assert_one_problem(result, planet.config, line, "not valid YAML")


@pytest.mark.parametrize(
    ("text", "line", "first_line", "where"),
    [
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
                interval: 2h
                interval: 3h
            """,
            7,
            6,
            "feeds[0].interval",
            id="in-a-feed",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
            feeds:
              - url: https://two.test/feed
            """,
            6,
            4,
            "feeds",
            id="second-feeds-section",
        ),
    ],
)
def test_duplicate_key_names_both_lines(
    planet: Planet, text: str, line: int, first_line: int, where: str
) -> None:
    result = check(planet, text)
    assert_one_problem(
        result, planet.config, line, f"{where}: duplicate key", f"already set on line {first_line}"
    )


# --- Every problem at once ----------------------------------------------------------------------


def test_several_problems_are_all_reported_at_once(planet: Planet) -> None:
    result = check(
        planet,
        """\
        planet:
          title: Test Planet
          link: planet.test
          items_per_page: 0
        defaults:
          interval: soon
        feeds:
          - url: https://one.test/feed
            intervall: 2h
          - name: No address
          - url: https://three.test/feed
            language: english
        """,
    )

    assert result.exit_code == 2, result.output
    assert reported_lines(result, planet.config) == [3, 4, 6, 9, 10, 12], result.stderr
    assert "http:// or https://" in problems_at(result, planet.config, 3)[0]
    assert "greater than or equal to 1" in problems_at(result, planet.config, 4)[0]
    assert "not a duration" in problems_at(result, planet.config, 6)[0]
    assert "did you mean 'interval'" in problems_at(result, planet.config, 9)[0]
    assert "'url' is required" in problems_at(result, planet.config, 10)[0]
    assert "not a language code" in problems_at(result, planet.config, 12)[0]


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
                interval: 2h
                interval: 3h
              - url: https://two.test/feed
                intervall: 2h
            """,
            [7, 9],
            id="duplicate-key-and-unknown-key",
        ),
        pytest.param(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: https://one.test/feed
              - url: https://one.test/feed
              - url: https://two.test/feed
                interval: 30x
            """,
            [6, 8],
            id="duplicate-feed-and-bad-interval",
        ),
    ],
)
def test_problems_found_at_different_stages_are_reported_together(
    planet: Planet, text: str, lines: list[int]
) -> None:
    result = check(planet, text)

    assert result.exit_code == 2, result.output
    assert reported_lines(result, planet.config) == lines, result.stderr


# --- Finding the file ---------------------------------------------------------------------------


def test_missing_file_is_a_clear_error(planet: Planet) -> None:
    assert not planet.config.exists()

    result = planet.run("check")

    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"error: {planet.config}: no such file; pass -c PATH or set ${CONFIG_ENV}"
    )


VALID = """\
planet:
  title: Test Planet
  link: https://planet.test/
feeds:
  - url: https://one.test/feed
  - url: https://two.test/feed
"""


def test_config_env_var_is_used_when_no_c_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "cwd"
    empty.mkdir()
    monkeypatch.chdir(empty)  # no feeds.yaml here to fall back on
    config = tmp_path / "elsewhere" / "planet.yaml"
    config.parent.mkdir()
    config.write_text(VALID, encoding="utf-8")

    result = CliRunner().invoke(
        cli, ["check"], env={CONFIG_ENV: str(config)}, catch_exceptions=False
    )

    assert result.exit_code == 0, result.output
    assert f"{config}: OK, 2 feeds enabled" in result.stdout


def test_config_env_var_errors_name_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "elsewhere" / "planet.yaml"
    config.parent.mkdir()
    config.write_text(VALID.replace("url: https://two", "url: ftp://two"), "utf-8")

    result = CliRunner().invoke(
        cli, ["check"], env={CONFIG_ENV: str(config)}, catch_exceptions=False
    )

    assert result.exit_code == 2, result.output
    assert reported_lines(result, config) == [6], result.stderr
    assert "http:// or https://" in result.stderr


def test_c_option_wins_over_config_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    given_path = tmp_path / "given.yaml"
    given_path.write_text(VALID, encoding="utf-8")
    from_env = tmp_path / "absent.yaml"

    result = CliRunner().invoke(
        cli,
        ["-c", str(given_path), "check"],
        env={CONFIG_ENV: str(from_env)},
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    assert f"{given_path}: OK, 2 feeds enabled" in result.stdout


# --- A broken file stops before the database ----------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["update"], ["update", "--all"], ["feeds"], ["publish"], ["db", "upgrade"]],
    ids=" ".join,
)
def test_broken_config_never_touches_the_database(planet: Planet, command: list[str]) -> None:
    url = make_url(planet.database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        pytest.skip("needs a file-backed SQLite database to see whether it was created")
    database = Path(url.database)
    assert not database.exists()
    planet.config.write_text(
        dedent(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
            feeds:
              - url: http://127.0.0.1:9/feed
                intervall: 2h
            """
        ),
        encoding="utf-8",
    )

    result = planet.run(*command)

    assert result.exit_code == 2, result.output
    assert reported_lines(result, planet.config) == [6], result.stderr
    assert not database.exists()
    assert not planet.output.exists()


# --- Paths in feeds.yaml are relative to it -----------------------------------------------------


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A feeds.yaml in tmp_path/site, with the cwd somewhere else."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "feeds.yaml").write_text(
        dedent(
            """\
            planet:
              title: Test Planet
              link: https://planet.test/
              output_dir: public
              database: sqlite:///rel.db
            feeds:
              - url: https://one.test/feed
            """
        ),
        encoding="utf-8",
    )
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return folder


@pytest.mark.parametrize("relative_argument", [False, True], ids=["absolute", "relative"])
def test_output_dir_and_database_are_relative_to_the_file(
    site: Path, relative_argument: bool
) -> None:
    path = Path("../site/feeds.yaml") if relative_argument else site / "feeds.yaml"

    settings = load_settings(path)

    base = site.resolve()
    assert settings.output_dir == base / "public"
    assert settings.database_url == f"sqlite:///{base / 'rel.db'}"


def test_defaults_are_next_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "feeds.yaml").write_text(VALID, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    settings = load_settings(Path("site/feeds.yaml"))

    assert settings.output_dir == folder.resolve() / "public"
    assert settings.database_url == f"sqlite:///{folder.resolve() / 'aggregator.db'}"


@pytest.mark.parametrize(
    "database",
    ["sqlite:////var/lib/planet/planet.db", "sqlite:///:memory:", "postgresql://u@db/planet"],
)
def test_absolute_and_server_database_urls_are_kept(site: Path, database: str) -> None:
    config = site / "feeds.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("sqlite:///rel.db", f"'{database}'"),
        "utf-8",
    )

    assert load_settings(config).database_url == database


def test_explicit_database_url_wins_over_file_and_environment(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATABASE_ENV, "sqlite:////from/environment.db")

    settings = load_settings(site / "feeds.yaml", database_url="sqlite:////from/argument.db")

    assert settings.database_url == "sqlite:////from/argument.db"


def test_database_env_var_wins_over_file(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATABASE_ENV, "sqlite:////from/environment.db")

    settings = load_settings(site / "feeds.yaml")

    assert settings.database_url == "sqlite:////from/environment.db"


def test_explicit_output_dir_wins_over_file(site: Path, tmp_path: Path) -> None:
    settings = load_settings(site / "feeds.yaml", output_dir=tmp_path / "out")

    assert settings.output_dir == tmp_path / "out"


# --- parse_duration, for every input ------------------------------------------------------------

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# (n, unit) with n >= 1; five parts at most add up to no more than a year, which any sane
# upper bound on an interval allows.
DURATION_PARTS = st.sampled_from(sorted(UNITS)).flatmap(
    lambda unit: st.tuples(
        st.integers(min_value=1, max_value=73 * 86400 // UNITS[unit]), st.just(unit)
    )
)

# Text built from (number, unit-ish) parts, so that the interesting corners — zero, huge
# numbers, missing or unknown units, stray spaces — come up far more often than in st.text().
NEAR_DURATIONS = st.lists(
    st.tuples(
        st.integers(min_value=0).map(str),
        st.sampled_from(["s", "m", "h", "d", "w", "W", "x", "", " "]),
    ),
    max_size=4,
).map(lambda parts: "".join(number + unit for number, unit in parts))


@hypothesis.settings(derandomize=True, max_examples=300)
@given(
    parts=st.lists(DURATION_PARTS, min_size=1, max_size=5),
    separator=st.sampled_from(["", " "]),
    upper=st.booleans(),
)
def test_parse_duration_is_the_sum_of_its_parts(
    parts: list[tuple[int, str]], separator: str, upper: bool
) -> None:
    text = separator.join(f"{n}{unit.upper() if upper else unit}" for n, unit in parts)

    assert parse_duration(text) == timedelta(seconds=sum(n * UNITS[unit] for n, unit in parts))


@hypothesis.settings(derandomize=True, max_examples=500)
@given(
    text=st.one_of(
        st.text(),
        st.text(alphabet="0123456789smhdwSMHDW x.-:", max_size=40),
        NEAR_DURATIONS,
    )
)
@example(text="")
@example(text="   ")
@example(text="0s0m")
@example(text="99999999999999999999w")
def test_parse_duration_returns_a_positive_timedelta_or_raises_value_error(text: str) -> None:
    try:
        result = parse_duration(text)
    except ValueError:
        return
    assert isinstance(result, timedelta)
    assert result > timedelta(0)


def test_relative_sqlite_path_with_a_driver_name_is_relative_to_the_file(site: Path) -> None:
    config = site / "feeds.yaml"
    text = config.read_text(encoding="utf-8").replace("sqlite:///", "sqlite+pysqlite:///")
    config.write_text(text, "utf-8")

    assert load_settings(config).database_url == f"sqlite+pysqlite:///{site.resolve() / 'rel.db'}"


def test_an_alias_that_contains_itself_is_an_error_not_a_crash(planet: Planet) -> None:
    result = check(
        planet,
        """\
        planet: {title: T, link: "https://planet.test/"}
        feeds: &loop [*loop]
        """,
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert problems_at(result, planet.config, 2)
    assert "refers to itself" in result.stderr


def test_an_interval_outside_its_bounds_is_reported_on_the_feed_line(planet: Planet) -> None:
    result = check(
        planet,
        """\
        planet: {title: T, link: "https://planet.test/"}
        defaults: {max_interval: 6h}
        feeds:
          - url: https://one.test/feed
            interval: 1d
        """,
    )
    assert_one_problem(result, planet.config, 4, "interval 1d is outside", "max_interval 6h")


@pytest.mark.parametrize(
    ("size", "phrase"),
    [("10", "is not a size"), ("10XB", "is not a size"), ("2GiB", "out of range")],
)
def test_a_bad_body_size_is_reported_on_its_line(planet: Planet, size: str, phrase: str) -> None:
    result = check(
        planet,
        f"""\
        planet: {{title: T, link: "https://planet.test/"}}
        feeds:
          - url: https://one.test/feed
            max_body_size: {size}
        """,
    )
    assert_one_problem(result, planet.config, 4, phrase)


def test_a_feed_can_take_its_settings_from_another_with_a_merge_key(planet: Planet) -> None:
    planet.config.write_text(
        dedent(
            """\
            planet: {title: T, link: "https://planet.test/"}
            feeds:
              - &union {url: "https://union.test/feed", tags: [union], interval: 2h}
              - <<: *union
                url: "https://branch.test/feed"
                interval: 3h
            """
        ),
        encoding="utf-8",
    )

    first, second = load_settings(planet.config).feeds

    assert (first.url, first.tags, first.interval) == (
        "https://union.test/feed", ("union",), timedelta(hours=2)
    )  # fmt: skip
    assert (second.url, second.tags, second.interval) == (
        "https://branch.test/feed", ("union",), timedelta(hours=3)
    )  # fmt: skip


def test_a_bad_value_reached_through_an_alias_is_reported_where_each_uses_it(
    planet: Planet,
) -> None:
    result = check(
        planet,
        """\
        planet: {title: T, link: "https://planet.test/"}
        feeds:
          - &union {url: "https://union.test/feed", interval: soon}
          - <<: *union
            url: "https://branch.test/feed"
          - url: "https://local.test/feed"
            interval: later
            <<: *union
        """,
    )

    assert result.exit_code == 2, result.output
    assert reported_lines(result, planet.config) == [3, 4, 7]
    assert all("interval" in problem for problem in problems(result))


yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.dates(),
)
yaml_data = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(yaml_data, st.sampled_from([None, True, False]))
@hypothesis.settings(max_examples=200, deadline=None)
def test_feeds_yaml_is_read_as_yaml_safe_load_reads_it(data: object, flow: bool | None) -> None:
    """feeds.yaml is read from the parser's events, not through yaml.safe_load; the data must
    be the same, whatever the document holds and however it is laid out."""
    text = yaml.safe_dump({"planet": data}, default_flow_style=flow, allow_unicode=True)

    assert read_document(text, getattr(yaml, "CSafeLoader", yaml.SafeLoader)).data == (
        yaml.safe_load(text)
    )
    assert read_document(text, yaml.SafeLoader).data == yaml.safe_load(text)
