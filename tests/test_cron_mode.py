"""`aggregator update` from cron: quiet when all is well, never twice at once, clear statuses."""

from __future__ import annotations

import errno
import os
import pty
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aggregator import jobs
from aggregator.config import load_settings
from aggregator.publish_manifest import MANIFEST
from tests.conftest import FeedServer, Planet


def _command(planet: Planet, *args: str) -> list[str]:
    return [sys.executable, "-m", "aggregator", "-c", str(planet.config),
            "--database", planet.database_url, *args]  # fmt: skip


def test_a_run_where_all_is_well_prints_nothing(planet: Planet, feed_server: FeedServer) -> None:
    planet.write_config([{"url": feed_server.serve_fixture("/usc", "usc.rdf")}])
    result = planet.run("update")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""
    assert (planet.output / "index.html").exists()


def test_a_run_with_no_feed_due_waits_for_no_download(
    planet: Planet, feed_server: FeedServer
) -> None:
    """Most runs from cron find no feed due. Waiting for a first download when none had been
    started kept each of them half a second longer, until the wait asked whether to stop."""
    planet.write_config([{"url": feed_server.serve_fixture("/usc", "usc.rdf")}])
    assert planet.run("update").exit_code == 0
    settings = load_settings(planet.config, planet.database_url)
    asked: list[bool] = []

    def should_stop() -> bool:
        asked.append(True)
        return False

    result = jobs.update(settings, jobs.open_store(settings), should_stop=should_stop)
    assert result.polled == 0
    assert asked == []


def test_only_problems_are_printed_and_on_stderr(planet: Planet, feed_server: FeedServer) -> None:
    good = feed_server.serve_fixture("/usc", "usc.rdf")
    planet.write_config([{"url": good}, {"url": feed_server.url("/missing"), "name": "Dead"}])
    result = planet.run("update")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"failed: Dead <{feed_server.url('/missing')}>: HTTP 404 Not Found"
    ]


def test_verbose_prints_a_line_per_feed_and_a_summary(
    planet: Planet, feed_server: FeedServer
) -> None:
    planet.write_config([{"url": feed_server.serve_fixture("/usc", "usc.rdf"), "name": "USC"}])
    lines = planet.run("-v", "update").stdout.splitlines()
    assert lines[0] == "ok\tUSC\t5 new, 0 updated"
    assert lines[1].startswith("polled 1 feeds in ")
    written = len(_files(planet.output))
    assert f"5 new, 0 updated, 0 unchanged, 0 failed; wrote {written} files" in lines[1]


