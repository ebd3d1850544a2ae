"""The `aggregator` command: parse options, call one job, print what happened.

Errors of the project become one clean message and an exit status here, and only here:
2 for feeds.yaml, 3 for the database, 4 for the output folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from aggregator import __version__, jobs
from aggregator.config import CONFIG_ENV, DATABASE_ENV, Settings, load_settings, parse_duration
from aggregator.daemon import DaemonOptions, run_daemon
from aggregator.db import open_database
from aggregator.errors import AggregatorError, ConfigError, OutputError, StorageError
from aggregator.feed_state import advice
from aggregator.lock import AlreadyRunning
from aggregator.logs import configure_logging
from aggregator.progress import ProgressReport
from aggregator.records import FeedView, PublishResult, UpdateResult

EXIT_CODES: dict[type[AggregatorError], int] = {ConfigError: 2, StorageError: 3, OutputError: 4}


@dataclass
class Options:
    config: Path
    database: str | None
    output: Path | None
    verbose: int

    def settings(self) -> Settings:
        return load_settings(self.config, self.database, self.output)


class AggregatorGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AggregatorError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(
                next((code for kind, code in EXIT_CODES.items() if isinstance(error, kind)), 1)
            )


@click.group(cls=AggregatorGroup)
@click.option(
    "-c",
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    default="feeds.yaml",
    envvar=CONFIG_ENV,
    show_default=True,
    help=f"The feeds.yaml to use (or ${CONFIG_ENV}).",
)
@click.option(
    "--database",
    metavar="URL",
    envvar=DATABASE_ENV,
    help=f"SQLAlchemy database URL (or ${DATABASE_ENV}); default: planet.database in "
    "feeds.yaml, else sqlite:///aggregator.db next to it.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the site; default: planet.output_dir, else public/ next to feeds.yaml.",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Say more: -v progress and a summary, -vv every event, -vvv debugging.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per log line, for log collectors.",
)
@click.version_option(__version__, prog_name="aggregator")
@click.pass_context
def cli(
    ctx: click.Context,
    config: Path,
    database: str | None,
    output: Path | None,
    verbose: int,
    log_format: str,
) -> None:
    """A planet for left and labour news: poll the feeds in feeds.yaml, keep their entries,
    publish one combined feed and page."""
    level = {0: logging.WARNING, 1: logging.WARNING, 2: logging.INFO}.get(verbose, logging.DEBUG)
    if ctx.invoked_subcommand == "run":
        level = min(level, logging.INFO)
    configure_logging(level, log_format)
    ctx.obj = Options(config=config, database=database, output=output, verbose=verbose)


@cli.command()
@click.pass_obj
def check(options: Options) -> None:
    """Validate feeds.yaml; exit 2 naming the file, line and problem."""
    settings = options.settings()
    enabled = sum(1 for feed in settings.feeds if feed.enabled)
    disabled = len(settings.feeds) - enabled
    click.echo(
        f"{settings.path}: OK, {enabled} feeds enabled"
        + (f", {disabled} disabled" if disabled else "")
    )
    lines = {feed.url: feed.line for feed in settings.feeds}
    for view in jobs.stored_feed_states(settings):
        hint = advice(view, str(settings.path), lines.get(view.url))
        if hint:
            click.echo(f"warning: {hint}", err=True)


@cli.command(name="update")
@click.option("--all", "ignore_schedule", is_flag=True, help="Poll every feed, due or not.")
@click.pass_obj
def update_command(options: Options, ignore_schedule: bool) -> None:
    """Poll the feeds that are due, store new entries and publish the site.

    Quiet when all is well, for cron: failures go to stderr; -v (or a terminal) adds progress
    and a summary. A second run while one is going exits at once with status 0.
    """
    settings = options.settings()
    sessions = jobs.open_store(settings)
    console = Console(stderr=True)
    report = ProgressReport(console if console.is_terminal else None, options.verbose > 0)
    try:
        with jobs.exclusive(settings, sessions):
            with report:
                result = jobs.update(
                    settings,
                    sessions,
                    ignore_schedule,
                    progress=report.advance,
                    started=report.start,
                )
            published = jobs.publish(settings, sessions)
    except AlreadyRunning as error:
        click.echo(f"{error}; this run did nothing")
        return
    for outcome in result.outcomes:
        if outcome.error:
            click.echo(f"failed: {outcome.name} <{outcome.url}>: {outcome.error}", err=True)
    if options.verbose or console.is_terminal:
        click.echo(_update_summary(result, published))


def _update_summary(result: UpdateResult, published: PublishResult) -> str:
    return (
        f"polled {result.polled} feeds in {result.duration:.1f}s: {result.new_entries} new, "
        f"{result.updated_entries} updated, {result.not_modified} unchanged, "
        f"{result.failed} failed; {_publish_summary(published)}"
    )


def _publish_summary(published: PublishResult) -> str:
    return f"wrote {len(published.written)} files, {len(published.unchanged)} unchanged"


@cli.command(name="publish")
@click.pass_obj
def publish_command(options: Options) -> None:
    """Write the site from the database without polling."""
    settings = options.settings()
    published = jobs.publish(settings, jobs.open_store(settings))
    click.echo(f"{settings.output_dir}: {_publish_summary(published)}")


@cli.command()
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=1),
    default=60,
    show_default=True,
    help="Seconds between looks for due feeds (each feed keeps its own schedule).",
)
@click.option(
    "--publish-delay",
    type=click.FloatRange(min=0),
    default=5,
    show_default=True,
    help="Seconds to wait after new entries before publishing, so a burst gives one publish.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=20,
    show_default=True,
    help="Seconds a stop signal lets the running update finish before stopping it.",
)
@click.pass_obj
def run(options: Options, poll_interval: float, publish_delay: float, grace: float) -> None:
    """Run as a daemon: poll feeds when due, publish, prune daily, reload an edited feeds.yaml
    (or on SIGHUP); stop with Ctrl-C or SIGTERM."""
    settings = options.settings()
    sessions = jobs.open_store(settings)
    daemon_options = DaemonOptions(
        poll_seconds=poll_interval, publish_delay=publish_delay, grace_seconds=grace
    )
    try:
        run_daemon(options.settings, settings, sessions, daemon_options)
    except AlreadyRunning as error:
        raise click.ClickException(str(error)) from None


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def feeds(options: Options, as_json: bool) -> None:
    """Show each feed's state: last fetch, HTTP status, entries, last error."""
    settings = options.settings()
    views = jobs.feed_states(settings, jobs.open_store(settings))
    lines = {feed.url: feed.line for feed in settings.feeds}
    hints = {view.url: advice(view, str(settings.path), lines.get(view.url)) for view in views}
    if as_json:
        click.echo(json.dumps([_feed_json(view, hints[view.url]) for view in views], indent=2))
        return
    console = Console()
    if console.is_terminal:
        table = Table(*_COLUMNS)
        for view in views:
            table.add_row(*_feed_row(view, hints[view.url]))
        console.print(table)
        return
    for view in views:
        click.echo("\t".join(_feed_row(view, hints[view.url])))


