"""The benchmark harness end to end on a tiny farm, served by the Python fallback server.

The figures are not checked (they depend on the machine); what is checked is that every row
is there and that the counts prove each update did its work: all entries stored by the cold
update, nothing new from the all-304 one, one entry per modified feed from the changed one, and
no feed polled by the cron run that follows, when none is due.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from bench import storing
from bench.__main__ import main
from bench.farm import Farm
from bench.harness import ROOT, compile_checkout

FEEDS, ENTRIES = 5, 3


def _table_rows(output: str, columns: int) -> list[list[str]]:
    """The cells of each row of the Markdown tables in `output` that have `columns` columns,
    headers and rules left out."""
    rows: list[list[str]] = []
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if not line.startswith("| ") or len(cells) != columns:
            continue
        if line.startswith("| ---"):
            rows.pop()  # the header above the rule
        else:
            rows.append(cells)
    return rows


def _rows(output: str) -> dict[tuple[str, str], list[str]]:
    return {(cells[0], cells[1]): cells[2:] for cells in _table_rows(output, 9)}


def _run(capsys: pytest.CaptureFixture[str], only: str) -> dict[tuple[str, str], list[str]]:
    main(["--feeds", str(FEEDS), "--entries", str(ENTRIES), "--runs", "1", "--modify", "0.4",
          "--server", "python", "--only", only])  # fmt: skip
    output = capsys.readouterr().out
    assert "warning:" not in output
    return _rows(output)


def test_ours_rows_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _run(capsys, "ours")
    steps = (
        "cold update",
        "publish",
        "all-304 update",
        "publish again, nothing new",
        "changed update",
        "publish again, after changed",
        "cron run, nothing due",
    )
    assert list(rows) == [(step, "ours") for step in steps]
    stored = {step: int(rows[(step, "ours")][-1]) for step in steps}
    assert stored["cold update"] == stored["publish"] == FEEDS * ENTRIES
    assert stored["all-304 update"] == FEEDS * ENTRIES
    assert stored["changed update"] == stored["cron run, nothing due"] == FEEDS * ENTRIES + 2


def test_steps_start_from_bytecode_as_an_install_does() -> None:
    """The steps import the checkout's code; a deployer's install has its bytecode written at
    install time, so the steps must not compile it again at every start."""
    compile_checkout(sys.executable)
    modules = [*(ROOT / "aggregator").glob("*.py"), *(ROOT / "bench").glob("*.py")]
    missing = [
        module.name
        for module in modules
        if not Path(importlib.util.cache_from_source(str(module))).is_file()
    ]
    assert modules and not missing


def test_bytecode_that_cannot_be_written_does_not_stop_the_bench(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A checkout the bench cannot write to is still measured, with a warning (`false` stands
    for an interpreter whose compileall fails)."""
    compile_checkout("false")
    assert "bytecode could not all be written" in capsys.readouterr().err


def test_reader_rows_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("reader")
    rows = _run(capsys, "reader")
    assert int(rows[("cold update", "reader")][-1]) == FEEDS * ENTRIES
    assert int(rows[("changed update", "reader")][-1]) == FEEDS * ENTRIES + 2
    assert ("publish", "reader") not in rows


def test_farm_is_deterministic_and_modify_touches_only_its_sample(tmp_path: Path) -> None:
    first = Farm(tmp_path / "a", 20, 4)
    second = Farm(tmp_path / "b", 20, 4, anchor=first.anchor)
    first.write()
    second.write()
    before = {index: first.path(index).read_bytes() for index in range(20)}
    assert all(before[index] == second.path(index).read_bytes() for index in range(20))
    changed = first.modify(0.25)
    assert len(changed) == 5
    assert [index for index in range(20) if first.path(index).read_bytes() != before[index]] == (
        changed
    )
    first.restore(changed)
    assert all(first.path(index).read_bytes() == before[index] for index in range(20))


def test_storing_replays_what_a_cold_update_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = tmp_path / "batches.pickle"
    storing.main(["record", str(recorded), "--feeds", str(FEEDS), "--entries", str(ENTRIES)])
    storing.main(["replay", str(recorded), "--runs", "2", "--statements"])
    output = capsys.readouterr().out
    assert "batches recorded" in output
    assert output.count(f"{FEEDS * ENTRIES} entries stored") == 2
    assert "median" in output
    # Every new entry is inserted once a run, and checked against other feeds' entries.
    rows = {cells[0]: cells[1] for cells in _table_rows(output, 4)}
    assert rows["INSERT entries ON CONFLICT"] == str(2 * FEEDS)
    assert rows["WITH wanted"] == str(2 * FEEDS)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("INSERT INTO entry_sketches (hash, entry_id) VALUES (?, ?)", "INSERT entry_sketches"),
        (
            "INSERT INTO sketch_values (hash, entries) VALUES (?, ?) ON CONFLICT (hash) DO UPDATE",
            "INSERT sketch_values ON CONFLICT",
        ),
        ("WITH wanted AS MATERIALIZED (SELECT 1) SELECT 2", "WITH wanted"),
        ("UPDATE feeds SET etag=? WHERE feeds.id = ?", "UPDATE feeds"),
        ("SELECT entries.id FROM entries WHERE entries.feed_id = ?", "SELECT entries"),
    ],
)
def test_statements_are_named_by_verb_and_table(sql: str, kind: str) -> None:
    assert storing.statement_kind(sql) == kind


def test_hostile_feeds_are_stopped_and_the_farm_still_stored(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--hostile`: the farm's cold update alone and beside a gzip bomb, an endless body and a
    drip, with the farm's entries all stored both times and each hostile feed stopped by its
    own limit (the drip by a short timeout, to keep the test short)."""
    main(["--feeds", str(FEEDS), "--entries", str(ENTRIES), "--runs", "1", "--server", "python",
          "--hostile", "--bomb-mib", "16", "--hostile-timeout", "2s"])  # fmt: skip
    output = capsys.readouterr().out
    assert "warning:" not in output
    rows = _rows(output)
    assert list(rows) == [
        ("cold update, farm alone", "ours"),
        ("cold update, with hostile feeds", "ours"),
    ]
    assert all(int(cells[-1]) == FEEDS * ENTRIES for cells in rows.values())
    spans = {cells[0]: float(cells[1]) for cells in _table_rows(output, 3)}
    assert set(spans) == {"cold update, farm alone", "cold update, with hostile feeds"}
    assert all(span > 0 for span in spans.values())
    assert "hostile feed /bomb: response larger than 10 MiB" in output
    assert "hostile feed /endless: response larger than 10 MiB" in output
    assert "hostile feed /drip: timed out after 2 s" in output
