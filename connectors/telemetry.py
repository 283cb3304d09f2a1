"""What the connectors did, counted in plain Python, for an exporter to read at scrape time.

The HTTP clients, the poller and the publisher report each event here (a poll's outcome, an HTTP
answer, a row archived, a produce error); :class:`ConnectorTelemetry` keeps counters and current
state behind one lock and hands out a consistent :meth:`~ConnectorTelemetry.snapshot`. Connectors
stay free of Prometheus: ``plumbline/connector_metrics.py`` turns snapshots into metric families on
its own registry (names: docs/connectors.md), and answers the liveness and readiness probes from
:meth:`~ConnectorTelemetry.heartbeat_age_seconds`, :meth:`~ConnectorTelemetry.archive_failure` (the
last archive write failed) and :func:`archive_writable`.

Label values come from fixed lists only: route and source names from the routing table, series
from the catalogue, outcomes from :data:`POLL_OUTCOMES`, HTTP status codes as three digits.

>>> telemetry = ConnectorTelemetry()
>>> telemetry.poll_finished("nyfed", "nyfed:SOFR", "http_error", series=("SOFR",), at=100.0)
>>> telemetry.poll_finished("nyfed", "nyfed:SOFR", "http_error", series=("SOFR",), at=400.0)
>>> snap = telemetry.snapshot()
>>> snap.polls[("nyfed", "nyfed:SOFR", "http_error")], snap.failed_polls_in_a_row[("nyfed", "nyfed:SOFR")]
(2, 2)
>>> telemetry.poll_finished("nyfed", "nyfed:SOFR", "ok", series=("SOFR", "SOFR99"), at=700.0)
>>> snap = telemetry.snapshot()
>>> snap.failed_polls_in_a_row[("nyfed", "nyfed:SOFR")], snap.last_success["SOFR99"]
(0, 700.0)
"""

from __future__ import annotations

import dataclasses
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "HTTP_FAILURES",
    "POLL_OUTCOMES",
    "PRODUCER_ERROR_STAGES",
    "ConnectorTelemetry",
    "TelemetrySnapshot",
    "archive_writable",
]

#: What one poll of a route came to. ``ok``: new prints or revisions; ``no_new_data``: the source
#: answered but everything was already archived; ``http_error``: 4xx/5xx after the client's
#: retries; ``timeout``: every attempt timed out; ``unreachable``: the host could not be reached;
#: ``rate_limited``: a Retry-After longer than the client waits; ``parse_error``: an unreadable
#: response (dead-lettered); ``archive_error``: the source answered but the archive could not be
#: written, so nothing of the poll was produced (neither a success nor a source failure).
POLL_OUTCOMES = (
    "ok", "no_new_data", "http_error", "timeout", "unreachable", "rate_limited", "parse_error",
    "archive_error",
)  # fmt: skip
#: Why an HTTP attempt got no status code at all.
HTTP_FAILURES = ("timeout", "connection")
#: Where producing failed: creating the producer (broker unreachable) or sending / acknowledging.
PRODUCER_ERROR_STAGES = ("connect", "send")
#: Poll outcomes that count as the source answering.
_SUCCESS = frozenset({"ok", "no_new_data"})
#: Poll outcomes that say nothing about the source (it answered; the failure was ours).
_NEUTRAL = frozenset({"archive_error"})


@dataclasses.dataclass(frozen=True)
class TelemetrySnapshot:
    """A consistent copy of every count and state, taken under the lock."""

    routes: tuple[tuple[str, str], ...]
    polls: Mapping[tuple[str, str, str], int]
    failed_polls_in_a_row: Mapping[tuple[str, str], int]
    next_poll: Mapping[tuple[str, str], float]
    last_success: Mapping[str, float]
    http_responses: Mapping[tuple[str, str], int]
    http_failures: Mapping[tuple[str, str], int]
    http_retries: Mapping[str, int]
    archived_prints: Mapping[tuple[str, str], int]
    archived_dead_letters: Mapping[tuple[str, str], int]
    produced: Mapping[str, int]
    producer_errors: Mapping[str, int]
    archive_errors: Mapping[str, int]
    archive_failure: str | None
    backlog: Mapping[str, int] | None
    heartbeat: float | None


