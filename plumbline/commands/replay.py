"""``plumbline replay``: publish history onto the prints topic in publication order."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from plumbline.settings import Settings

DEFAULT_SERIES = ("SOFR", "IORB", "IOER")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'max'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be positive")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay", help="publish history from the data directory onto the prints topic"
    )
    parser.add_argument("--from", dest="start", type=_date, required=True, metavar="DATE")
    parser.add_argument("--to", dest="end", type=_date, required=True, metavar="DATE")
    parser.add_argument(
        "--speed", type=_speed, default=None,
        help="historic seconds per wall-clock second (e.g. 345600 = 4 days a second), or 'max' (default)",
    )  # fmt: skip
    parser.add_argument("--series", nargs="+", default=list(DEFAULT_SERIES), metavar="ID")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.history import HistoryError
    from connectors.producer import PrintProducer
    from connectors.replay import plan_replay, run_replay
    from plumbline.catalogue import UnknownSeriesError

    if args.end < args.start:
        print("plumbline replay: --to is before --from", file=sys.stderr)
        return 2
    try:
        plan = plan_replay(settings.data_dir, args.series, args.start, args.end)
    except (HistoryError, UnknownSeriesError) as exc:
        print(f"plumbline replay: {exc}", file=sys.stderr)
        return 1
    with PrintProducer(settings) as producer:
        sent = run_replay(producer, plan.prints, args.speed)
    print(f"replayed {sent} prints of {', '.join(args.series)} from {args.start} to {args.end} "
          f"onto {settings.topic_prints}")  # fmt: skip
    return 0
