"""The measured steps, each run by the harness in a fresh interpreter of its own.

    python -m bench.steps ours-update FEEDS_YAML DATABASE_URL
    python -m bench.steps reader-add DATABASE_PATH URL_LIST
    python -m bench.steps reader-update DATABASE_PATH WORKERS
    python -m bench.steps fill FEEDS_YAML DATABASE_URL ENTRIES

A process per step makes its peak memory and CPU time its own (wait4 and the harness's sampler
of its process tree report them for that child and its workers alone) and includes the start-up
a cron job pays. Each prints one JSON line of counts on stdout,
which the harness checks, so a step that silently fetched nothing cannot pass as fast.

`ours-update` loads what `aggregator update --all` loads and calls the update job as it does,
inside the same run lock, but without the publish that the command always does afterwards:
publishing is timed as a step of its own with the real `aggregator publish` command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def ours_update(config: str, database: str) -> dict[str, Any]:
    # The command line too, loaded as the command loads it, so that the step holds what
    # `aggregator update` holds.
    from aggregator.__main__ import load_command_line

    load_command_line()
    from aggregator import jobs
    from aggregator.config import load_settings

    settings = load_settings(Path(config), database)
    sessions = jobs.open_store(settings)
    with jobs.exclusive(settings, sessions):
        result = jobs.update(settings, sessions, ignore_schedule=True)
    for outcome in result.outcomes:
        if outcome.error:
            print(f"{outcome.url}: {outcome.error}", file=sys.stderr)
    return {
        "polled": result.polled,
        "new": result.new_entries,
        "updated": result.updated_entries,
        "not_modified": result.not_modified,
        "failed": result.failed,
    }


def reader_add(path: str, url_list: str) -> dict[str, Any]:
    from reader import make_reader

    urls = Path(url_list).read_text().split()
    with make_reader(path) as reader:
        for url in urls:
            reader.add_feed(url, exist_ok=True)
    return {"added": len(urls)}


def reader_update(path: str, workers: str) -> dict[str, Any]:
    """reader's own loop, counted through update_feeds_iter (update_feeds is that loop)."""
    from reader import UpdatedFeed, make_reader

    counts = {"polled": 0, "new": 0, "updated": 0, "not_modified": 0, "failed": 0}
    with make_reader(path) as reader:
        for result in reader.update_feeds_iter(scheduled=False, workers=int(workers)):
            counts["polled"] += 1
            if isinstance(result.value, UpdatedFeed):
                counts["new"] += result.value.new
                counts["updated"] += result.value.modified
            elif result.value is None:
                counts["not_modified"] += 1
            else:
                counts["failed"] += 1
                print(f"{result.url}: {result.value}", file=sys.stderr)
    return counts


def fill(config: str, database: str, total: str) -> dict[str, Any]:
    """Put `total` entries straight into the tables, spread over the configured feeds.

    The publish benchmark needs a large database, not the time it takes to poll one into
    being; the rows are those the update stores for the farm's entries: their language, their
    details (author, link, categories, text forms) and an updated date equal to the published.
    """
    import hashlib

    from sqlalchemy import insert, select

    from aggregator import jobs
    from aggregator.config import load_settings
    from aggregator.dedupe import link_key
    from aggregator.models import Entry, Feed
    from aggregator.records import Category, EntryDetails, Link, Person, TextForm
    from aggregator.store import details_document
    from bench.farm import Farm

    settings = load_settings(Path(config), database)
    sessions = jobs.open_store(settings)
    jobs.sync_configuration(settings, sessions)
    feeds = len(settings.feeds)
    farm = Farm(Path(config).parent, feeds, -(-int(total) // feeds))
    with sessions.begin() as session:
        ids = {url: feed_id for feed_id, url in session.execute(select(Feed.id, Feed.url))}
        feed_ids = [ids[feed.url] for feed in settings.feeds]
        batch: list[dict[str, Any]] = []
        for number in range(int(total)):
            entry = farm.entry(number % feeds, number // feeds)
            # RSS items name no language of their own and their titles are text; the Atom
            # feeds' xml:lang and HTML titles reach every entry.
            rss = farm.relative(number % feeds).endswith(".rss")
            language = None if rss else "en"
            details = EntryDetails(
                authors=(Person(entry.author),),
                links=(Link(entry.link, "alternate", "text/html"),),
                categories=tuple(Category(term) for term in entry.categories),
                title=TextForm("text" if rss else "html", language),
                content=TextForm("html", language),
            )
            batch.append(
                {
                    "feed_id": feed_ids[number % feeds],
                    "guid": entry.guid,
                    "link": entry.link,
                    "link_key": link_key(entry.link),
                    "title": entry.title,
                    "title_derived": False,
                    "author": entry.author,
                    "summary": entry.excerpt.removesuffix(" [&#8230;]"),
                    "content": entry.html,
                    "categories": list(entry.categories),
                    "language": "en-GB" if rss else "en",
                    "details": details_document(details),
                    "published_at": entry.published,
                    "updated_at": entry.published,
                    "first_seen_at": entry.published,
                    "content_hash": hashlib.sha256(entry.html.encode()).hexdigest(),
                    "fingerprint": "",
                }
            )
            if len(batch) == 5000:
                session.execute(insert(Entry), batch)
                batch = []
        if batch:
            session.execute(insert(Entry), batch)
    return {"entries": int(total), "feeds": feeds}


STEPS = {
    "ours-update": ours_update,
    "reader-add": reader_add,
    "reader-update": reader_update,
    "fill": fill,
}


def main(argv: Sequence[str] | None = None) -> None:
    name, *arguments = sys.argv[1:] if argv is None else argv
    print(json.dumps(STEPS[name](*arguments)))


if __name__ == "__main__":
    main()
