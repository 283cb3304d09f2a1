"""Fill the archive with full history: from the live sources, or from a data directory of CSVs.

This is what ``plumbline fetch`` does; the command only parses its arguments and prints the summaries.

* :func:`check_network` probes each source host once (no retries), so a machine without network
  is recognised in seconds instead of after every route's retries.
* :func:`fetch_history` fetches every route of the chosen series from ``since`` (default: the start of
  each upstream history) to today, a year per request where the source pages by date. Prints are
  archived with the replay flag and not produced: history reaches the prints topic only through
  ``plumbline republish``.
* :func:`import_history` imports the ``date,value`` CSVs of a data directory instead.

Both report each finished step to an optional ``progress`` callback (an :class:`IngestStep`), which
is how the CLI draws its progress bar; nothing here writes to a terminal.

>>> [(str(a), str(b)) for a, b in history_chunks(dt.date(2024, 11, 5), dt.date(2026, 2, 1), 1)]
[('2024-11-05', '2024-12-31'), ('2025-01-01', '2025-12-31'), ('2026-01-01', '2026-02-01')]
>>> history_chunks(dt.date(2024, 11, 5), dt.date(2026, 2, 1), None)
[(datetime.date(2024, 11, 5), datetime.date(2026, 2, 1))]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from connectors.archive import Archive
from connectors.base import dead_letter
from connectors.history import HistoryError, Rejected, read_history
from connectors.httpclient import SourceError
from connectors.publisher import IngestReport, Publisher
from connectors.sources import SourceSet
from foundation.settings import Settings

__all__ = [
    "FetchSummary",
    "ImportSummary",
    "IngestStep",
    "NetworkCheck",
    "check_network",
    "fetch_history",
    "history_chunks",
    "import_history",
]

_PROBE_TIMEOUT_SECONDS = 5.0
# Record-error reasons a rejected history row keeps as its dead-letter reason; anything else is bad_field.
_HISTORY_REASONS = frozenset({"not_finite", "out_of_range", "unit_mismatch", "unknown_series", "bad_field"})


@dataclasses.dataclass(frozen=True)
class IngestStep:
    """One finished step (a request, or a series of a data directory), for a progress display.

    ``finished`` is a whole line to show when a route or series is complete (or has failed).
    """

    done: int
    total: int
    label: str
    finished: str | None = None


ProgressCallback = Callable[[IngestStep], None]


@dataclasses.dataclass(frozen=True)
class NetworkCheck:
    """Which source hosts answered the probe."""

    hosts: tuple[str, ...]
    unreachable: frozenset[str]

    @property
    def offline(self) -> bool:
        """No source host answered at all."""
        return bool(self.hosts) and self.unreachable >= set(self.hosts)


def _base_urls(settings: Settings) -> dict[str, str]:
    urls = {
        "nyfed": settings.nyfed_base_url,
        "treasury": settings.fiscaldata_base_url,
        "fred": settings.fred_api_base_url if settings.fred_api_key else settings.fred_base_url,
    }
    return {httpx.URL(url).host or url: url for url in urls.values()}


def check_network(client: httpx.Client, settings: Settings) -> NetworkCheck:
    """Probe each source host once, no retries: this is what makes ``plumbline fetch`` fail fast."""
    urls = _base_urls(settings)
    down: set[str] = set()
    for host, url in urls.items():
        try:
            client.get(url, timeout=_PROBE_TIMEOUT_SECONDS)
        except (httpx.ConnectError, httpx.TimeoutException):
            down.add(host)
        except httpx.HTTPError:
            pass  # any answer, even an error status, means the network works
    return NetworkCheck(tuple(urls), frozenset(down))


def history_chunks(start: dt.date, end: dt.date, years: int | None) -> list[tuple[dt.date, dt.date]]:
    """``start``..``end`` in calendar-year pieces of ``years`` years (``None``: one piece)."""
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


@dataclasses.dataclass
class FetchSummary:
    """What :func:`fetch_history` did: totals, requests sent, failed routes, series with no live source."""

    report: IngestReport
    requests: int
    failed: list[str]
    uncovered: list[str]


def _route_line(name: str, report: IngestReport) -> str:
    return (
        f"{name}: {report.new} new, {report.revised} revised, "
        f"{report.repeats} repeats, {report.dead_letters} dead letters"
    )


def fetch_history(
    archive: Archive,
    settings: Settings,
    client: httpx.Client,
    series: Sequence[str],
    since: dt.date | None = None,
    *,
    progress: ProgressCallback | None = None,
    today: dt.date | None = None,
) -> FetchSummary:
    """Fetch every route of ``series`` from ``since`` (or its history start) to ``today`` into ``archive``.

    A route that fails is not retried here: the rest of it is skipped, it is listed in
    :attr:`FetchSummary.failed`, and the other routes go on. Nothing is produced.
    """
    sources = SourceSet.from_settings(settings, client)
    publisher = Publisher(archive, None, say=lambda line: None)
    today = today or dt.datetime.now(dt.UTC).date()
    plans = [
        (route, history_chunks(max(since or route.history_start, route.history_start), today,
                               route.history_chunk_years))
        for route in sources.routes_for(series)
    ]  # fmt: skip
    total_steps = sum(len(chunks) for _, chunks in plans)
    done = 0
    total = IngestReport()
    failed: list[str] = []
    for route, chunks in plans:
        route_report = IngestReport()
        for index, (start, end) in enumerate(chunks, start=1):
            try:
                route_report.add(publisher.ingest(sources.fetch(route, start, end), replay=True))
            except SourceError as exc:
                failed.append(route.name)
                done += len(chunks) - index + 1  # the rest of this route is not attempted
                if progress is not None:
                    line = f"{route.name}: FAILED at {start}..{end}: {exc}"
                    progress(IngestStep(done, total_steps, route.name, line))
                break
            done += 1
            if progress is not None:
                finished = _route_line(route.name, route_report) if index == len(chunks) else None
                progress(IngestStep(done, total_steps, f"{route.name} {start.year}", finished))
        total.add(route_report)
    return FetchSummary(total, sources.requests_sent(), failed, sources.uncovered(series))


@dataclasses.dataclass
class ImportSummary:
    """What :func:`import_history` did: totals, how many series were imported, which had no file."""

    report: IngestReport
    imported: int
    requested: int
    missing: list[str]
    data_dir: Path


def import_history(
    archive: Archive,
    data_dir: Path,
    series: Sequence[str],
    since: dt.date | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Import the ``date,value`` CSVs of ``data_dir`` into ``archive`` (rejected rows are dead letters)."""
    total = IngestReport()
    missing: list[str] = []
    imported = 0
    for done, series_id in enumerate(series, start=1):
        rejected: list[Rejected] = []
        try:
            prints = read_history(data_dir, series_id, since, None, replay=True, rejected=rejected)
        except HistoryError:
            missing.append(series_id)
            if progress is not None:
                line = f"{series_id}: no {series_id}.csv in {data_dir}; skipped"
                progress(IngestStep(done, len(series), series_id, line))
            continue
        report = IngestReport()
        for stored in archive.store_many(prints):
            if stored.outcome == "new":
                report.new += 1
            elif stored.outcome == "revision":
                report.revised += 1
            else:
                report.repeats += 1
        now = dt.datetime.now(dt.UTC)
        for row in rejected:
            reason = row.reason.split(":")[0]
            reason = reason if reason in _HISTORY_REASONS else "bad_field"
            letter = dead_letter("history", reason, f"{series_id}.csv line {row.line}: {row.reason}", "", now)
            report.dead_letters += int(archive.store_dead_letter(letter))
        total.add(report)
        imported += 1
        if progress is not None:
            line = (
                f"{series_id}: {len(prints)} prints ({report.new} new, {report.revised} revised, "
                f"{report.repeats} repeats{f', {len(rejected)} rows rejected' if rejected else ''})"
            )
            progress(IngestStep(done, len(series), series_id, line))
    return ImportSummary(total, imported, len(series), missing, data_dir)
