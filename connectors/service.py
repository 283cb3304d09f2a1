"""The connectors as a running service: what ``plumbline connectors run | schedule`` does.

:class:`ConnectorService` wires the live sources, the archive and the producer from the settings
for a set of series. :meth:`~ConnectorService.schedule` says when each route will next be polled,
:meth:`~ConnectorService.poll_once` polls every route once (cron-style) and
:meth:`~ConnectorService.run` polls on the publication schedule until the stop event is set (or
SIGINT / SIGTERM arrive). Every accepted print is archived before it is produced.

Everything the service does is counted in one :class:`connectors.telemetry.ConnectorTelemetry`
(:attr:`ConnectorService.telemetry`), which an exporter serves as metrics; :meth:`~ConnectorService.liveness`
and :meth:`~ConnectorService.readiness` answer the probes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from connectors.archive import Archive, default_archive_path
from connectors.clock import SystemClock
from connectors.poller import Poller, PollPolicy, PollRecord
from connectors.publisher import Publisher, kafka_producer_factory, prints_topic_id
from connectors.schedule import latest_due
from connectors.sources import Route, SourceSet, http_client
from connectors.telemetry import ConnectorTelemetry, archive_writable
from foundation.settings import Settings

__all__ = ["ConnectorService", "NoLiveSource", "ScheduleEntry"]


class NoLiveSource(ValueError):
    """None of the series asked for has a live source (they can only be imported from files)."""


@dataclasses.dataclass(frozen=True)
class ScheduleEntry:
    """When a route is next polled, and whether the newest print that should be out is archived."""

    route: str
    next_poll: dt.datetime
    latest_due: dt.date | None
    archived: bool


class ConnectorService:
    """Sources, archive and publisher for ``series`` (all when ``None``), from ``settings``.

    Raises :class:`foundation.catalogue.UnknownSeriesError` for an unknown id and
    :class:`NoLiveSource` when no route serves any of the series. ``produce=False`` only archives.
    ``transport`` serves the sources from memory in tests; ``stop`` ends :meth:`run`.
    """

    # The poll loop wakes at least once a minute; one HTTP attempt blocks at most a timeout or a
    # Retry-After: twice the longest of these without a heartbeat means the loop is stuck.
    _IDLE_WAKE_SECONDS = 60.0

    def __init__(
        self,
        settings: Settings,
        series: Iterable[str] | None = None,
        *,
        produce: bool = True,
        transport: httpx.BaseTransport | None = None,
        stop: threading.Event | None = None,
        telemetry: ConnectorTelemetry | None = None,
    ) -> None:
        self.settings = settings
        self.stop = stop or threading.Event()
        self.clock = SystemClock(self.stop)
        self.produce = produce
        self.telemetry = telemetry or ConnectorTelemetry()
        self.telemetry.tick()
        self._client = http_client(settings, transport)
        try:
            self.sources = SourceSet.from_settings(
                settings, self._client, self.clock, telemetry=self.telemetry
            )
            series = None if series is None else list(series)
            self.routes: list[Route] = self.sources.routes_for(series)
            if not self.routes:
                raise NoLiveSource(f"no live source for {', '.join(series or [])}")
        except BaseException:
            self._client.close()
            raise

    @property
    def archive_path(self) -> Path:
        """Where the archive is."""
        return default_archive_path(self.settings)

    @property
    def target(self) -> str | None:
        """The topic prints go to (``None`` when only archiving)."""
        return self.settings.topic_prints if self.produce else None

    @property
    def liveness_limit_seconds(self) -> float:
        """How long the poll loop may go without a heartbeat before it counts as stuck."""
        s = self.settings
        longest = max(
            self._IDLE_WAKE_SECONDS, s.http_timeout_seconds, s.http_retry_after_max_seconds,
            s.http_backoff_max_seconds,
        )  # fmt: skip
        return 2.0 * longest

    def liveness(self) -> tuple[bool, str]:
        """Alive while the poll loop made progress within :attr:`liveness_limit_seconds`."""
        age = self.telemetry.heartbeat_age_seconds()
        limit = self.liveness_limit_seconds
        if age is None or age <= limit:
            return True, f"poll loop made progress {age or 0.0:.0f} s ago (limit {limit:.0f} s)"
        return False, f"poll loop stuck: no progress for {age:.0f} s (limit {limit:.0f} s)"

    def readiness(self) -> tuple[bool, str]:
        """Ready while the archive can be written (prints are archived before anything else).

        Not ready from a failed archive write (a full disk takes no write lock to notice, so the
        probe alone would miss it) until a later write succeeds, nor while the probe fails.
        """
        failure = self.telemetry.archive_failure()
        if failure is not None:
            return False, f"the last archive write failed: {failure}"
        return archive_writable(self.archive_path)

    def schedule(self, at: dt.datetime | None = None) -> list[ScheduleEntry]:
        """Each route's next publication-aware poll, judged at ``at`` (default: now)."""
        now = at or self.clock.now()
        with Archive.open(self.settings) as archive:
            publisher = Publisher(archive, None)
            poller = Poller(
                self.sources, publisher, self.clock, routes=self.routes,
                policy=PollPolicy.from_settings(self.settings),
            )  # fmt: skip
            out: list[ScheduleEntry] = []
            for route, next_at in poller.plan(now):
                due = latest_due(route.primary, now)
                archived = due is not None and archive.has(route.primary, due)
                out.append(ScheduleEntry(route.name, next_at, due, archived))
        return out

    def poll_once(self) -> list[PollRecord]:
        """Poll every route once, now (archive, then produce); returns the polls."""
        with self._poller() as poller:
            return poller.poll_all_once()

    def run(self) -> None:
        """Poll on the publication schedule until :attr:`stop` is set or SIGINT / SIGTERM arrive."""
        with self._poller() as poller, _stop_on_signals(self.stop):
            poller.run()

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __enter__(self) -> ConnectorService:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _poller(self) -> Iterator[Poller]:
        with Archive.open(self.settings) as archive:
            factory = kafka_producer_factory(self.settings) if self.produce else None
            # The prints topic's id reveals a broker that lost its data: the publisher re-sends the archive.
            topic_id = functools.partial(prints_topic_id, self.settings) if self.produce else None
            publisher = Publisher(archive, factory, telemetry=self.telemetry, topic_id=topic_id)
            try:
                yield Poller(
                    self.sources, publisher, self.clock, routes=self.routes,
                    policy=PollPolicy.from_settings(self.settings), stop=self.stop, telemetry=self.telemetry,
                )  # fmt: skip
            finally:
                publisher.close()


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (only from the main thread; tests run the service elsewhere)."""
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
