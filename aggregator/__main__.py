"""The `aggregator` command, installed or run as `python -m aggregator`."""

import gc
from collections.abc import Callable


def load_command_line() -> Callable[[], None]:
    """Import the command line with the cyclic garbage collector paused, and leave what the
    imports made out of later collections.

    The imports create some 130,000 objects the collector tracks (SQLAlchemy's, pydantic's,
    httpx's) that live as long as the process; the collector walked them again and again while
    they were created, 50 ms of every command's start, and at every later full collection, the
    interpreter's own at exit included. Frozen (`gc.freeze`), they are left alone, with the few
    hundred objects the imports left as garbage, as Python's documentation of `gc.freeze` has
    it for this pattern. Nothing may unfreeze them later: `gc.unfreeze` releases every frozen
    object, and a publish that did so to its own objects cost every later collection of a
    daemon the walk again, and every command 0.25 s at its exit, which then freed them one by
    one.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        from aggregator.cli import main
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return main


def main() -> None:
    load_command_line()()


if __name__ == "__main__":
    main()
