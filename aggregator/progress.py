"""Progress of an update for a person: a rich bar on a terminal, plain lines with -v in a pipe,
nothing otherwise (cron mails only what is printed).

Rich is loaded only for a terminal: a cron job's update, which shows no bar, saves its 2.2 MiB
and its start-up.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING

import click

from aggregator.records import FeedOutcome

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


def progress_terminal() -> Console | None:
    """The terminal on stderr that a bar is drawn on; None in a pipe or a file."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console

    console = Console(stderr=True)
    return console if console.is_terminal else None


class ProgressReport:
    def __init__(self, terminal: Console | None, lines: bool) -> None:
        self.terminal = terminal
        self.lines = lines and terminal is None
        self.new = 0
        self.failed = 0
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressReport:
        if self.terminal is not None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]feeds"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.terminal,
                transient=True,
            )
            self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def start(self, total: int) -> None:
        if self._bar is not None:
            self._task = self._bar.add_task("", total=total)

    def advance(self, outcome: FeedOutcome) -> None:
        self.new += outcome.new_entries
        self.failed += outcome.error is not None
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task, advance=1, description=f"{self.new} new, {self.failed} failed"
            )
        elif self.lines:
            detail = (
                outcome.error or f"{outcome.new_entries} new, {outcome.updated_entries} updated"
            )
            click.echo(f"{outcome.state}\t{outcome.name}\t{detail}")
