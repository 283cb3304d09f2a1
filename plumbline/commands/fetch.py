"""``plumbline fetch``: fill the print archive with full history, from the live sources or a data directory.

Live: every route of the selected series is fetched from ``--since`` (default: the start of each
upstream history) to today, a year per request where the source pages by date, with a progress bar.
Nothing is produced: history reaches the prints topic only through ``plumbline republish``.
``--data-dir DIR`` imports the ``date,value`` CSVs instead (no network needed). Without network the
command says so in one line, and imports ``PLUMBLINE_DATA_DIR`` if that is set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx

from foundation.settings import Settings
from plumbline.commands._args import iso_date

__all__ = ["register", "run"]

_PROBE_TIMEOUT_SECONDS = 5.0


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


class Progress:
    """A one-line progress bar on a terminal; one line per finished step otherwise (logs stay short)."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.width = width
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, label: str, finished_line: str | None = None) -> None:
        """Advance by one; ``finished_line`` is printed in full (e.g. when a series completes)."""
        self.done = min(self.done + 1, self.total)
        filled = self.width * self.done // self.total
        bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total}"
        if self._tty:
            self.stream.write(f"\r\x1b[K{bar} {label}")
            if finished_line:
                self.stream.write(f"\r\x1b[K{finished_line}\n{bar} {label}")
        elif finished_line:
            self.stream.write(f"{bar} {finished_line}\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


def run(args: argparse.Namespace, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> int:
    """Run ``plumbline fetch``; ``transport`` lets tests serve the sources from memory."""
    from connectors.archive import Archive, default_archive_path
    from foundation.catalogue import SERIES, UnknownSeriesError, get_series

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
            return import_data_dir(archive, args.data_dir.resolve(), series, args.since)

    client = httpx.Client(
        transport=transport,
        timeout=settings.http_timeout_seconds,
        follow_redirects=True,
        headers={"User-Agent": "plumbline (https://github.com/plumbline; docs/connectors.md)"},
    )
    with client:
        unreachable = _unreachable_hosts(client, settings)
        if unreachable and len(unreachable) == len(_base_urls(settings)):
            hosts = ", ".join(sorted(unreachable))
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
                return import_data_dir(archive, settings.data_dir, series, args.since)
        with Archive.open(settings) as archive:
            print(f"plumbline fetch: archive {default_archive_path(settings)}")
            return fetch_live(archive, settings, client, series, args.since, unreachable)


def _base_urls(settings: Settings) -> dict[str, str]:
    urls = {
        "nyfed": settings.nyfed_base_url,
        "treasury": settings.fiscaldata_base_url,
        "fred": settings.fred_api_base_url if settings.fred_api_key else settings.fred_base_url,
    }
    return {httpx.URL(url).host or url: url for url in urls.values()}


def _unreachable_hosts(client: httpx.Client, settings: Settings) -> set[str]:
    """Hosts that do not answer at all. One quick try each, no retries: this is what makes it fail fast."""
    down: set[str] = set()
    for host, url in _base_urls(settings).items():
        try:
            client.get(url, timeout=_PROBE_TIMEOUT_SECONDS)
        except (httpx.ConnectError, httpx.TimeoutException):
            down.add(host)
        except httpx.HTTPError:
            pass  # any answer, even an error status, means the network works
    return down


def fetch_live(
    archive: Any,
    settings: Settings,
    client: httpx.Client,
    series: Sequence[str],
    since: dt.date | None,
    unreachable: set[str] | None = None,
    *,
    progress_stream: TextIO | None = None,
) -> int:
    """Fetch every route of ``series`` into ``archive``; returns the exit code."""
    from connectors.httpclient import SourceError
    from connectors.publisher import IngestReport, Publisher
    from connectors.sources import SourceSet

    sources = SourceSet.from_settings(settings, client)
    publisher = Publisher(archive, None, say=lambda line: None)
    routes = sources.routes_for(series)
    today = dt.datetime.now(dt.UTC).date()
    plans = [
        (
            route,
            _chunks(max(since or route.history_start, route.history_start), today, route.history_chunk_years),
        )
        for route in routes
    ]
    progress = Progress(sum(len(chunks) for _, chunks in plans), progress_stream)
    total = IngestReport()
    failed: list[str] = []
    for route, chunks in plans:
        route_report = IngestReport()
        for index, (start, end) in enumerate(chunks, start=1):
            try:
                route_report.add(publisher.ingest(sources.fetch(route, start, end), replay=True))
            except SourceError as exc:
                failed.append(route.name)
                progress.done += len(chunks) - index  # the rest of this route is not attempted
                progress.step(route.name, f"{route.name}: FAILED at {start}..{end}: {exc}")
                break
            done = index == len(chunks)
            summary = (
                f"{route.name}: {route_report.new} new, {route_report.revised} revised, "
                f"{route_report.repeats} repeats, {route_report.dead_letters} dead letters"
            )
            progress.step(f"{route.name} {start.year}", summary if done else None)
        total.add(route_report)
    progress.close()
    skipped = sources.uncovered(series)
    print(f"plumbline fetch: {total.new} new prints, {total.revised} revisions, {total.repeats} repeats, "
          f"{total.dead_letters} dead letters; {sources.requests_sent()} requests")  # fmt: skip
    if skipped:
        print(f"plumbline fetch: no live source for {', '.join(skipped)}: import it with --data-dir")
    if failed:
        print(
            f"plumbline fetch: failed: {', '.join(failed)} (see the lines above); run again to retry",
            file=sys.stderr,
        )
        return 1
    return 0


def _chunks(start: dt.date, end: dt.date, years: int | None) -> list[tuple[dt.date, dt.date]]:
    if start > end:
        return []
    if years is None:
        return [(start, end)]
    out: list[tuple[dt.date, dt.date]] = []
    cursor = start
    while cursor <= end:
        stop = min(dt.date(cursor.year + years, 1, 1) - dt.timedelta(days=1), end)
        out.append((cursor, stop))
        cursor = stop + dt.timedelta(days=1)
    return out


def import_data_dir(
    archive: Any,
    data_dir: Path,
    series: Sequence[str],
    since: dt.date | None,
    *,
    progress_stream: TextIO | None = None,
) -> int:
    """Import the ``date,value`` CSVs of ``data_dir`` into ``archive``; returns the exit code."""
    from connectors.base import dead_letter
    from connectors.history import HistoryError, Rejected, read_history
    from connectors.publisher import IngestReport

    progress = Progress(len(series), progress_stream)
    total = IngestReport()
    missing: list[str] = []
    imported = 0
    for series_id in series:
        rejected: list[Rejected] = []
        try:
            prints = read_history(data_dir, series_id, since, None, replay=True, rejected=rejected)
        except HistoryError:
            missing.append(series_id)
            progress.step(series_id, f"{series_id}: no {series_id}.csv in {data_dir}; skipped")
            continue
        report = IngestReport()
        for stored in archive.store_many(prints):
            setattr(report, _COUNTER[stored.outcome], getattr(report, _COUNTER[stored.outcome]) + 1)
        now = dt.datetime.now(dt.UTC)
        for row in rejected:
            reason = row.reason.split(":")[0] if row.reason.split(":")[0] in _REASONS else "bad_field"
            letter = dead_letter("history", reason, f"{series_id}.csv line {row.line}: {row.reason}", "", now)
            report.dead_letters += int(archive.store_dead_letter(letter))
        total.add(report)
        imported += 1
        progress.step(
            series_id,
            f"{series_id}: {len(prints)} prints ({report.new} new, {report.revised} revised, "
            f"{report.repeats} repeats"
            f"{f', {len(rejected)} rows rejected' if rejected else ''})",
        )
    progress.close()
    print(
        f"plumbline fetch: imported {imported} of {len(series)} series from {data_dir}: "
        f"{total.new} new prints, {total.revised} revisions, {total.repeats} repeats, "
        f"{total.dead_letters} rows dead-lettered"
    )
    if missing:
        print(f"plumbline fetch: no history file for {', '.join(missing)} (live sources only)")
    return 0 if imported else 1


_COUNTER = {"new": "new", "revision": "revised", "repeat": "repeats"}
_REASONS = frozenset({"not_finite", "out_of_range", "unit_mismatch", "unknown_series", "bad_field"})
