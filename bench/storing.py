"""python -m bench.storing: the writer of a cold update alone, the thread every other one waits
for.

    python -m bench.storing record FILE [--feeds 1000] [--entries 20] [--seed 7]
    python -m bench.storing replay FILE [--runs 3] [--statements]

`record` writes a farm, serves it, runs a cold update of it and saves every batch the update
handed its writer (update.store_fetches), as a pickle. `replay` stores those batches again,
in the same order, into a fresh SQLite database for each run, and prints the wall and CPU time
of each run and their medians. With `--statements` it also prints, for each kind of SQL
statement, how often it ran and the CPU time the driver took to run it (SQLite's own work,
which a profiler that samples the thread holding the GIL does not see, since the driver
releases it), summed over the runs; rows fetched afterwards count as the Python around the
statements. Run `replay` from another checkout (PYTHONPATH=that checkout)
to compare two versions of the storing code on the same input, taking turns; the pickle holds
the records of aggregator/records.py and aggregator/read.py, so both versions must agree on
them.
"""

from __future__ import annotations

import argparse
import pickle
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select

from aggregator import jobs, store, update
from aggregator.config import load_settings
from aggregator.db import engine_of
from aggregator.models import Entry
from bench.farm import Farm
from bench.harness import write_config
from bench.server import serve_farm


def record(path: Path, feeds: int, entries: int, seed: int) -> int:
    """Save the batches of one cold update of a fresh farm; return how many there were."""
    batches: list[list[Any]] = []
    storing = update.store_fetches

    def recording(sessions: Any, batch: Sequence[Any]) -> Any:
        batches.append(list(batch))
        return storing(sessions, batch)

    with tempfile.TemporaryDirectory(prefix="bench-storing-") as folder:
        workspace = Path(folder)
        workspace.chmod(0o755)
        farm = Farm(workspace / "farm", feeds, entries, seed)
        farm.write()
        with serve_farm(farm.folder) as served:
            config = write_config(workspace / "feeds.yaml", farm, served.port)
            settings = load_settings(config, f"sqlite:///{workspace / 'recorded.db'}")
            sessions = jobs.open_store(settings)
            update.store_fetches = recording
            try:
                with jobs.exclusive(settings, sessions):
                    jobs.update(settings, sessions, ignore_schedule=True)
            finally:
                update.store_fetches = storing
            # Replays sync the same feeds, in the same order, so that their ids match.
            path.write_bytes(pickle.dumps((config.read_text(), batches)))
    return len(batches)


def replay(path: Path, statements: StatementTimes | None = None) -> tuple[float, float, int]:
    """Store the recorded batches into a fresh database: wall and CPU seconds, and the entries
    stored. With `statements`, the time of each SQL statement is added to it."""
    config_text, batches = pickle.loads(path.read_bytes())
    with tempfile.TemporaryDirectory(prefix="bench-storing-") as folder:
        config = Path(folder) / "feeds.yaml"
        config.write_text(config_text)
        settings = load_settings(config, f"sqlite:///{Path(folder) / 'replayed.db'}")
        sessions = jobs.open_store(settings)
        with sessions.begin() as session:
            store.sync_feeds(session, settings.feeds, datetime.now(UTC))
        if statements is not None:
            statements.attach(engine_of(sessions))
        wall, cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            update.store_fetches(sessions, batch)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        with sessions.begin() as session:
            stored = session.scalar(select(func.count()).select_from(Entry)) or 0
        engine_of(sessions).dispose()
    return wall, cpu, stored


class StatementTimes:
    """The executions and CPU time (of the thread that ran them) of each kind of statement."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._started = 0.0

    def attach(self, engine: Engine) -> None:
        def before(_connection: Any, _cursor: Any, _sql: str, *_rest: Any) -> None:
            self._started = time.thread_time()

        def after(_connection: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
            kind = statement_kind(sql)
            self.count[kind] += 1
            self.seconds[kind] += time.thread_time() - self._started

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)

    def table(self, storing_seconds: float) -> str:
        lines = ["| statement | runs | CPU s | share of storing |", "| --- | ---: | ---: | ---: |"]
        for kind, seconds in sorted(self.seconds.items(), key=lambda item: -item[1]):
            share = seconds / storing_seconds if storing_seconds else 0.0
            lines.append(f"| {kind} | {self.count[kind]} | {seconds:.2f} | {share:.0%} |")
        rest = storing_seconds - sum(self.seconds.values())
        lines.append(f"| everything around the statements | - | {rest:.2f} | - |")
        return "\n".join(lines)


_NAMED = re.compile(r"\b(INTO|UPDATE|FROM)\s+(\w+)", re.IGNORECASE)


def statement_kind(sql: str) -> str:
    """A statement named by its verb and its table, or its first CTE for a WITH:
    "INSERT entry_sketches", "WITH wanted"."""
    words = sql.split()
    verb = words[0].upper() if words else ""
    if verb == "WITH":
        return " ".join(words[:2])
    found = _NAMED.search(sql)
    upsert = " ON CONFLICT" if verb == "INSERT" and "ON CONFLICT" in sql.upper() else ""
    return f"{verb} {found.group(2) if found else ''}{upsert}".strip()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("record", "replay"))
    parser.add_argument("file", type=Path, help="the recorded batches (a pickle)")
    parser.add_argument("--feeds", type=int, default=1000, help="record: feeds in the farm")
    parser.add_argument("--entries", type=int, default=20, help="record: entries in each feed")
    parser.add_argument("--seed", type=int, default=7, help="record: seed of the farm's content")
    parser.add_argument("--runs", type=int, default=3, help="replay: runs")
    parser.add_argument(
        "--statements", action="store_true", help="replay: the time of each kind of statement"
    )
    args = parser.parse_args(argv)
    if args.action == "record":
        count = record(args.file, args.feeds, args.entries, args.seed)
        print(f"{count} batches recorded in {args.file}")
        return
    walls, cpus = [], []
    statements = StatementTimes() if args.statements else None
    for run in range(args.runs):
        wall, cpu, stored = replay(args.file, statements)
        walls.append(wall)
        cpus.append(cpu)
        print(f"run {run + 1}: storing {wall:.2f} s wall, {cpu:.2f} s CPU, {stored} entries stored",
              flush=True)  # fmt: skip
    where = Path(update.__file__).resolve().parents[1]
    print(
        f"{where}: median {statistics.median(walls):.2f} s wall, "
        f"{statistics.median(cpus):.2f} s CPU over {args.runs} runs"
    )
    if statements is not None:
        print(statements.table(sum(cpus)))


if __name__ == "__main__":
    main(sys.argv[1:])
