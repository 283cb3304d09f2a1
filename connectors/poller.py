"""Publication-aware polling: ask each source around the time its next print is due, and no more.

For each route the poller keeps one next-poll time, derived from the catalogue (see
:mod:`connectors.schedule`), never from a fixed interval:

* if the newest print that should be public by now is not in the archive, poll now and again every
  ``retry_seconds`` until it arrives or ``window_seconds`` after its publication time have passed
  (then it is a gap: a market close such as Good Friday, reported once);
* otherwise sleep until the next publication time (or the NY Fed same-day revision check at 15:00);
* a failed poll (after the HTTP client's own retries) backs off exponentially, or waits out the
  source's ``Retry-After``; a payload that cannot be parsed is kept as a dead letter;
* a poll whose prints cannot be archived (full disk, read-only volume) produces nothing, is logged
  as one error line and is tried again after ``retry_seconds`` (no backoff: the source is fine, and
  the same prints are fetched again).

Each poll asks for the last ``lookback_days`` (and everything since the newest archived print, up to
a year), so late prints and revisions are picked up; the archive turns repeats into no-ops.
Time is injected: with :class:`connectors.clock.ManualClock` a week of polling runs in milliseconds.

Each poll is logged (logger ``connectors.poller``, with ``route``, ``source`` and ``outcome`` as
extra fields) and reported to :class:`connectors.telemetry.ConnectorTelemetry`, with the route's
next poll time and a heartbeat on every turn of the loop.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Iterable

from connectors.archive import Archive, ArchiveWriteError
from connectors.base import dead_letter
from connectors.clock import Clock
from connectors.httpclient import PayloadError, RateLimited, SourceError
from connectors.publisher import IngestReport, Publisher
from connectors.schedule import is_checked_daily, latest_due, next_at_time, next_release
from connectors.sources import Route, SourceSet
from connectors.telemetry import ConnectorTelemetry
from foundation.calendar import NEW_YORK
from foundation.catalogue import published_at
from foundation.settings import Settings

__all__ = ["PollPolicy", "PollRecord", "Poller"]

log = logging.getLogger(__name__)

# A year of catch-up at most: more than that is history, which `plumbline fetch` is for.
_MAX_CATCH_UP_DAYS = 366
# With nothing due, wake at least this often to re-send prints a down broker left pending.
_IDLE_WAKE_SECONDS = 60.0
# The wall clock moving back by more than this (against the monotonic clock) re-plans every route.
_CLOCK_STEP_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class PollPolicy:
    """How eagerly to poll around a release."""

    retry_seconds: float = 300.0
    window_seconds: float = 6 * 3600.0
    lookback_days: int = 10
    max_backoff_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PollPolicy:
        """``PLUMBLINE_POLL_*`` settings."""
        return cls(
            retry_seconds=settings.poll_retry_seconds,
            window_seconds=settings.poll_window_hours * 3600.0,
            lookback_days=settings.poll_lookback_days,
        )


@dataclasses.dataclass(frozen=True)
class PollRecord:
    """One poll, for logs and tests: when, which route, what came of it.

    ``outcome`` is the sentence for people ("ok", "failed, next poll ..."); ``status`` the metric
    label (:data:`connectors.telemetry.POLL_OUTCOMES`).
    """

    at: dt.datetime
    route: str
    outcome: str
    report: IngestReport | None = None
    status: str = "ok"


@dataclasses.dataclass
class _Task:
    route: Route
    next_at: dt.datetime
    failures: int = 0
    gaps_reported: set[dt.date] = dataclasses.field(default_factory=set)


class Poller:
    """Poll ``routes`` of ``sources`` on their publication schedule; archive, then produce."""

    def __init__(
        self,
        sources: SourceSet,
        publisher: Publisher,
        clock: Clock,
        *,
        routes: Iterable[Route] | None = None,
        policy: PollPolicy | None = None,
        stop: threading.Event | None = None,
        telemetry: ConnectorTelemetry | None = None,
    ) -> None:
        self.sources = sources
        self.publisher = publisher
        self.archive: Archive = publisher.archive
        self.clock = clock
        self.policy = policy or PollPolicy()
        self.stop_event = stop or threading.Event()
        self.telemetry = telemetry or ConnectorTelemetry()
        now = clock.now()
        self._clock_mark = (now, clock.monotonic())
        # On start every route polls once: that catches up whatever was published while we were down.
        self.tasks = [_Task(route, now) for route in (routes if routes is not None else sources.routes_for())]
        self.history: list[PollRecord] = []
        self._notes_seen: set[str] = set()
        self.telemetry.watch_routes((sources.source_of(task.route), task.route.name) for task in self.tasks)
        for task in self.tasks:
            self._scheduled(task)

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current poll."""
        self.stop_event.set()

    def next_poll_at(self) -> dt.datetime:
        """The earliest next poll over all routes."""
        return min(task.next_at for task in self.tasks)

    def run(self, *, until: dt.datetime | None = None, max_polls: int | None = None) -> list[PollRecord]:
        """Poll until :meth:`stop` (or ``until`` on the clock, or ``max_polls``); returns the polls made."""
        start_count = len(self.history)
        last_flush = self.clock.monotonic()
        while not self.stop_event.is_set():
            self.telemetry.tick()
            now = self._now()
            if until is not None and now >= until:
                break
            for task in sorted((t for t in self.tasks if t.next_at <= now), key=lambda t: t.next_at):
                self.poll(task)
                if self.stop_event.is_set() or (max_polls and len(self.history) - start_count >= max_polls):
                    return self.history[start_count:]
            if self.clock.monotonic() - last_flush >= _IDLE_WAKE_SECONDS:
                self.publisher.flush_pending()
                last_flush = self.clock.monotonic()
            wake = self.next_poll_at()
            if until is not None:
                wake = min(wake, until)
            wait_seconds = (wake - self.clock.now()).total_seconds()
            self.clock.sleep(min(max(wait_seconds, 0.0), _IDLE_WAKE_SECONDS))
        return self.history[start_count:]

    def _now(self) -> dt.datetime:
        """The wall clock, re-planning every route if it was set back since the last look.

        Poll times are wall-clock moments (releases): a wall clock set back (NTP, an operator) would
        leave them in its future and stall every route for as long as the step.
        """
        now, monotonic = self.clock.now(), self.clock.monotonic()
        last_wall, last_monotonic = self._clock_mark
        stepped = (now - last_wall).total_seconds() - (monotonic - last_monotonic)
        if stepped < -_CLOCK_STEP_SECONDS:
            self._clock_stepped_back(now, stepped)
        self._clock_mark = (now, monotonic)
        return now

    def _clock_stepped_back(self, now: dt.datetime, seconds: float) -> None:
        """Re-plan after the wall clock moved back ``seconds`` (< 0): releases from the new time; a
        route backing off keeps the rest of its wait."""
        log.warning(
            f"wall clock moved back {-seconds:.0f} s: poll times re-planned from {now:%Y-%m-%d %H:%M} UTC"
        )
        for task in self.tasks:
            if task.failures:
                task.next_at += dt.timedelta(seconds=seconds)
            else:
                self._reschedule(task, now, quiet=True)
            self._scheduled(task)

    def plan(self, now: dt.datetime) -> list[tuple[Route, dt.datetime]]:
        """When each route would next be polled, judged at ``now`` (``plumbline connectors schedule``)."""
        for task in self.tasks:
            self._reschedule(task, now, quiet=True)
        return [(task.route, task.next_at) for task in self.tasks]

    def poll_all_once(self) -> list[PollRecord]:
        """Poll every route once, now (``plumbline connectors run --once``)."""
        for task in self.tasks:
            self.poll(task)
        return self.history[-len(self.tasks) :]

    def poll(self, task: _Task) -> PollRecord:
        """Poll one route now and schedule its next poll."""
        route = task.route
        now = self.clock.now()
        start, end = self._window(route, now)
        self.telemetry.tick()
        try:
            result = self.sources.fetch(route, start, end)
        except RateLimited as exc:
            task.failures += 1
            task.next_at = now + dt.timedelta(seconds=max(exc.retry_after_seconds, self.policy.retry_seconds))
            return self._record(
                task, now, f"rate limited, next poll {task.next_at:%Y-%m-%d %H:%M} UTC ({exc})", exc.outcome
            )
        except PayloadError as exc:
            letter = dead_letter(exc.source, exc.reason, f"{route.name}: {exc.detail}", exc.payload, now)
            try:
                report = self.publisher.ingest_dead_letters([letter])
            except ArchiveWriteError as failed:
                return self._archive_failed(task, now, failed)
            task.failures += 1
            task.next_at = now + self._backoff(task)
            return self._record(task, now, f"unreadable response, dead-lettered ({exc})", exc.outcome, report)
        except SourceError as exc:
            task.failures += 1
            task.next_at = now + self._backoff(task)
            return self._record(
                task, now, f"failed, next poll {task.next_at:%Y-%m-%d %H:%M} UTC ({exc})", exc.outcome
            )
        task.failures = 0
        for note in result.notes:
            if note not in self._notes_seen:
                self._notes_seen.add(note)
                log.warning(note, extra={"route": route.name})
        try:
            report = self.publisher.ingest(result, known_at=now)
        except ArchiveWriteError as exc:
            return self._archive_failed(task, now, exc)
        self._reschedule(task, now)
        status = "ok" if report.new or report.revised else "no_new_data"
        return self._record(task, now, "ok", status, report)

    def _archive_failed(self, task: _Task, now: dt.datetime, exc: ArchiveWriteError) -> PollRecord:
        task.next_at = now + dt.timedelta(seconds=self.policy.retry_seconds)
        when = f"{task.next_at:%Y-%m-%d %H:%M} UTC"
        outcome = f"archive write failed, nothing produced, next poll {when} ({exc})"
        return self._record(task, now, outcome, "archive_error", level=logging.ERROR)

    def _window(self, route: Route, now: dt.datetime) -> tuple[dt.date, dt.date]:
        today = now.astimezone(NEW_YORK).date()
        start = today - dt.timedelta(days=self.policy.lookback_days)
        last = self.archive.last_observation_date(route.primary)
        if last is not None and last < start:
            start = max(last, today - dt.timedelta(days=_MAX_CATCH_UP_DAYS))
        return start, today

    def _backoff(self, task: _Task) -> dt.timedelta:
        seconds = min(self.policy.retry_seconds * 2.0 ** (task.failures - 1), self.policy.max_backoff_seconds)
        return dt.timedelta(seconds=seconds)

    def _reschedule(self, task: _Task, now: dt.datetime, *, quiet: bool = False) -> None:
        primary = task.route.primary
        due = latest_due(primary, now)
        if due is not None and not self.archive.has(primary, due):
            window_end = published_at(primary, due) + dt.timedelta(seconds=self.policy.window_seconds)
            if now < window_end:
                task.next_at = now + dt.timedelta(seconds=self.policy.retry_seconds)
                return
            if due not in task.gaps_reported and not quiet:
                task.gaps_reported.add(due)
                log.warning(
                    f"{primary}: no print for {due} within {self.policy.window_seconds / 3600:g} h of its "
                    "release; "
                    "treated as a gap (e.g. a bond-market close); later polls still pick it up if it appears",
                    extra={"route": task.route.name, "series": primary},
                )
        candidates = [next_release(primary, now)]
        if task.route.revision_check is not None and not is_checked_daily(primary):
            candidates.append(next_at_time(now, task.route.revision_check))
        task.next_at = min(candidates)

    def _scheduled(self, task: _Task) -> None:
        self.telemetry.next_poll_scheduled(
            self.sources.source_of(task.route), task.route.name, task.next_at.timestamp()
        )

    def _record(
        self,
        task: _Task,
        now: dt.datetime,
        outcome: str,
        status: str,
        report: IngestReport | None = None,
        *,
        level: int | None = None,
    ) -> PollRecord:
        route = task.route
        source = self.sources.source_of(route)
        record = PollRecord(now, route.name, outcome, report, status)
        self.history.append(record)
        self.telemetry.poll_finished(source, route.name, status, series=route.series, at=now.timestamp())
        self._scheduled(task)
        detail = f": {report.summary()}" if report is not None and outcome == "ok" else ""
        log.log(
            level or (logging.INFO if outcome == "ok" else logging.WARNING),
            f"{route.name} {outcome}{detail}",
            extra={"route": route.name, "source": source, "outcome": status, "poll_at": now.isoformat()},
        )
        return record
