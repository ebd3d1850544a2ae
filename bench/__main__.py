"""python -m bench: our update and publish beside lemon24/reader's update, on one feed farm.

    python -m bench [--feeds 1000] [--entries 20] [--runs 3] [--modify 0.1]
                    [--only ours|reader] [--server auto|nginx|python] [--reader-workers 32]
                    [--python INTERPRETER]
    python -m bench --publish-entries 100000 [--feeds 1000] [--runs 3]
    python -m bench --hostile [--bomb-mib 1024] [--hostile-timeout 30s] [--feeds 1000] [--runs 3]

Progress goes to stderr, the table of medians to stdout. See bench/README.md for what each row
measures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench.harness import Options, print_report, run_hostile, run_publish, run_updates


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--feeds", type=int, default=1000, help="feeds in the farm")
    parser.add_argument("--entries", type=int, default=20, help="entries in each feed")
    parser.add_argument("--runs", type=int, default=3, help="runs; the table shows medians")
    parser.add_argument(
        "--modify", type=float, default=0.1, metavar="FRACTION",
        help="share of the feeds given one new entry for the changed update",
    )  # fmt: skip
    parser.add_argument("--only", choices=("ours", "reader"), help="measure one tool")
    parser.add_argument(
        "--publish-entries", type=int, metavar="N",
        help="instead: fill a database with N entries and time `aggregator publish` alone",
    )  # fmt: skip
    parser.add_argument(
        "--hostile", action="store_true",
        help="instead: our cold update of the farm alone and with three hostile feeds, in turns",
    )  # fmt: skip
    parser.add_argument(
        "--bomb-mib", type=int, default=1024, metavar="MIB",
        help="with --hostile: what the gzip bomb inflates to",
    )  # fmt: skip
    parser.add_argument(
        "--hostile-timeout", default="30s", metavar="DURATION",
        help="with --hostile: the hostile feeds' timeout in feeds.yaml (30s, the default)",
    )  # fmt: skip
    parser.add_argument(
        "--server", choices=("auto", "nginx", "python"), default="auto",
        help="what serves the farm; auto is nginx when installed",
    )  # fmt: skip
    parser.add_argument(
        "--reader-workers", type=int, default=32,
        help="reader's fetching threads; 32 matches our requests in flight",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=7, help="seed of the farm's content")
    parser.add_argument(
        "--python", default=sys.executable, metavar="INTERPRETER",
        help="the Python that runs our steps, such as a production install's (see README)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if min(args.feeds, args.entries, args.runs, args.reader_workers) < 1:
        parser.error("--feeds, --entries, --runs and --reader-workers must be at least 1")
    if not 0 <= args.modify <= 1:
        parser.error("--modify is a fraction between 0 and 1")
    if args.hostile and (args.publish_entries or args.only == "reader"):
        parser.error("--hostile measures our update alone, not with --publish-entries or reader")
    if args.bomb_mib < 1:
        parser.error("--bomb-mib must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    options = Options(
        feeds=args.feeds,
        entries=args.entries,
        runs=args.runs,
        modify=args.modify,
        only=args.only,
        server=args.server,
        reader_workers=args.reader_workers,
        seed=args.seed,
        python=args.python,
        bomb_mib=args.bomb_mib,
        hostile_timeout=args.hostile_timeout,
    )
    if args.publish_entries:
        report = run_publish(options, args.publish_entries)
    elif args.hostile:
        report = run_hostile(options)
    else:
        report = run_updates(options)
    print_report(report, sys.stdout)


if __name__ == "__main__":
    main()
