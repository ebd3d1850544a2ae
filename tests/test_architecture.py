"""The data flows one way: each module imports only the layers below it (DESIGN.md).

Layer 0 is shared vocabulary, 1 the pure stages and the models, 2 the decisions built on them,
the database and what the last publish left, 3 the reading of one fetch result and the writer
of files, 4 the update run that wires the stages and the processes that render pages, 5 the
jobs, and the daemon and CLI on top.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from tests.conftest import Planet

LAYERS = {
    "aggregator.errors": 0,
    "aggregator.records": 0,
    # A leaf the normaliser consults, like a library: it imports nothing of ours.
    "aggregator.language": 0,
    # parse's fast route: reads a document into feedparser's shape, importing nothing of ours.
    "aggregator.parse_fast": 0,
    # feeds.yaml's YAML, read with the line of every key: it imports nothing of ours.
    "aggregator.yaml_document": 0,
    "aggregator.config": 1,
    "aggregator.fetch": 1,
    "aggregator.parse": 1,
    "aggregator.normalize": 1,
    "aggregator.dedupe": 1,
    "aggregator.schedule": 1,
    "aggregator.models": 1,
    # Stored rows read back as records, without the database library (see its docstring).
    "aggregator.views": 1,
    # The per-story markup publish writes: it knows the records, not the publisher.
    "aggregator.entry_markup": 1,
    "aggregator.feed_state": 2,
    "aggregator.feeds_file": 2,
    "aggregator.filters": 2,
    "aggregator.subscriptions": 1,
    "aggregator.lock": 1,
    "aggregator.websub": 1,
    "aggregator.db": 2,
    "aggregator.store": 2,
    # Which pages the last publish left can be kept: below the writer, which consults it.
    "aggregator.publish_manifest": 2,
    "aggregator.publish": 3,
    "aggregator.read": 3,
    "aggregator.publish_pool": 4,
    "aggregator.read_worker": 4,
    "aggregator.update": 4,
    "aggregator.probe": 3,
    "aggregator.jobs": 5,
    "aggregator.daemon": 6,
    "aggregator.logs": 6,
    "aggregator.progress": 6,
    "aggregator.cli": 7,
}
NETWORK_AND_DATABASE = ("httpx", "sqlalchemy", "alembic")


def _loaded_by(module: str) -> set[str]:
    code = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted(name for name, module in sys.modules.items() if module)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, module], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(output))


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_a_stage_imports_nothing_from_a_layer_above_it(module: str) -> None:
    loaded = _loaded_by(module)
    not_below = {
        other for other, layer in LAYERS.items() if layer >= LAYERS[module] and other != module
    }
    assert loaded & not_below == set()


@pytest.mark.parametrize(
    "module",
    [
        "aggregator.parse",
        "aggregator.normalize",
        "aggregator.schedule",
        "aggregator.feed_state",
        "aggregator.publish",
        "aggregator.entry_markup",
        "aggregator.views",
        # What a parsing or rendering process imports: it must stay light.
        "aggregator.read",
        "aggregator.publish_pool",
    ],
)
def test_pure_stages_load_no_network_or_database_library(module: str) -> None:
    loaded = _loaded_by(module)
    assert not {name for name in loaded if name.split(".")[0] in NETWORK_AND_DATABASE}


def test_fetch_knows_nothing_of_the_database() -> None:
    loaded = _loaded_by("aggregator.fetch")
    assert not {name for name in loaded if name.split(".")[0] in {"sqlalchemy", "alembic"}}


@pytest.mark.parametrize("module", ["aggregator.cli", "aggregator.daemon"])
def test_the_updating_process_loads_the_parsing_libraries_only_to_parse(module: str) -> None:
    """With a pool, feeds are parsed in other processes; the one that downloads and stores
    then never needs feedparser, lxml, nh3 or the language detector."""
    loaded = _loaded_by(module)
    assert {name.split(".")[0] for name in loaded} & {
        "feedparser",
        "lxml",
        "nh3",
        "pycld2",
    } == set()


@pytest.mark.parametrize("module", ["aggregator.cli", "aggregator.daemon"])
def test_the_updating_process_loads_the_publishing_libraries_only_to_publish(module: str) -> None:
    """`aggregator update` stores before it publishes, and its memory peaks while it stores,
    beside its parsing processes: the templates' libraries are loaded after that."""
    loaded = _loaded_by(module)
    assert {name.split(".")[0] for name in loaded} & {"jinja2", "markupsafe", "slugify"} == set()
    assert not {name for name in loaded if name.startswith("aggregator.publish")}


