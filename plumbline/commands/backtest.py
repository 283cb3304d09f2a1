"""``plumbline backtest``: history through the in-process engine, written up as a report directory."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from foundation.settings import Settings
from plumbline.commands._args import iso_date

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backtest",
        help="run history through the detectors in-process and write an HTML report",
        description="Run the prints of a window (archive, else PLUMBLINE_DATA_DIR) in publication order "
        "through the same signals and detectors as the worker, without Kafka, and write a report "
        "directory: index.html with plots, the episode table, alerts.csv and alerts.json.",
    )
    parser.add_argument("--from", dest="start", type=iso_date, required=True, metavar="DATE")
    parser.add_argument("--to", dest="end", type=iso_date, required=True, metavar="DATE")
    parser.add_argument(
        "--output", type=Path, default=None, metavar="DIR",
        help="report directory (default: <state_dir>/backtests/FROM_TO)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.history import HistoryError
    from offline.backtest import run_backtest
    from offline.report import episode_table_markdown, write_report

    if args.end < args.start:
        print("plumbline backtest: --to is before --from", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        result = run_backtest(settings, args.start, args.end)
    except HistoryError as exc:
        print(f"plumbline backtest: {exc}", file=sys.stderr)
        return 1
    if not result.plan.prints:
        print(
            f"plumbline backtest: no prints between {args.start} and {args.end} in the archive or the data "
            "directory; set PLUMBLINE_DATA_DIR or run `plumbline fetch`",
            file=sys.stderr,
        )
        return 1
    output = args.output or settings.state_dir / "backtests" / f"{args.start}_{args.end}"
    index = write_report(result, output)
    sys.stdout.write(episode_table_markdown(result))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"{len(result.plan.prints)} prints, {len(result.alerts)} alerts; engine {result.seconds:.1f} s, "
        f"total {time.perf_counter() - started:.1f} s; report: {index}",
        file=sys.stderr,
    )
    return 0
