"""Run the update and publish benchmarks against the farm and print a table of medians.

Every measured step is a child process (see steps.py); its wall time is taken around it, its
CPU time (user + system) and peak RSS come from wait4 for that child, and a thread samples its
whole process tree while it runs, for the memory and CPU of the worker processes that wait4
does not see. The tools take turns going first from one run to the next, so a slow spell of a
shared machine does not always fall on the same one.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from bench.farm import HOSTS, RSS_SHARE, Farm
from bench.hostile_memory import gzip_bomb
from bench.hostile_memory import serve as serve_hostile
from bench.server import serve_farm

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("ours", "reader")
COLD, ALL_304, CHANGED, PUBLISH, FILL = (
    "cold update", "all-304 update", "changed update", "publish", "fill database",
)  # fmt: skip
# Publishing again into the folder of the last publish, as a cron job does after each update.
REPUBLISH, REPUBLISH_CHANGED = "publish again, nothing new", "publish again, after changed"
# `aggregator update` as cron runs it, polling what is due and publishing: after the changed
# update nothing is due, as in most of a cron job's runs.
CRON_NOTHING_DUE = "cron run, nothing due"
FARM_ALONE, WITH_HOSTILE = "cold update, farm alone", "cold update, with hostile feeds"
# What hostile_memory.py's server answers at these paths: a gzip bomb, an endless body and a
# body dripped a byte a second.
HOSTILE_PATHS = ("/bomb", "/endless", "/drip")


@dataclass(frozen=True)
class Options:
    feeds: int = 1000
    entries: int = 20
    runs: int = 3
    modify: float = 0.1
    only: str | None = None
    server: str = "auto"
    reader_workers: int = 32
    seed: int = 7
    # The interpreter that runs our steps: a production install (`pip install .`, without the
    # test extras) measures what a deployer runs; the checkout's code is used either way.
    python: str = sys.executable
    # The hostile feeds' run (run_hostile): how far the bomb inflates, and the timeout that
    # feeds.yaml gives those feeds (the default of every feed).
    bomb_mib: int = 1024
    hostile_timeout: str = "30s"


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float
    rss_mib: float
    tree_pss_mib: float
    counts: dict[str, int]
    stored: int | None = None
    errors: str = ""
    wait4_cpu: float = 0.0


@dataclass
class Report:
    title: str
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Lines printed under the table: what a run measured besides its steps.
    details: list[str] = field(default_factory=list)

    def add(self, step: str, tool: str, sample: Sample) -> None:
        self.samples.setdefault((step, tool), []).append(sample)

    def check(self, step: str, tool: str, sample: Sample, **expected: int) -> None:
        """Record, rather than stop at, a count that is not what the farm should give."""
        wrong = [
            f"{key} was {sample.counts.get(key)}, expected {value}"
            for key, value in expected.items()
            if sample.counts.get(key) != value
        ]
        if wrong:
            first = sample.errors.strip().splitlines()[:1]
            self.warnings.append(f"{tool} {step}: {', '.join(wrong + first)}")


class StepFailed(RuntimeError):
    pass


def measure(argv: Sequence[str], cwd: Path) -> Sample:
    """Run one child and return its wall time, CPU time, peak memory and the counts it printed.

    The CPU time is the larger of wait4's and the sampled tree's: wait4 misses descendants the
    child never waits for (the forkserver's parsing workers are the forkserver's to reap, and
    nobody waits for the forkserver), while sampling misses each process's last interval.
    """
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(ROOT), environment.get("PYTHONPATH")) if part
    )
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, env=environment, stdout=stdout, stderr=stderr)
        tree = TreeSampler(child.pid)
        tree.start()
        try:
            # Exited but not reaped: the pid cannot be reused under the sampler, and the zombie's
            # stat still gives the child's final CPU time for the last sample.
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        finally:
            tree.stop()
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read().decode(), stderr.read().decode()
    if child.returncode != 0:
        raise StepFailed(f"{' '.join(argv)} exited with {child.returncode}:\n{errors[-3000:]}")
    lines = output.strip().splitlines()
    counts = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    wait4_cpu = usage.ru_utime + usage.ru_stime
    return Sample(
        wall, max(wait4_cpu, tree.cpu), usage.ru_maxrss / 1024, tree.peak_pss / 1024**2, counts,
        errors=errors, wait4_cpu=wait4_cpu,
    )  # fmt: skip


_VANISHED = (FileNotFoundError, ProcessLookupError, PermissionError)


class TreeSampler:
    """Peak PSS and CPU time of a process and all its descendants, sampled from /proc.

    ru_maxrss is the largest single process, not the sum over a pool. PSS rather than RSS, so
    that pages a forked worker still shares with its parent are counted once, not per process.
    Descendants are found by parent pid over all of /proc, since a kernel built without
    CONFIG_PROC_CHILDREN has no /proc/PID/task/TID/children.
    """

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peak_pss = 0
        self._cpu_ticks: dict[tuple[int, int], int] = {}
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)

    @property
    def cpu(self) -> float:
        """Seconds of user + system time, each process counted at the last time it was seen."""
        return sum(self._cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._halt.wait(self.interval):
                return

    def sample(self) -> None:
        stats = process_stats()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _started, _ticks) in stats.items():
            children.setdefault(ppid, []).append(pid)
        tree, frontier = [], [self.root]
        while frontier:
            pid = frontier.pop()
            if pid in stats:
                tree.append(pid)
                frontier += children.get(pid, [])
        total = 0
        for pid in tree:
            _ppid, started, ticks = stats[pid]
            # Keyed by start time too, in case a pid is reused within one step.
            self._cpu_ticks[pid, started] = ticks
            total += _pss_bytes(pid)
        self.peak_pss = max(self.peak_pss, total)


def process_stats() -> dict[int, tuple[int, int, int]]:
    """Parent pid, start time and user + system ticks of every process, by pid."""
    stats = {}
    for folder in Path("/proc").iterdir():
        if not folder.name.isdigit():
            continue
        try:
            line = (folder / "stat").read_bytes()
        except _VANISHED:
            continue
        # The command name is in parentheses and may itself hold spaces and parentheses.
        fields = line[line.rfind(b")") + 2 :].split()
        if len(fields) < 20:
            continue
        ppid, ticks, started = int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19])
        stats[int(folder.name)] = (ppid, started, ticks)
    return stats


def _pss_bytes(pid: int) -> int:
    try:
        with Path(f"/proc/{pid}/smaps_rollup").open("rb") as file:
            for line in file:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except _VANISHED:
        pass
    return 0


def stored_entries(database: Path) -> int:
    return _count(database, "SELECT count(*) FROM entries")


def fetch_attempts(database: Path) -> int:
    return _count(database, "SELECT count(*) FROM fetch_attempts")


def merged_entries(database: Path) -> int:
    return _count(database, "SELECT count(*) FROM entries WHERE duplicate_of IS NOT NULL")


def _count(database: Path, query: str) -> int:
    with sqlite3.connect(database) as connection:
        (count,) = connection.execute(query).fetchone()
    return int(count)


def write_config(path: Path, farm: Farm, port: int, first: Sequence[str] = ()) -> Path:
    """feeds.yaml for the farm, with the default limits: 32 requests in flight, 2 per host.
    `first` are lines of feeds listed before the farm's."""
    lines = [
        "planet:",
        "  title: Benchmark planet",
        "  link: https://planet.example.org/",
        "feeds:",
        *first,
    ]
    lines += [
        f"  - {{url: {json.dumps(farm.url(index, port))}, name: {json.dumps(farm.title(index))}}}"
        for index in range(farm.feeds)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _python(*arguments: str, interpreter: str = sys.executable) -> list[str]:
    return [interpreter, *arguments]


def _ours_update(options: Options, config: Path, database: Path) -> list[str]:
    """The command of our update step over feeds.yaml `config` into SQLite file `database`."""
    return _python(
        "-m", "bench.steps", "ours-update", str(config), f"sqlite:///{database}",
        interpreter=options.python,
    )  # fmt: skip


def _timed_step(
    report: Report, step: str, tool: str, argv: Sequence[str], cwd: Path, database: Path
) -> Sample:
    sample = replace(measure(argv, cwd), stored=stored_entries(database))
    report.add(step, tool, sample)
    print(
        f"  {tool:6} {step:15} {sample.wall:7.2f} s wall, {sample.cpu:7.2f} s CPU"
        f" ({sample.wait4_cpu:.2f} s by wait4), {sample.tree_pss_mib:.0f} MiB tree PSS",
        file=sys.stderr, flush=True,
    )  # fmt: skip
    return sample


def _run_ours(report: Report, options: Options, farm: Farm, config: Path, folder: Path) -> None:
    database = folder / "ours.db"
    url = f"sqlite:///{database}"
    update = _ours_update(options, config, database)
    publish = _python(
        "-m", "aggregator", "-c", str(config), "--database", url,
        "--output", str(folder / "public"), "publish", interpreter=options.python,
    )  # fmt: skip
    # The site is first written after the cold update, into an empty folder; then again after
    # each of the other updates, into the same folder.
    publishes = {COLD: PUBLISH, ALL_304: REPUBLISH, CHANGED: REPUBLISH_CHANGED}

    cron = _python(
        "-m", "aggregator", "-c", str(config), "--database", url,
        "--output", str(folder / "public"), "update", interpreter=options.python,
    )  # fmt: skip

    def publish_after(step: str) -> None:
        _timed_step(report, publishes[step], "ours", publish, folder, database)

    _update_steps(report, options, farm, "ours", update, folder, database, publish_after)
    fetched = fetch_attempts(database)
    _timed_step(report, CRON_NOTHING_DUE, "ours", cron, folder, database)
    polled = fetch_attempts(database) - fetched
    if polled:
        report.warnings.append(f"ours {CRON_NOTHING_DUE}: {polled} feeds polled, none was due")
    merged = merged_entries(database)
    if merged:
        report.warnings.append(f"ours merged {merged} farm entries as the same story")


def _run_reader(report: Report, options: Options, farm: Farm, urls: Path, folder: Path) -> None:
    """reader's feeds are added by an untimed step: it has no configuration file to sync."""
    database = folder / "reader.sqlite"
    measure(_python("-m", "bench.steps", "reader-add", str(database), str(urls)), folder)
    update = _python(
        "-m", "bench.steps", "reader-update", str(database), str(options.reader_workers)
    )  # fmt: skip
    _update_steps(report, options, farm, "reader", update, folder, database)


def _update_steps(
    report: Report,
    options: Options,
    farm: Farm,
    tool: str,
    update: Sequence[str],
    folder: Path,
    database: Path,
    after: Callable[[str], None] | None = None,
) -> None:
    """The cold, all-304 and changed updates of one tool, each checked against the farm and
    followed by `after` (the step's name)."""
    total = options.feeds * options.entries
    sample = _timed_step(report, COLD, tool, update, folder, database)
    report.check(COLD, tool, sample, polled=options.feeds, new=total, failed=0)
    if after is not None:
        after(COLD)
    sample = _timed_step(report, ALL_304, tool, update, folder, database)
    report.check(ALL_304, tool, sample, not_modified=options.feeds, new=0, failed=0)
    if after is not None:
        after(ALL_304)
    changed = farm.modify(options.modify)
    try:
        sample = _timed_step(report, CHANGED, tool, update, folder, database)
    finally:
        farm.restore(changed)
    report.check(CHANGED, tool, sample, new=len(changed), failed=0)
    if after is not None:
        after(CHANGED)


def reader_available() -> bool:
    try:
        metadata.version("reader")
    except metadata.PackageNotFoundError:
        return False
    return True


def compile_checkout(interpreter: str) -> None:
    """Write the bytecode of the checkout's code, as `pip install` does for a deployer's.

    The steps import the checkout's code (through PYTHONPATH), where an environment that sets
    PYTHONDONTWRITEBYTECODE, as containers often do, leaves no bytecode: every step then
    compiled our modules again (all of them take 0.1 s), which a deployed install never does.
    """
    compiled = subprocess.run(
        [interpreter, "-m", "compileall", "-q", str(ROOT / "aggregator"), str(ROOT / "bench")],
        check=False,
    )
    if compiled.returncode != 0:
        print("warning: the checkout's bytecode could not all be written (a read-only "
              "checkout?); our steps will compile what is missing at every start",
              file=sys.stderr)  # fmt: skip


def run_updates(options: Options) -> Report:
    tools = [tool for tool in TOOLS if options.only in (None, tool)]
    if "reader" in tools and not reader_available():
        print("reader is not installed (pip install reader sgmllib3k); measuring ours only",
              file=sys.stderr)  # fmt: skip
        tools.remove("reader")
    compile_checkout(options.python)
    workspace = _workspace()
    try:
        farm = Farm(workspace / "farm", options.feeds, options.entries, options.seed)
        farm.write()
        with serve_farm(farm.folder, options.server) as served:
            report = Report(_title(options, served.server, tools))
            print(report.title, file=sys.stderr, flush=True)
            config = write_config(workspace / "feeds.yaml", farm, served.port)
            urls = workspace / "urls.txt"
            urls.write_text("\n".join(farm.urls(served.port)) + "\n")
            runners: dict[str, Callable[[Path], None]] = {
                "ours": lambda folder: _run_ours(report, options, farm, config, folder),
                "reader": lambda folder: _run_reader(report, options, farm, urls, folder),
            }
            for run in range(options.runs):
                print(f"run {run + 1} of {options.runs}", file=sys.stderr, flush=True)
                for tool in tools if run % 2 == 0 else tools[::-1]:
                    folder = workspace / f"run{run}-{tool}"
                    folder.mkdir()
                    runners[tool](folder)
        return report
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def run_publish(options: Options, entries: int) -> Report:
    """Time `aggregator publish` alone over a database filled with `entries` entries."""
    compile_checkout(options.python)
    workspace = _workspace()
    try:
        farm = Farm(workspace, options.feeds, 0, options.seed)
        config = write_config(workspace / "feeds.yaml", farm, 80)
        database = workspace / "ours.db"
        url = f"sqlite:///{database}"
        report = Report(
            "; ".join(
                part
                for part in (
                    f"publish over {entries} entries of {options.feeds} feeds in SQLite",
                    f"medians of {options.runs} runs, each into an empty folder",
                    _run_by(options),
                    _machine(),
                )
                if part
            )
        )
        print(report.title, file=sys.stderr, flush=True)
        fill = _python(
            "-m", "bench.steps", "fill", str(config), url, str(entries),
            interpreter=options.python,
        )  # fmt: skip
        _timed_step(report, FILL, "ours", fill, workspace, database)
        for run in range(options.runs):
            publish = _python(
                "-m", "aggregator", "-c", str(config), "--database", url,
                "--output", str(workspace / f"public{run}"), "publish",
                interpreter=options.python,
            )  # fmt: skip
            _timed_step(report, PUBLISH, "ours", publish, workspace, database)
            _timed_step(report, REPUBLISH, "ours", publish, workspace, database)
        return report
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def run_hostile(options: Options) -> Report:
    """Our cold update of the farm alone and with three hostile feeds listed first, in turns:
    whether a gzip bomb, an endless body and a body dripped a byte a second slow the fetching
    of the other feeds. The hostile feeds come from hostile_memory.py's server, in this
    process, on 127.0.0.1 (none of the farm's addresses), so they take none of the farm's
    per-host places but three of the places of the whole run."""
    compile_checkout(options.python)
    workspace = _workspace()
    hostile_server = serve_hostile(gzip_bomb(options.bomb_mib))
    try:
        farm = Farm(workspace / "farm", options.feeds, options.entries, options.seed)
        farm.write()
        port = hostile_server.server_address[1]
        hostile = [f"http://127.0.0.1:{port}{path}" for path in HOSTILE_PATHS]
        first = [
            f"  - {{url: {json.dumps(url)}, name: {json.dumps(path)}, "
            f"timeout: {json.dumps(options.hostile_timeout)}}}"
            for url, path in zip(hostile, HOSTILE_PATHS, strict=True)
        ]
        with serve_farm(farm.folder, options.server) as served:
            report = Report(_hostile_title(options, served.server))
            print(report.title, file=sys.stderr, flush=True)
            configs = {
                FARM_ALONE: write_config(workspace / "alone.yaml", farm, served.port),
                WITH_HOSTILE: write_config(workspace / "hostile.yaml", farm, served.port, first),
            }
            spans: dict[str, list[float]] = {}
            outcomes: dict[str, str] = {}
            for run in range(options.runs):
                print(f"run {run + 1} of {options.runs}", file=sys.stderr, flush=True)
                for number, step in enumerate(configs if run % 2 == 0 else reversed(configs)):
                    folder = workspace / f"run{run}-{number}"
                    folder.mkdir()
                    database = folder / "ours.db"
                    update = _ours_update(options, configs[step], database)
                    sample = _timed_step(report, step, "ours", update, folder, database)
                    failed = len(hostile) if step == WITH_HOSTILE else 0
                    report.check(step, "ours", sample, polled=options.feeds + failed,
                                 new=options.feeds * options.entries, failed=failed)  # fmt: skip
                    spans.setdefault(step, []).append(farm_fetch_span(database, hostile))
                    if failed:
                        outcomes = last_errors(database, hostile)
            report.details = _hostile_details(spans, outcomes, hostile)
        return report
    finally:
        hostile_server.shutdown()
        shutil.rmtree(workspace, ignore_errors=True)


def farm_fetch_span(database: Path, hostile: Sequence[str]) -> float:
    """Seconds from the run's first fetch to the end of the last fetch of a feed not in
    `hostile`, from the fetch history the update stored."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT feeds.url, fetch_attempts.started_at, fetch_attempts.duration_ms "
            "FROM fetch_attempts JOIN feeds ON feeds.id = fetch_attempts.feed_id"
        ).fetchall()
    starts = [datetime.fromisoformat(started) for _url, started, _duration in rows]
    ends = [
        datetime.fromisoformat(started) + timedelta(milliseconds=duration)
        for url, started, duration in rows
        if url not in hostile
    ]
    return (max(ends) - min(starts)).total_seconds()


def last_errors(database: Path, urls: Sequence[str]) -> dict[str, str]:
    """The error each of these feeds' last fetch ended with, by url."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT url, last_error FROM feeds").fetchall()
    return {url: error or "no error" for url, error in rows if url in urls}


def _hostile_details(
    spans: dict[str, list[float]], outcomes: dict[str, str], hostile: Sequence[str]
) -> list[str]:
    lines = [
        "",
        "| run | farm's feeds fetched within s (median) | each run |",
        "| --- | ---: | --- |",
    ]
    lines += [
        f"| {step} | {statistics.median(values):.2f} | "
        + ", ".join(f"{value:.2f}" for value in values) + " |"
        for step, values in spans.items()
    ]  # fmt: skip
    lines.append("")
    lines += [
        f"hostile feed {path}: {outcomes.get(url, 'not fetched')}"
        for url, path in zip(hostile, HOSTILE_PATHS, strict=True)
    ]
    return lines


def _hostile_title(options: Options, server: str) -> str:
    parts = [
        f"{options.feeds} feeds x {options.entries} entries on {len(HOSTS)} loopback hosts, "
        f"served by {server}; alone, and with {len(HOSTILE_PATHS)} hostile feeds listed first "
        f"(a gzip bomb of {options.bomb_mib} MiB, an endless body, a body dripped a byte a "
        f"second; timeout {options.hostile_timeout}) served by Python on 127.0.0.1",
        f"medians of {options.runs} runs",
        _run_by(options),
        _machine(),
    ]
    return "; ".join(part for part in parts if part)


def _workspace() -> Path:
    """A temporary folder that nginx's unprivileged worker can read when started by root."""
    workspace = Path(tempfile.mkdtemp(prefix="bench-"))
    workspace.chmod(0o755)
    return workspace


def _title(options: Options, server: str, tools: list[str]) -> str:
    parts = [
        f"{options.feeds} feeds x {options.entries} entries (about {RSS_SHARE:.0%} RSS 2.0, "
        f"the rest Atom) on {len(HOSTS)} loopback hosts, served by {server}",
        f"changed update: {options.modify:.0%} of the feeds have one new entry",
        f"medians of {options.runs} runs",
        "ours: aggregator " + metadata.version("aggregator")
        + " with the default limits (32 requests in flight, 2 per host)",
    ]  # fmt: skip
    parts.append(_run_by(options))
    if "reader" in tools:
        parts.append(f"reader {metadata.version('reader')} with {options.reader_workers} workers")
    parts.append(_machine())
    return "; ".join(part for part in parts if part)


def _run_by(options: Options) -> str:
    """Which Python ran our steps, when not the one running the bench (see --python)."""
    return f"ours run by {options.python}" if options.python != sys.executable else ""


def _machine() -> str:
    return f"Python {platform.python_version()}, {os.cpu_count()} CPUs"


def table(report: Report) -> str:
    """The medians as a Markdown table, with a reader/ours row after each compared step."""
    header = ("step", "tool", "wall s", "CPU s", "peak RSS MiB", "peak tree PSS MiB", "feeds/s",
              "new entries/s", "entries stored")  # fmt: skip
    lines = [_line(header), _line(("---", "---", *("---:",) * 7))]
    steps = dict.fromkeys(step for step, _tool in report.samples)
    for step in steps:
        rows = {}
        for tool in TOOLS:
            samples = report.samples.get((step, tool))
            if samples:
                rows[tool] = _medians(samples)
                lines.append(_line((step, tool, *_cells(rows[tool]))))
        if len(rows) == 2:
            ratios = [
                f"{theirs / ours:.3g}x" if ours and theirs is not None else "-"
                for ours, theirs in zip(rows["ours"][:-1], rows["reader"][:-1], strict=True)
            ]
            lines.append(_line((step, "reader/ours", *ratios, "")))
    return "\n".join(lines)


Row = tuple[float, float, float, float, float | None, float | None, int]


def _medians(samples: list[Sample]) -> Row:
    wall = statistics.median(sample.wall for sample in samples)
    counts = samples[-1].counts
    polled, new = counts.get("polled"), counts.get("new")
    return (
        wall,
        statistics.median(sample.cpu for sample in samples),
        statistics.median(sample.rss_mib for sample in samples),
        statistics.median(sample.tree_pss_mib for sample in samples),
        polled / wall if polled else None,
        new / wall if new else None,
        samples[-1].stored or 0,
    )


def _cells(row: Row) -> list[str]:
    wall, cpu, rss, pss, feeds, entries, stored = row
    return [
        f"{wall:.2f}",
        f"{cpu:.2f}",
        f"{rss:.0f}",
        f"{pss:.0f}",
        f"{feeds:.0f}" if feeds else "-",
        f"{entries:.0f}" if entries else "-",
        str(stored),
    ]


def _line(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def print_report(report: Report, out: TextIO) -> None:
    print(report.title, file=out)
    print(file=out)
    print(table(report), file=out)
    for line in report.details:
        print(line, file=out)
    for warning in report.warnings:
        print(f"warning: {warning}", file=out)
