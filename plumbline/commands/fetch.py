"""``plumbline fetch``: fill the print archive with full history, from the live sources or a data directory.

Live: every route of the selected series is fetched from ``--since`` (default: the start of each
upstream history) to today, a year per request where the source pages by date, with a progress bar.
Nothing is produced: history reaches the prints topic only through ``plumbline republish``.
``--data-dir DIR`` imports the ``date,value`` CSVs instead (no network needed). Without network the
command says so in one line, and imports ``PLUMBLINE_DATA_DIR`` if that is set.
The work is done by :mod:`connectors.ingest`; this module parses, calls and prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from foundation.settings import Settings
from plumbline.commands._args import iso_date

if TYPE_CHECKING:
    from connectors.archive import Archive
    from connectors.ingest import IngestStep
    from plumbline.commands._progress import ProgressBar

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add ``plumbline fetch``."""
    parser = subparsers.add_parser(
        "fetch", help="pull full history into the print archive (live sources, or --data-dir CSVs)"
    )
    parser.add_argument("--series", nargs="+", metavar="ID", help="catalogue series (default: all)")
    parser.add_argument(
        "--since", type=iso_date, metavar="DATE", help="first observation date (default: all history)"
    )
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="import date,value CSVs from DIR instead of the network"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> int:
    """Run ``plumbline fetch``; ``transport`` lets tests serve the sources from memory."""
    from connectors.archive import Archive, default_archive_path
    from connectors.ingest import check_network, fetch_history
    from connectors.sources import http_client
    from foundation.catalogue import SERIES, UnknownSeriesError, get_series
    from foundation.logs import configure_logging
    from plumbline.commands._progress import ProgressBar

    configure_logging(settings)  # connectors log to stderr; the answer and the progress stay as they are
    try:
        series = [get_series(s).id for s in args.series] if args.series else list(SERIES)
    except UnknownSeriesError as exc:
        print(f"plumbline fetch: {exc}", file=sys.stderr)
        return 2
    if args.data_dir is not None:
        if not args.data_dir.is_dir():
            print(f"plumbline fetch: --data-dir {args.data_dir} is not a directory", file=sys.stderr)
            return 2
        with Archive.open(settings) as archive:
            return _import(archive, args.data_dir.resolve(), series, args.since)

    with http_client(settings, transport) as client:
        network = check_network(client, settings)
        if network.offline:
            hosts = ", ".join(sorted(network.unreachable))
            if settings.data_dir is None:
                print(
                    f"plumbline fetch: no network (cannot reach {hosts}) and no data directory: "
                    "pass --data-dir DIR (date,value CSVs, e.g. ../shared/data/series) "
                    "or set PLUMBLINE_DATA_DIR",
                    file=sys.stderr,
                )
                return 1
            print(
                f"plumbline fetch: no network (cannot reach {hosts}); "
                f"importing PLUMBLINE_DATA_DIR={settings.data_dir}"
            )
            with Archive.open(settings) as archive:
                return _import(archive, settings.data_dir, series, args.since)
        with Archive.open(settings) as archive:
            print(f"plumbline fetch: archive {default_archive_path(settings)}")
            with ProgressBar(None, desc="fetch", unit="request") as bar:
                summary = fetch_history(archive, settings, client, series, args.since, progress=_show(bar))
    total = summary.report
    print(f"plumbline fetch: {total.new} new prints, {total.revised} revisions, {total.repeats} repeats, "
          f"{total.dead_letters} dead letters; {summary.requests} requests")  # fmt: skip
    if summary.uncovered:
        print(
            f"plumbline fetch: no live source for {', '.join(summary.uncovered)}: import it with --data-dir"
        )
    if summary.failed:
        print(
            f"plumbline fetch: failed: {', '.join(summary.failed)} (see the lines above); run again to retry",
            file=sys.stderr,
        )
        return 1
    return 0


def _show(bar: ProgressBar) -> Callable[[IngestStep], None]:
    """The progress callback of :mod:`connectors.ingest`, drawn on ``bar``."""

    def show(step: IngestStep) -> None:
        bar.advance_to(step.done, step.label, total=step.total)
        if step.finished:
            bar.line(step.finished)

    return show


def _import(archive: Archive, data_dir: Path, series: Sequence[str], since: dt.date | None) -> int:
    from connectors.ingest import import_history
    from plumbline.commands._progress import ProgressBar

    with ProgressBar(len(series), desc="import", unit="series") as bar:
        summary = import_history(archive, data_dir, series, since, progress=_show(bar))
    total = summary.report
    print(
        f"plumbline fetch: imported {summary.imported} of {summary.requested} series from {data_dir}: "
        f"{total.new} new prints, {total.revised} revisions, {total.repeats} repeats, "
        f"{total.dead_letters} rows dead-lettered"
    )
    if summary.missing:
        print(f"plumbline fetch: no history file for {', '.join(summary.missing)} (live sources only)")
    return 0 if summary.imported else 1
