"""Ending a worker process once the process it works for is gone.

A pool's worker waits on its queue of tasks, whose writing end it holds too, so a process that
dies without closing its pool (killed by a cron timeout, the OOM killer, SIGKILL) leaves its
workers waiting forever, and with them the forkserver they came from, which lives as long as
any of them does. Each worker watches the process it works for instead, through a pidfd
(Linux 5.3 and later): it names that one process, and no other can take its number.
"""

from __future__ import annotations

import os
import select
import threading


def exit_with(pid: int) -> None:
    """Pool initializer: end this process as soon as process `pid` has ended."""
    try:
        watched = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        # No pidfd on this system: the worker ends only with its pool, as pools' workers do.
        return
    watcher = threading.Thread(
        target=_exit_when_readable, args=(watched,), name="exit-with-parent", daemon=True
    )
    watcher.start()


def _exit_when_readable(watched: int) -> None:
    select.select([watched], [], [])
    os._exit(1)