class ConnectorTelemetry:
    """Thread-safe counters and state of one connector process (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], None] = {}
        self._polls: Counter[tuple[str, str, str]] = Counter()
        self._failed_in_a_row: dict[tuple[str, str], int] = {}
        self._next_poll: dict[tuple[str, str], float] = {}
        self._last_success: dict[str, float] = {}
        self._http_responses: Counter[tuple[str, str]] = Counter()
        self._http_failures: Counter[tuple[str, str]] = Counter()
        self._http_retries: Counter[str] = Counter()
        self._archived_prints: Counter[tuple[str, str]] = Counter()
        self._archived_dead_letters: Counter[tuple[str, str]] = Counter()
        self._produced: Counter[str] = Counter()
        self._producer_errors: Counter[str] = Counter()
        self._archive_errors: Counter[str] = Counter()
        self._archive_failure: str | None = None
        self._backlog: dict[str, int] | None = None
        self._heartbeat: float | None = None
        self._heartbeat_monotonic: float | None = None

    # Poller --------------------------------------------------------------------------------------

    def watch_routes(self, routes: Iterable[tuple[str, str]]) -> None:
        """Declare the (source, route) pairs polled, so every count is exported from 0 at start."""
        with self._lock:
            for source_route in routes:
                self._routes[source_route] = None
                self._failed_in_a_row.setdefault(source_route, 0)

    def poll_finished(
        self, source: str, route: str, outcome: str, *, series: Iterable[str] = (), at: float | None = None
    ) -> None:
        """One poll of ``route`` ended with ``outcome`` (one of :data:`POLL_OUTCOMES`) at ``at``."""
        if outcome not in POLL_OUTCOMES:
            raise ValueError(f"unknown poll outcome {outcome!r}")
        when = time.time() if at is None else at
        with self._lock:
            key = (source, route)
            self._routes[key] = None
            self._polls[(source, route, outcome)] += 1
            if outcome in _SUCCESS:
                self._failed_in_a_row[key] = 0
                for series_id in series:
                    self._last_success[series_id] = when
            elif outcome not in _NEUTRAL:
                self._failed_in_a_row[key] = self._failed_in_a_row.get(key, 0) + 1

    def next_poll_scheduled(self, source: str, route: str, at: float) -> None:
        """``route``'s next poll is due at ``at`` (wall-clock seconds)."""
        with self._lock:
            self._next_poll[(source, route)] = at

    def tick(self) -> None:
        """The poll loop made progress (an iteration, a poll, an HTTP attempt): liveness."""
        with self._lock:
            self._heartbeat = time.time()
            self._heartbeat_monotonic = time.monotonic()

    def heartbeat_age_seconds(self) -> float | None:
        """Seconds since the poll loop last made progress (``None`` before it started)."""
        with self._lock:
            if self._heartbeat_monotonic is None:
                return None
            return time.monotonic() - self._heartbeat_monotonic

    # HTTP client ---------------------------------------------------------------------------------

    def http_response(self, source: str, status: int) -> None:
        """An HTTP attempt got ``status``."""
        with self._lock:
            self._http_responses[(source, str(status))] += 1

    def http_failure(self, source: str, failure: str) -> None:
        """An HTTP attempt got no answer (one of :data:`HTTP_FAILURES`)."""
        with self._lock:
            self._http_failures[(source, failure)] += 1

    def http_retry(self, source: str) -> None:
        """The client is about to send a request again after a failed attempt."""
        with self._lock:
            self._http_retries[source] += 1

    # Publisher -----------------------------------------------------------------------------------

    def archived_print(self, series: str, outcome: str) -> None:
        """A print was written to the archive as ``new`` or ``revision`` (repeats write nothing)."""
        with self._lock:
            self._archived_prints[(series, outcome)] += 1

    def archived_dead_letter(self, source: str, reason: str) -> None:
        """A dead letter was written to the archive."""
        with self._lock:
            self._archived_dead_letters[(source, reason)] += 1

    def produced_records(self, record: str, count: int) -> None:
        """The broker acknowledged ``count`` records of kind ``print`` or ``dead_letter``."""
        with self._lock:
            self._produced[record] += count

    def producer_error(self, stage: str) -> None:
        """Producing failed at ``stage`` (one of :data:`PRODUCER_ERROR_STAGES`)."""
        with self._lock:
            self._producer_errors[stage] += 1

    def archive_error(self, reason: str, detail: str) -> None:
        """A write to the archive failed (``reason`` from ``connectors.archive.ARCHIVE_ERROR_REASONS``).

        ``detail`` (one line) is what the readiness probe answers until a later write succeeds.
        """
        with self._lock:
            self._archive_errors[reason] += 1
            self._archive_failure = detail

    def archive_written(self) -> None:
        """Rows were written to the archive: whatever failed before works again."""
        with self._lock:
            self._archive_failure = None

    def archive_failure(self) -> str | None:
        """Why the last write to the archive failed, while no write has succeeded since."""
        with self._lock:
            return self._archive_failure

    def backlog_now(self, prints: int, dead_letters: int) -> None:
        """Archived records still awaiting the broker's acknowledgement."""
        with self._lock:
            self._backlog = {"print": prints, "dead_letter": dead_letters}

    # Exporter ------------------------------------------------------------------------------------

    def snapshot(self) -> TelemetrySnapshot:
        """Every count and state, copied under the lock."""
        with self._lock:
            return TelemetrySnapshot(
                routes=tuple(self._routes),
                polls=dict(self._polls),
                failed_polls_in_a_row=dict(self._failed_in_a_row),
                next_poll=dict(self._next_poll),
                last_success=dict(self._last_success),
                http_responses=dict(self._http_responses),
                http_failures=dict(self._http_failures),
                http_retries=dict(self._http_retries),
                archived_prints=dict(self._archived_prints),
                archived_dead_letters=dict(self._archived_dead_letters),
                produced=dict(self._produced),
                producer_errors=dict(self._producer_errors),
                archive_errors=dict(self._archive_errors),
                archive_failure=self._archive_failure,
                backlog=None if self._backlog is None else dict(self._backlog),
                heartbeat=self._heartbeat,
            )


def archive_writable(path: Path, timeout_seconds: float = 2.0) -> tuple[bool, str]:
    """Whether the archive at ``path`` (or, before it exists, its folder) can be written; and why not.

    An existing archive is asked for a write lock (``BEGIN IMMEDIATE``, rolled back at once), which
    fails on a read-only file or volume, a full disk's journal or a lock held for ``timeout_seconds``;
    a missing one is checked by creating a scratch file beside it. Permission bits alone would
    say yes to root on a read-only volume.

    >>> archive_writable(Path("/nonexistent/state/archive.sqlite3"))
    (False, '/nonexistent/state does not exist')
    """
    if not path.exists():
        if not path.parent.is_dir():
            return False, f"{path.parent} does not exist"
        try:
            with tempfile.TemporaryFile(dir=path.parent):
                pass
        except OSError as exc:
            return False, f"{path.parent} is not writable ({exc.strerror or exc})"
        return True, f"{path} does not exist yet; its folder is writable"
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=timeout_seconds)
    except sqlite3.Error as exc:
        return False, f"{path} cannot be opened for writing ({exc})"
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        return False, f"{path} cannot be written ({exc})"
    finally:
        db.close()
    return True, f"{path} is writable"
