"""The `aggregator` command: parse options, call one job, print what happened.

Errors of the project become one clean message and an exit status here, and only here:
2 for feeds.yaml, 3 for the database, 4 for the output folder.

The modules of the commands that edit feeds.yaml (ruamel.yaml), import subscription lists or
run the daemon (APScheduler) are loaded by those commands: a cron job's `update` runs without
them.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.engine import make_url

from aggregator import __version__, jobs
from aggregator.config import (
    CONFIG_ENV,
    DATABASE_ENV,
    Settings,
    http_url,
    load_settings,
    parse_duration,
)
from aggregator.db import engine_of
from aggregator.errors import AggregatorError, ConfigError, OutputError, StorageError
from aggregator.feed_state import CONFIRMED_MOVE, advice
from aggregator.lock import AlreadyRunning
from aggregator.logs import configure_logging
from aggregator.progress import ProgressReport, progress_terminal
from aggregator.records import FeedView, PublishResult, UpdateResult

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from aggregator import feeds_file
    from aggregator.probe import Probe
    from aggregator.subscriptions import Imported

EXIT_CODES: dict[type[AggregatorError], int] = {ConfigError: 2, StorageError: 3, OutputError: 4}


@dataclass
class Options:
    config: Path
    database: str | None
    output: Path | None
    verbose: int

    def settings(self) -> Settings:
        return load_settings(self.config, self.database, self.output)


def _open_store(settings: Settings) -> sessionmaker[Session]:
    """The database, its connections closed when the command ends rather than whenever the
    collector finds the engine: commands run one after another in one process too (the tests,
    a script calling the CLI), and PostgreSQL refuses clients beyond its limit."""
    sessions = jobs.open_store(settings)
    click.get_current_context().call_on_close(engine_of(sessions).dispose)
    return sessions


dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Show the change to feeds.yaml without making it."
)


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
@click.option(
    "--fix",
    is_flag=True,
    help="Change in feeds.yaml the urls of feeds whose permanent move the database has "
    f"confirmed ({CONFIRMED_MOVE} good fetches in a row at the new address), keeping comments.",
)
@click.option("--online", is_flag=True, help="Fetch every feed once and say how it answers.")
@click.pass_obj
def check(options: Options, fix: bool, online: bool) -> None:
    """Validate feeds.yaml; exit 2 naming the file, line and problem. Warns about feeds the
    database knows to have moved or gone."""
    settings = options.settings()
    enabled = sum(1 for feed in settings.feeds if feed.enabled)
    disabled = len(settings.feeds) - enabled
    click.echo(
        f"{settings.path}: OK, {enabled} feeds enabled"
        + (f", {disabled} disabled" if disabled else "")
    )
    lines = {feed.url: feed.line for feed in settings.feeds}
    views = jobs.stored_feed_states(settings)
    for view in views:
        hint = advice(view, str(settings.path), lines.get(view.url))
        if hint:
            click.echo(f"warning: {hint}", err=True)
    if fix:
        _fix_moves(settings, views)
    if online:
        _check_online(settings)


def _fix_moves(settings: Settings, views: list[FeedView]) -> None:
    from aggregator import feeds_file

    configured = {feed.url for feed in settings.feeds}
    moves = {
        view.url: view.moved_to
        for view in views
        if view.status == "moved"
        and view.moved_to
        and view.moved_confirmations >= CONFIRMED_MOVE
        and view.url in configured
    }
    if not moves:
        click.echo("nothing to fix: no confirmed moves")
        return
    edit = feeds_file.replace_urls(settings.path, moves)
    click.echo(edit.diff(), nl=False)
    edit.save()
    click.echo(f"{settings.path}: changed the url of {len(moves)} moved feeds")


def _check_online(settings: Settings) -> None:
    feeds = [feed for feed in settings.feeds if feed.enabled]
    for feed, probe in zip(feeds, jobs.probe(settings, [feed.url for feed in feeds]), strict=True):
        click.echo(f"{settings.path}:{feed.line}: {feed.url}: {_describe(probe)}")


def _describe(probe: Probe) -> str:
    if probe.error:
        return f"FAILS: {probe.error}"
    newest = f", newest {probe.newest:%Y-%m-%d}" if probe.newest else ""
    found = f"{probe.entries} entries{newest}"
    if probe.feed_url and probe.feed_url != probe.url:
        how = "moved permanently" if probe.moved_to else "advertised by the page"
        return f"{how}: the feed is at {probe.feed_url} ({found})"
    if probe.redirected:
        return f"ok through a temporary redirect ({found})"
    return f"ok: {probe.title or 'untitled'} ({found})"


@cli.command()
@click.argument("url")
@click.option("--name", help="How the source is credited (default: the feed's own title).")
@click.option("--tag", "tags", multiple=True, help="A tag; repeat for several.")
@click.option("--language", help="Language code of its entries (default: the feed's own).")
@dry_run_option
@click.pass_obj
def add(
    options: Options,
    url: str,
    name: str | None,
    tags: tuple[str, ...],
    language: str | None,
    dry_run: bool,
) -> None:
    """Fetch URL (a feed, or a web page that names its feed), show what it holds, and append it
    to feeds.yaml keeping the file's comments and layout."""
    from aggregator import feeds_file

    settings = options.settings()
    try:
        http_url(url)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="URL") from None
    (probe,) = jobs.probe(settings, [url])
    if probe.error or probe.feed_url is None:
        raise click.ClickException(f"{url}: {probe.error}")
    click.echo(f"{probe.feed_url}: {_describe(probe)}")
    entry = {
        "url": probe.feed_url,
        "name": name or probe.title,
        "link": probe.link,
        "tags": list(tags),
        "language": language or probe.language,
    }
    _apply(feeds_file.add_feeds(settings.path, [entry]), dry_run, f"added {probe.feed_url}")


