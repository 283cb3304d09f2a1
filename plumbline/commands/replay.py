"""``plumbline replay``: publish history onto the prints topic in publication order.

Each series comes from the connectors' archive when it holds it (the vintage first published, at its
publication time), else from the data directory. Every print carries the replay flag, so its alerts
carry ``replay="true"`` and page nobody. Progress is saved under ``<state_dir>/replays/`` after each
acknowledged batch: running the same command again resumes where an interrupted replay stopped
(``--restart`` starts over).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from foundation.settings import Settings
from plumbline.commands._args import iso_date

__all__ = ["ProgressBar", "register", "run"]


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


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most every ``interval`` seconds."""

    def __init__(
        self, total: int, stream: TextIO | None = None, width: int = 30, interval: float = 0.2
    ) -> None:
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.width = width
        self.interval = interval
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = 0.0

    def update(self, done: int, label: str = "", force: bool = False) -> None:
        """Show ``done`` of ``total``; off a terminal only forced updates are written (short logs)."""
        now = time.monotonic()
        if not force and (not self._tty or now - self._drawn < self.interval):
            return
        self._drawn = now
        filled = self.width * min(done, self.total) // self.total
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {label}"
        self.stream.write(f"\r\x1b[K{line}" if self._tty else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


def run(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.archive import Archive, default_archive_path
    from connectors.history import HistoryError
    from connectors.producer import PrintProducer
    from connectors.replay import ReplayPlan, ReplayProgress, plan_replay, run_replay
    from foundation.catalogue import UnknownSeriesError
    from offline.evaluation import SIGNAL_SERIES

    if args.end < args.start:
        print("plumbline replay: --to is before --from", file=sys.stderr)
        return 2
    series = list(args.series or SIGNAL_SERIES)
    archive_path = default_archive_path(settings)
    try:
        archive = Archive(archive_path) if archive_path.is_file() else None
        try:
            plan: ReplayPlan = plan_replay(
                settings.data_dir, series, args.start, args.end, archive=archive,
                skip_missing=args.series is None,
            )  # fmt: skip
        finally:
            if archive is not None:
                archive.close()
    except (HistoryError, UnknownSeriesError) as exc:
        print(f"plumbline replay: {exc}", file=sys.stderr)
        return 1
    for series_id in plan.missing:
        print(
            f"plumbline replay: no {series_id} in the archive or the data directory; skipped", file=sys.stderr
        )
    progress = ReplayProgress.load(settings.state_dir, plan)
    if args.restart:
        progress.clear()
    if progress.done:
        print(f"replay of {args.start} .. {args.end} already complete ({progress.sent} prints); "
              "--restart sends it again")  # fmt: skip
        return 0
    skipped = progress.sent
    if skipped:
        print(f"resuming after {skipped} of {len(plan.prints)} prints already sent", file=sys.stderr)
    bar = ProgressBar(len(plan.prints))
    last_shown = [skipped]

    def flushed(count: int) -> None:
        progress.record(plan, skipped + count)
        bar.update(
            skipped + count, plan.prints[skipped + count - 1].observation_date.isoformat() if count else ""
        )
        last_shown[0] = skipped + count

    with PrintProducer(settings) as producer:
        sent = run_replay(producer, plan.prints[skipped:], args.speed, on_flushed=flushed)
    bar.update(last_shown[0], "done", force=True)
    bar.close()
    sources = sorted({source for source in plan.sources.values() if source != "missing"})
    print(f"replayed {sent} prints of {len(plan.sources) - len(plan.missing)} series from {args.start} to "
          f"{args.end} ({' and '.join(sources)}) onto {settings.topic_prints}")  # fmt: skip
    return 0