_COLUMNS = (
    "feed", "state", "last success", "next due", "errors", "HTTP", "entries", "reason",
)  # fmt: skip


def _feed_row(view: FeedView, hint: str | None) -> tuple[str, ...]:
    return (
        f"{view.name} <{view.url}>",
        _state(view),
        _when(view.last_success_at),
        _when(view.next_due_at) if view.status not in ("gone", "disabled") else "not polled",
        str(view.consecutive_errors),
        str(view.last_http_status or "-"),
        str(view.entry_count),
        hint or view.last_error or "-",
    )


def _state(view: FeedView) -> str:
    if view.status == "failing" and view.failing_since:
        return f"failing since {_when(view.failing_since)}"
    return view.status


def _feed_json(view: FeedView, hint: str | None) -> dict[str, Any]:
    data = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in asdict(view).items()
    }
    data["advice"] = hint
    return data


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


@cli.command(name="prune")
@click.option(
    "--older-than",
    metavar="DURATION",
    help="Prune entries published and fetch records made before this long ago "
    "(default: planet.retention, 180d).",
)
@click.pass_obj
def prune_command(options: Options, older_than: str | None) -> None:
    """Empty old entries (kept as tombstones so they never return as new) and drop old fetch
    history; what the published pages show is never pruned."""
    settings = options.settings()
    try:
        age = parse_duration(older_than) if older_than else settings.planet.retention
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--older-than") from None
    counts = jobs.prune(settings, jobs.open_store(settings), age)
    click.echo(f"pruned {counts.entries} entries and {counts.attempts} fetch records")


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@click.pass_obj
def upgrade(options: Options) -> None:
    """Apply pending schema migrations (every command also does this on start)."""
    settings = options.settings()
    open_database(settings.database_url)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    click.echo(f"{shown}: schema is up to date")


def main() -> None:
    cli(prog_name="aggregator")


if __name__ == "__main__":
    main()
