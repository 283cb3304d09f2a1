"""``plumbline replay``: publish history onto the prints topic in publication order.

Each series comes from the connectors' archive when it holds it (the vintage first published, at its
publication time), else from the data directory. Every print carries the replay flag, so its alerts
carry ``replay="true"`` and page nobody. Progress is saved under ``<state_dir>/replays/`` after each
acknowledged batch: running the same command again resumes where an interrupted replay stopped
(``--restart`` starts over). The work is done by :mod:`connectors.replay`; this module parses, calls
and prints.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from foundation.settings import Settings
from plumbline.commands._args import iso_date

__all__ = ["register", "run"]


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
        "replay",
        help="publish history (archive, else data directory) onto the prints topic",
        description="Publish the prints of a window onto the prints topic in publication order, with the "
        "replay flag set. Interrupted replays resume; --restart starts over.",
    )
    parser.add_argument("--from", dest="start", type=iso_date, required=True, metavar="DATE")
    parser.add_argument("--to", dest="end", type=iso_date, required=True, metavar="DATE")
    parser.add_argument(
        "--speed", type=_speed, default=None,
        help="historic seconds per wall-clock second (e.g. 345600 = 4 days a second), or 'max' (default)",
    )  # fmt: skip
    parser.add_argument(
        "--series", nargs="+", default=None, metavar="ID",
        help="catalogue series (default: every series a signal is built from)",
    )  # fmt: skip
    parser.add_argument("--restart", action="store_true", help="forget saved progress and start over")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.history import HistoryError
    from connectors.producer import PrintProducer
    from connectors.replay import ResumableReplay, plan_from_settings
    from foundation.catalogue import UnknownSeriesError
    from foundation.records import Print
    from offline.evaluation import SIGNAL_SERIES
    from plumbline.commands._errors import broker_unreachable, is_broker_unreachable
    from plumbline.commands._progress import ProgressBar

    if args.end < args.start:
        print("plumbline replay: --to is before --from", file=sys.stderr)
        return 2
    try:
        plan = plan_from_settings(
            settings,
            list(args.series or SIGNAL_SERIES),
            args.start,
            args.end,
            skip_missing=args.series is None,
        )
    except (HistoryError, UnknownSeriesError) as exc:
        print(f"plumbline replay: {exc}", file=sys.stderr)
        return 1
    if not plan.prints:
        where = (
            f"the data directory {settings.data_dir}" if settings.data_dir else "PLUMBLINE_DATA_DIR (unset)"
        )
        print(f"plumbline replay: no prints between {args.start} and {args.end} in the archive or {where}: "
              "set PLUMBLINE_DATA_DIR to a folder of date,value CSVs or run `plumbline fetch`",
              file=sys.stderr)  # fmt: skip
        return 1
    for series_id in plan.missing:
        print(
            f"plumbline replay: no {series_id} in the archive or the data directory; skipped", file=sys.stderr
        )
    replay = ResumableReplay(settings, plan, restart=args.restart)
    if replay.topic_lost:
        print(f"plumbline replay: the broker lost {settings.topic_prints} since the last run (it was created "
              "again); sending the whole window again (prints the worker already has are no-ops)",
              file=sys.stderr)  # fmt: skip
    if replay.complete:
        print(f"replay of {args.start} .. {args.end} already complete ({replay.already_sent} prints); "
              "--restart sends it again")  # fmt: skip
        return 0
    if replay.already_sent:
        print(
            f"resuming after {replay.already_sent} of {len(plan.prints)} prints already sent", file=sys.stderr
        )

    # Reach the broker before drawing any progress: a missing one is one line, not a broken bar.
    try:
        producer = PrintProducer(settings)
    except Exception as exc:
        if not is_broker_unreachable(exc):
            raise
        print(f"plumbline replay: {broker_unreachable(exc, settings)}", file=sys.stderr)
        return 1
    try:
        with ProgressBar(len(plan.prints), desc="replay", unit="print", initial=replay.already_sent) as bar:

            def show(done: int, latest: Print | None) -> None:
                bar.advance_to(done, latest.observation_date.isoformat() if latest else "")

            sent = replay.run(args.speed, on_progress=show, producer=producer)
            bar.close("done")
    except Exception as exc:
        if not is_broker_unreachable(exc):
            raise
        # The broker went away mid-replay: what it acknowledged is saved; nothing queued is waited for.
        # Queued prints are dropped before the close: kafka-python's close waits for them first and
        # raises, and its finaliser then tries again at exit and prints a traceback.
        client = producer._producer
        with contextlib.suppress(Exception):
            client._accumulator.abort_incomplete_batches()
        with contextlib.suppress(Exception):
            client.close(timeout=0)
        print(f"plumbline replay: {broker_unreachable(exc, settings)}; {replay.progress.sent} of "
              f"{len(plan.prints)} prints acknowledged: run the same command again to resume",
              file=sys.stderr)  # fmt: skip
        return 1
    producer.close()
    if replay.topic_lost_while_sending:
        print(f"plumbline replay: the broker lost {settings.topic_prints} during the replay (it was "
              "created again); run the same command again to send the whole window again",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"replayed {sent} prints of {len(plan.found)} series from {args.start} to "
          f"{args.end} ({' and '.join(plan.origins)}) onto {settings.topic_prints}")  # fmt: skip
    return 0
