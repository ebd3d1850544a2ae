"""The daemon gives back what its jobs' threads freed, instead of growing over weeks of polls.

The figures of a real daemon are in bench/README.md (the sixteenth part); these tests hold the
C library calls to doing what aggregator/heap.py says they do, on a C library that has them.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aggregator import heap

BLOCK = 4096
BLOCKS = 20_000


def _resident_anonymous_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    pytest.skip("no RssAnon in /proc/self/status: not Linux")


def _needs(name: str) -> None:
    if heap._function(name) is None:
        pytest.skip(f"the C library has no {name} (not glibc): aggregator.heap does nothing")


def test_what_a_finished_thread_freed_goes_back_to_the_system() -> None:
    """A thread that freed most of 80 MB but kept every tenth block leaves its arena full of
    holes, which malloc keeps for later; giving them back returns them to the system."""
    _needs("malloc_trim")
    kept: list[bytearray] = []

    def job() -> None:
        blocks = [bytearray(BLOCK) for _ in range(BLOCKS)]
        kept.extend(blocks[::10])

    heap.give_back_free_memory()
    before = _resident_anonymous_kib()
    worker = threading.Thread(target=job)
    worker.start()
    worker.join()
    held = _resident_anonymous_kib()
    assert held - before > BLOCK * BLOCKS // 1024 // 2, "the thread's blocks were never resident"

    assert heap.give_back_free_memory()
    after = _resident_anonymous_kib()
    freed_kib = BLOCK * BLOCKS * 9 // 10 // 1024
    assert held - after > freed_kib // 2, (before, held, after)
    assert len(kept) == BLOCKS // 10


def test_the_arena_limit_is_taken_before_the_first_thread() -> None:
    """In a process of its own, as `aggregator run` calls it before anything else."""
    _needs("mallopt")
    script = (
        "import threading\n"
        "from aggregator.heap import limit_arenas\n"
        "assert threading.active_count() == 1\n"
        "print(limit_arenas())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "True", result.stderr
