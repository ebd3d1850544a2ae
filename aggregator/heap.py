"""Keep the daemon's C heap from creeping up over weeks of polls (glibc's malloc only).

glibc gives a thread that allocates while another does an arena of its own, up to eight for
each CPU, and keeps what is freed in an arena for that arena's later use. The daemon's jobs run
on threads that come and go (each update's event loop executor, its storing thread, the
scheduler's workers), so the freed memory of many arenas piles up: in a loop of updates and
publishes of a 1,000-feed farm in one process, the resident memory went from 102 to 151 MiB
in 16 rounds, and in 60 rounds of a 300-feed farm it was still growing, while the Python objects
stayed as many (bench/README.md, the sixteenth part). Two arenas, and the free memory returned
to the system after each job, keep it near where the first rounds leave it.

Python's standard library has no interface to these two calls of the C library; they are made
through ctypes, in fewer lines than a dependency would take. Where the C library has neither
(musl, macOS), nothing is done.
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import Any

# mallopt's parameter for the most arenas (malloc.h).
M_ARENA_MAX = -8
ARENAS = 2


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Let malloc use at most `arenas` arenas; whether it took the setting.

    glibc fixes the limit when a second thread first needs an arena, so this must run before
    the process starts any thread.
    """
    mallopt = _function("mallopt")
    return mallopt is not None and mallopt(M_ARENA_MAX, arenas) == 1


def give_back_free_memory() -> bool:
    """Return the free memory of every arena to the system; whether there was any to return."""
    malloc_trim = _function("malloc_trim")
    return malloc_trim is not None and malloc_trim(0) == 1


@cache
def _function(name: str) -> Any:
    """A function of the C library the process runs on, None where it has none by that name.

    The process's own symbols (`CDLL(None)`) hold the C library's: no search for its file.
    """
    try:
        library = ctypes.CDLL(None)
    except (OSError, TypeError):
        return None
    return getattr(library, name, None)