def test_a_second_overlapping_run_exits_at_once_and_changes_nothing(
    planet: Planet, feed_server: FeedServer
) -> None:
    slow = feed_server.serve_fixture("/slow", "usc.rdf", delay=4)
    planet.write_config([{"url": slow}])
    first = subprocess.Popen(_command(planet, "update"), stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not feed_server.requests_for("/slow"):
        assert time.monotonic() < deadline, "the first run never fetched"
        time.sleep(0.05)
    second = subprocess.run(
        _command(planet, "update", "--all"), capture_output=True, text=True, timeout=30
    )
    assert second.returncode == 0
    assert "another aggregator is running" in second.stdout
    assert "this run did nothing" in second.stdout
    assert first.wait(timeout=60) == 0
    assert len(feed_server.requests_for("/slow")) == 1
    after = subprocess.run(_command(planet, "-v", "update", "--all"), capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert "polled 1 feeds" in after.stdout, "the lock was not released"


@contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """A folder nobody may write to, root included (root ignores permission bits)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root and chattr +i is not supported here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_an_unwritable_output_folder_is_exit_4_and_the_old_site_stays(
    planet: Planet, feed_server: FeedServer
) -> None:
    planet.write_config([{"url": feed_server.serve_fixture("/usc", "usc.rdf")}])
    assert planet.run("update").exit_code == 0
    before = _files(planet.output)
    feed_server.serve_fixture("/usc", "ist.rss.xml")
    with _read_only(planet.output):
        result = subprocess.run(
            _command(planet, "update", "--all"), capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 4, result.stderr
    assert f"error: cannot write the site to {planet.output}" in result.stderr
    assert "Traceback" not in result.stderr
    assert _files(planet.output) == before


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of the site, those in its subfolders too, by relative path."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and path.name != MANIFEST
    }


FULL_DISK_SCRIPT = """
set -e
mount -t tmpfs -o size="$SIZE" tmpfs "$OUTPUT"
cp -rp "$OLD"/. "$OUTPUT"/
set +e
"$@"
echo "exit=$?"
cd "$OUTPUT" && find . -type f | sort | xargs sha256sum
ls -aR "$OUTPUT"
"""


def test_a_full_disk_is_exit_4_and_the_old_site_stays(
    planet: Planet, feed_server: FeedServer, tmp_path: Path
) -> None:
    """A real full disk: a tiny tmpfs in a private mount namespace (needs root)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to mount a small filesystem privately")
    planet.write_config([{"url": feed_server.serve_fixture("/usc", "usc.rdf")}])
    assert planet.run("update").exit_code == 0
    old = tmp_path / "old-site"
    shutil.copytree(planet.output, old)
    pages = sum(-(-path.stat().st_size // 4096) for path in old.rglob("*") if path.is_file())
    feed_server.serve_fixture("/usc", "marxist.rss.xml")
    environment = {**os.environ, "SIZE": str((pages + 4) * 4096), "OUTPUT": str(planet.output),
                   "OLD": str(old)}  # fmt: skip
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m is not allowed here: {probe.stderr.decode().strip()}")
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", FULL_DISK_SCRIPT, "full-disk",
         *_command(planet, "update", "--all")],
        capture_output=True, text=True, timeout=120, env=environment,
    )  # fmt: skip
    assert "exit=4" in result.stdout, (result.stdout, result.stderr)
    assert "No space left on device" in result.stderr
    expected = subprocess.run(
        "find . -type f | sort | xargs sha256sum",
        shell=True, cwd=old, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for line in expected.splitlines():
        assert line in result.stdout, f"{line} changed on the full disk"
    listed = result.stdout.split("exit=4", 1)[1]
    assert not re.search(r"^\.[^\n]+\.(html|xml|json)\.", listed, re.M), "temporary file left"


def test_a_terminal_gets_a_progress_bar_and_a_pipe_never_does(
    planet: Planet, feed_server: FeedServer
) -> None:
    planet.write_config([{"url": feed_server.serve_fixture(f"/{n}", "usc.rdf")} for n in range(3)])
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        _command(planet, "update"), stdin=secondary, stdout=secondary, stderr=secondary,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    )  # fmt: skip
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=60) == 0
    os.close(primary)
    text = output.decode(errors="replace")
    assert "feeds" in text and "━" in text, text
    assert "polled 3 feeds" in text
    piped = subprocess.run(_command(planet, "-v", "update", "--all"), capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert "━" not in piped.stdout + piped.stderr


def test_a_disk_that_fails_before_the_new_pages_are_safe_keeps_the_old_site(
    planet: Planet, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new pages are renamed into place only once every one of them is on disk: an I/O
    error while making them durable (a failing disk cannot be had on demand, so fsync fails
    here at its third call) leaves the old site as it was, and no temporary file behind."""
    planet.write_config([{"url": feed_server.serve_fixture("/usc", "usc.rdf")}])
    assert planet.run("update").exit_code == 0
    before = _files(planet.output)
    feed_server.serve_fixture("/usc", "ist.rss.xml")
    calls: list[int] = []
    real_fsync = os.fsync

    def failing_fsync(descriptor: int) -> None:
        calls.append(descriptor)
        if len(calls) == 3:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    result = planet.run("update", "--all")
    assert result.exit_code == 4
    assert "Input/output error" in result.stderr
    assert len(calls) >= 3
    assert _files(planet.output) == before
    assert not [path for path in planet.output.rglob(".*") if path.name != MANIFEST]
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert planet.run("publish").exit_code == 0
    assert _files(planet.output) != before