def test_the_command_line_loads_what_editing_importing_and_the_daemon_need_only_for_them() -> None:
    """A cron job runs `aggregator update` every few minutes: it needs neither the round-trip
    YAML editor of `add` and `remove`, nor the subscription readers, nor the scheduler."""
    loaded = _loaded_by("aggregator.cli")
    assert {name.split(".")[0] for name in loaded} & {"ruamel", "apscheduler"} == set()
    assert {"aggregator.feeds_file", "aggregator.subscriptions", "aggregator.daemon"} & loaded == (
        set()
    )


@pytest.mark.parametrize("module", ["aggregator.cli", "aggregator.jobs"])
def test_a_cron_update_loads_neither_rich_nor_the_http_clients_command_line(module: str) -> None:
    """A progress bar is drawn only on a terminal, which cron has none of; and httpx's own
    command-line client (Rich's syntax highlighting, Pygments' lexers) is never run here."""
    loaded = _loaded_by(module)
    assert "httpx" in loaded
    assert {name.split(".")[0] for name in loaded} & {"rich", "pygments"} == set()
    assert "httpx._main" not in loaded


@pytest.mark.parametrize(
    "entry_point",
    [
        "aggregator.__main__",
        # As an earlier version's install wrote it, which an editable install keeps.
        "aggregator.cli",
    ],
)
def test_a_worker_of_the_installed_command_does_not_load_the_command_line(
    tmp_path: Path, entry_point: str
) -> None:
    """multiprocessing starts a parsing or rendering process by importing its parent's main
    module, here the installed `aggregator` script, written as pip writes it: a worker must not
    load the whole command line (SQLAlchemy, Click, Rich) for nothing."""
    script = tmp_path / "aggregator"
    script.write_text(
        dedent(
            """\
            import multiprocessing
            import sys
            from concurrent.futures import ProcessPoolExecutor
            from ENTRY_POINT import main

            if __name__ == "__main__":
                sys.argv = ["aggregator", "--version"]
                try:
                    main()
                except SystemExit:
                    pass
                probe = "sorted({'sqlalchemy', 'click', 'rich'} & set(__import__('sys').modules))"
                for method in ("spawn", "forkserver"):
                    context = multiprocessing.get_context(method)
                    with ProcessPoolExecutor(1, mp_context=context) as pool:
                        found = pool.submit(eval, probe).result()
                    print(method, found)
            """
        ).replace("ENTRY_POINT", entry_point)
    )
    output = subprocess.run(
        [sys.executable, str(script)], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout

    assert output.splitlines()[-2:] == ["spawn []", "forkserver []"]


def test_the_command_loads_its_libraries_without_collecting_garbage_and_keeps_them_frozen() -> None:
    """Every cron run loads some 130,000 objects that live to its end; the collector walking
    them while they load, and at each full collection afterwards, is start-up time for
    nothing (aggregator.__main__)."""
    code = dedent(
        """\
        import gc, json
        collections = []
        gc.callbacks.append(lambda phase, info: collections.append(phase))
        from aggregator.__main__ import load_command_line
        before = len(collections)
        main = load_command_line()
        found = [len(collections) - before, gc.get_freeze_count(), gc.isenabled(), main.__module__]
        print(json.dumps(found))
        """
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    collections, frozen, enabled, module = json.loads(output)
    assert collections == 0
    assert frozen > 50_000
    assert enabled
    assert module == "aggregator.cli"


def test_a_publish_leaves_the_libraries_frozen(planet: Planet) -> None:
    """gc.unfreeze releases every frozen object at once: a publish that unfroze its own objects
    made every later collection of a daemon walk the libraries again, and the command's exit
    free them one by one, a quarter of a second of a publish with nothing new."""
    planet.write_config([{"url": "http://127.0.0.1:9/feed.xml", "name": "Unreachable"}])
    code = dedent(
        """\
        import gc, json, sys
        from aggregator.__main__ import load_command_line
        main = load_command_line()
        frozen = gc.get_freeze_count()
        try:
            main()
        except SystemExit as end:
            assert not end.code, end.code
        print(json.dumps([frozen, gc.get_freeze_count()]))
        """
    )
    arguments = ["-c", str(planet.config), "--database", planet.database_url, "publish"]
    output = subprocess.run(
        [sys.executable, "-c", code, *arguments], check=True, capture_output=True, text=True
    ).stdout
    before, after = json.loads(output.splitlines()[-1])
    assert (planet.output / "index.html").exists()
    assert before > 50_000
    assert after > 50_000
