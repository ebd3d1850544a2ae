"""python -m bench.storing: the writer of a cold update alone, the thread every other one waits
for.

    python -m bench.storing record FILE [--feeds 1000] [--entries 20] [--seed 7]
    python -m bench.storing replay FILE [--runs 3]

`record` writes a farm, serves it, runs a cold update of it and saves every batch the update
handed its writer (update.store_fetches), as a pickle. `replay` stores those batches again,
in the same order, into a fresh SQLite database for each run, and prints the wall and CPU time
of each run and their medians. Run `replay` from another checkout (PYTHONPATH=that checkout)
to compare two versions of the storing code on the same input, taking turns; the pickle holds
the records of aggregator/records.py and aggregator/read.py, so both versions must agree on
them.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

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


def replay(path: Path) -> tuple[float, float, int]:
    """Store the recorded batches into a fresh database: wall and CPU seconds, and the entries
    stored."""
    config_text, batches = pickle.loads(path.read_bytes())
    with tempfile.TemporaryDirectory(prefix="bench-storing-") as folder:
        config = Path(folder) / "feeds.yaml"
        config.write_text(config_text)
        settings = load_settings(config, f"sqlite:///{Path(folder) / 'replayed.db'}")
        sessions = jobs.open_store(settings)
        with sessions.begin() as session:
            store.sync_feeds(session, settings.feeds, datetime.now(UTC))
        wall, cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            update.store_fetches(sessions, batch)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        with sessions.begin() as session:
            stored = session.scalar(select(func.count()).select_from(Entry)) or 0
        engine_of(sessions).dispose()
    return wall, cpu, stored


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
    args = parser.parse_args(argv)
    if args.action == "record":
        count = record(args.file, args.feeds, args.entries, args.seed)
        print(f"{count} batches recorded in {args.file}")
        return
    walls, cpus = [], []
    for run in range(args.runs):
        wall, cpu, stored = replay(args.file)
        walls.append(wall)
        cpus.append(cpu)
        print(f"run {run + 1}: storing {wall:.2f} s wall, {cpu:.2f} s CPU, {stored} entries stored",
              flush=True)  # fmt: skip
    where = Path(update.__file__).resolve().parents[1]
    print(
        f"{where}: median {statistics.median(walls):.2f} s wall, "
        f"{statistics.median(cpus):.2f} s CPU over {args.runs} runs"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