@cli.command()
@click.argument("url")
@dry_run_option
@click.pass_obj
def remove(options: Options, url: str, dry_run: bool) -> None:
    """Remove the feed with this URL from feeds.yaml, keeping the file's comments and layout."""
    from aggregator import feeds_file

    settings = options.settings()
    _apply(feeds_file.remove_feed(settings.path, url), dry_run, f"removed {url}")


@cli.command(name="import-opml")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@dry_run_option
@click.pass_obj
def import_opml(options: Options, file: Path, dry_run: bool) -> None:
    """Add the feeds of an OPML subscription list to feeds.yaml (folders become tags)."""
    from aggregator.subscriptions import read_opml

    _import(options, file, read_opml, dry_run, binary=True)


@cli.command(name="import-venus")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@dry_run_option
@click.pass_obj
def import_venus(options: Options, file: Path, dry_run: bool) -> None:
    """Add the feeds of a Planet Venus or Planet Planet config.ini to feeds.yaml."""
    from aggregator.subscriptions import read_venus

    _import(options, file, read_venus, dry_run, binary=False)


def _import(
    options: Options, file: Path, reader: Callable[[Any], Imported], dry_run: bool, binary: bool
) -> None:
    from aggregator import feeds_file

    settings = options.settings()
    try:
        imported = reader(file.read_bytes() if binary else file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{file}: {error}") from None
    for warning in imported.warnings:
        click.echo(f"warning: {warning}", err=True)
    known = {feed.url for feed in settings.feeds}
    fresh = [feed for feed in imported.feeds if feed["url"] not in known]
    edit = feeds_file.add_feeds(settings.path, fresh)
    _apply(edit, dry_run, f"imported {len(fresh)} feeds ({len(imported.feeds) - len(fresh)} "
           "already listed)")  # fmt: skip


def _apply(edit: feeds_file.Edit, dry_run: bool, done: str) -> None:
    if not edit.changed:
        click.echo(f"{edit.path}: nothing to change")
        return
    click.echo(edit.diff(), nl=False)
    if dry_run:
        click.echo("dry run: feeds.yaml was not changed")
        return
    edit.save()
    click.echo(f"{edit.path}: {done}")


@cli.command(name="export-opml")
@click.pass_obj
def export_opml(options: Options) -> None:
    """Print every subscription as OPML 2.0, for another planet or a feed reader."""
    settings = options.settings()
    click.echo(jobs.export_opml(settings, _open_store(settings)), nl=False)


@cli.command(name="update")
@click.option("--all", "ignore_schedule", is_flag=True, help="Poll every feed, due or not.")
@click.pass_obj
def update_command(options: Options, ignore_schedule: bool) -> None:
    """Poll the feeds that are due, store new entries and publish the site.

    Quiet when all is well, for cron: failures go to stderr; -v (or a terminal) adds progress
    and a summary. A second run while one is going exits at once with status 0.
    """
    settings = options.settings()
    sessions = _open_store(settings)
    terminal = progress_terminal()
    report = ProgressReport(terminal, options.verbose > 0)
    try:
        with jobs.exclusive(settings, sessions):
            with report:
                result = jobs.update(
                    settings,
                    sessions,
                    ignore_schedule,
                    progress=report.advance,
                    started=report.start,
                    keep_parsing_server=False,
                )
            published = jobs.publish(settings, sessions)
    except AlreadyRunning as error:
        click.echo(f"{error}; this run did nothing")
        return
    for outcome in result.outcomes:
        if outcome.error:
            click.echo(f"failed: {outcome.name} <{outcome.url}>: {outcome.error}", err=True)
    if options.verbose or terminal is not None:
        click.echo(_update_summary(result, published))


def _update_summary(result: UpdateResult, published: PublishResult) -> str:
    return (
        f"polled {result.polled} feeds in {result.duration:.1f}s: {result.new_entries} new, "
        f"{result.updated_entries} updated, {result.not_modified} unchanged, "
        f"{result.failed} failed; {_publish_summary(published)}"
    )


def _publish_summary(published: PublishResult) -> str:
    summary = f"wrote {len(published.written)} files, {len(published.unchanged)} unchanged"
    return summary + (f", removed {len(published.removed)}" if published.removed else "")


@cli.command(name="publish")
@click.pass_obj
def publish_command(options: Options) -> None:
    """Write the site from the database without polling."""
    settings = options.settings()
    published = jobs.publish(settings, _open_store(settings))
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
    from aggregator.daemon import DaemonOptions, run_daemon
    from aggregator.heap import limit_arenas

    # Before the daemon starts its first thread (see heap.py).
    limit_arenas()
    settings = options.settings()
    sessions = _open_store(settings)
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
    views = jobs.feed_states(settings, _open_store(settings))
    lines = {feed.url: feed.line for feed in settings.feeds}
    hints = {view.url: advice(view, str(settings.path), lines.get(view.url)) for view in views}
    if as_json:
        click.echo(json.dumps([_feed_json(view, hints[view.url]) for view in views], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

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
        if key != "details"
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
    "(default: planet.retention, 180d; nothing when it is forever).",
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
    counts = jobs.prune(settings, _open_store(settings), age)
    click.echo(f"pruned {counts.entries} entries and {counts.attempts} fetch records")


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@click.pass_obj
def upgrade(options: Options) -> None:
    """Apply pending schema migrations (every command also does this on start)."""
    settings = options.settings()
    _open_store(settings)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    click.echo(f"{shown}: schema is up to date")


def main() -> None:
    _run_as_module()
    cli(prog_name="aggregator")


def _run_as_module() -> None:
    """Run as `python -m aggregator` does, whatever started us.

    A process that parses or renders (multiprocessing's forkserver and spawn) first imports
    its parent's main module, unless that is a package's `__main__`: the installed `aggregator`
    script would bring this whole command line into every worker, 0.5 s of imports and its own
    copy of SQLAlchemy, Click and Rich. Named as the package's `__main__`, it is left alone.
    """
    script = sys.modules["__main__"]
    if getattr(script, "__spec__", None) is None:
        script.__spec__ = importlib.util.find_spec("aggregator.__main__")


if __name__ == "__main__":
    main()
