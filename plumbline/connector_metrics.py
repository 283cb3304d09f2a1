"""The connector service's HTTP endpoint: ``/metrics`` for Prometheus, ``/livez`` and ``/readyz`` for probes.

Connectors count what they do in plain Python (:mod:`connectors.telemetry`, free of Prometheus);
:class:`ConnectorCollector` turns a snapshot of those counts into metric families at scrape time, on
a registry of its own with the process, platform and GC collectors and ``plumbline_build_info``.
Every name, help text and label set is written once, in :data:`METRICS` (the table in
docs/connectors.md lists them). Counters of routes and sources are exported from 0 as soon as the
poller starts, so ``increase()`` sees the first failure.

:class:`ConnectorEndpoint` serves them from its own thread on ``bind_host:connectors_metrics_port``:

* ``/metrics``: the exposition (text format 0.0.4);
* ``/livez``: 200 while the poll loop made progress recently (``ConnectorService.liveness``), else 503;
* ``/readyz``: 200 while the archive can be written (``ConnectorService.readiness``), else 503
  (also from a failed archive write until a later one succeeds).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from connectors.archive import ARCHIVE_ERROR_REASONS
from connectors.telemetry import (
    HTTP_FAILURES,
    POLL_OUTCOMES,
    PRODUCER_ERROR_STAGES,
    ConnectorTelemetry,
    TelemetrySnapshot,
)
from plumbline import __version__
from streams.metrics import MetricSpec

__all__ = ["METRICS", "ConnectorCollector", "ConnectorEndpoint", "MetricSpec", "connector_registry"]

Probe = Callable[[], tuple[bool, str]]
_Families = dict["MetricSpec", GaugeMetricFamily | CounterMetricFamily]


BUILD_INFO = MetricSpec("plumbline_build_info", "plumbline version of this process (always 1)", ("version",))
POLLS = MetricSpec(
    "plumbline_connector_polls",
    "Polls of each route by outcome (ok, no_new_data, http_error, timeout, unreachable, rate_limited, "
    "parse_error, archive_error)",
    ("source", "route", "outcome"),
    "counter",
)
CONSECUTIVE_FAILED_POLLS = MetricSpec(
    "plumbline_connector_consecutive_failed_polls",
    "Polls of each route that failed in a row since its last successful one (0: the last poll worked)",
    ("source", "route"),
)
NEXT_POLL_TIME = MetricSpec(
    "plumbline_connector_next_poll_timestamp_seconds",
    "When each route's next poll is due (publication-aware schedule, retries and backoff included)",
    ("source", "route"),
)
LAST_SUCCESS_TIME = MetricSpec(
    "plumbline_connector_last_successful_fetch_timestamp_seconds",
    "When a poll of the route serving each series last got an answer (new data or not)",
    ("series",),
)
HTTP_RESPONSES = MetricSpec(
    "plumbline_connector_http_responses",
    "HTTP responses from each source by status code (every attempt, retries included)",
    ("source", "code"),
    "counter",
)
HTTP_FAILURES_SPEC = MetricSpec(
    "plumbline_connector_http_request_failures",
    "HTTP attempts that got no response, by reason (timeout, connection)",
    ("source", "reason"),
    "counter",
)
HTTP_RETRIES = MetricSpec(
    "plumbline_connector_http_retries",
    "HTTP requests sent again after a failed attempt (timeouts, connection errors, 429, 5xx)",
    ("source",),
    "counter",
)
ARCHIVED_PRINTS = MetricSpec(
    "plumbline_connector_archived_prints",
    "Prints written to the archive, as new observations or revisions (repeats write nothing)",
    ("series", "outcome"),
    "counter",
)
ARCHIVED_DEAD_LETTERS = MetricSpec(
    "plumbline_connector_archived_dead_letters",
    "Dead letters written to the archive, by source and reason",
    ("source", "reason"),
    "counter",
)
PRODUCED = MetricSpec(
    "plumbline_connector_produced_records",
    "Archived records the broker acknowledged (print, dead_letter)",
    ("record",),
    "counter",
)
PRODUCER_ERRORS = MetricSpec(
    "plumbline_connector_producer_errors",
    "Failures to produce: connect (broker unreachable) or send (not acknowledged)",
    ("stage",),
    "counter",
)
ARCHIVE_ERRORS = MetricSpec(
    "plumbline_connector_archive_errors",
    "Writes to the archive that failed and were rolled back, by reason (disk_full, read_only, locked, "
    "io_error); nothing of a failed write is produced",
    ("reason",),
    "counter",
)
ARCHIVE_FAILING = MetricSpec(
    "plumbline_connector_archive_failing",
    "1 from a failed archive write until a later write succeeds (then /readyz answers 503), else 0",
)
BACKLOG = MetricSpec(
    "plumbline_connector_produce_backlog_records",
    "Archived records awaiting the broker's acknowledgement (absent with --no-produce)",
    ("record",),
)
HEARTBEAT_TIME = MetricSpec(
    "plumbline_connector_heartbeat_timestamp_seconds",
    "When the poll loop last made progress (a turn of the loop, a poll, an HTTP attempt)",
)

#: Every family the connector service exports besides the process, platform and GC collectors.
METRICS: tuple[MetricSpec, ...] = (
    BUILD_INFO, POLLS, CONSECUTIVE_FAILED_POLLS, NEXT_POLL_TIME, LAST_SUCCESS_TIME, HTTP_RESPONSES,
    HTTP_FAILURES_SPEC, HTTP_RETRIES, ARCHIVED_PRINTS, ARCHIVED_DEAD_LETTERS, PRODUCED, PRODUCER_ERRORS,
    ARCHIVE_ERRORS, ARCHIVE_FAILING, BACKLOG, HEARTBEAT_TIME,
)  # fmt: skip


class ConnectorCollector(Collector):
    """Reads a :class:`ConnectorTelemetry` at scrape time (nothing is double-booked)."""

    def __init__(self, telemetry: ConnectorTelemetry, version: str = __version__) -> None:
        self.telemetry = telemetry
        self.version = version

    def collect(self) -> Iterator[Metric]:
        """Every family of :data:`METRICS`, from one consistent snapshot."""
        snap = self.telemetry.snapshot()
        families = {spec: spec.family() for spec in METRICS}
        families[BUILD_INFO].add_metric([self.version], 1.0)
        self._polls(snap, families)
        self._http(snap, families)
        self._archive(snap, families)
        if snap.heartbeat is not None:
            families[HEARTBEAT_TIME].add_metric([], snap.heartbeat)
        yield from families.values()

    @staticmethod
    def _polls(snap: TelemetrySnapshot, families: _Families) -> None:
        for source, route in snap.routes:
            for outcome in POLL_OUTCOMES:
                families[POLLS].add_metric(
                    [source, route, outcome], snap.polls.get((source, route, outcome), 0)
                )
            failed = snap.failed_polls_in_a_row.get((source, route), 0)
            families[CONSECUTIVE_FAILED_POLLS].add_metric([source, route], failed)
            if (source, route) in snap.next_poll:
                families[NEXT_POLL_TIME].add_metric([source, route], snap.next_poll[(source, route)])
        for series_id, at in sorted(snap.last_success.items()):
            families[LAST_SUCCESS_TIME].add_metric([series_id], at)

    @staticmethod
    def _http(snap: TelemetrySnapshot, families: _Families) -> None:
        sources = sorted({source for source, _ in snap.routes} | set(snap.http_retries))
        for (source, code), count in sorted(snap.http_responses.items()):
            families[HTTP_RESPONSES].add_metric([source, code], count)
        for source in sources:
            for reason in HTTP_FAILURES:
                families[HTTP_FAILURES_SPEC].add_metric(
                    [source, reason], snap.http_failures.get((source, reason), 0)
                )
            families[HTTP_RETRIES].add_metric([source], snap.http_retries.get(source, 0))

    @staticmethod
    def _archive(snap: TelemetrySnapshot, families: _Families) -> None:
        for (series_id, outcome), count in sorted(snap.archived_prints.items()):
            families[ARCHIVED_PRINTS].add_metric([series_id, outcome], count)
        for (source, reason), count in sorted(snap.archived_dead_letters.items()):
            families[ARCHIVED_DEAD_LETTERS].add_metric([source, reason], count)
        for record in ("print", "dead_letter"):
            families[PRODUCED].add_metric([record], snap.produced.get(record, 0))
        for stage in PRODUCER_ERROR_STAGES:
            families[PRODUCER_ERRORS].add_metric([stage], snap.producer_errors.get(stage, 0))
        for reason in ARCHIVE_ERROR_REASONS:
            families[ARCHIVE_ERRORS].add_metric([reason], snap.archive_errors.get(reason, 0))
        families[ARCHIVE_FAILING].add_metric([], 0.0 if snap.archive_failure is None else 1.0)
        if snap.backlog is not None:
            for record, count in sorted(snap.backlog.items()):
                families[BACKLOG].add_metric([record], count)


def connector_registry(telemetry: ConnectorTelemetry) -> CollectorRegistry:
    """A registry of its own: the connectors' families plus process, platform and GC metrics."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(ConnectorCollector(telemetry))
    return registry


class ConnectorEndpoint:
    """``/metrics``, ``/livez`` and ``/readyz`` on ``host:port``, served from a daemon thread.

    Binding happens in the constructor, so a port in use raises :class:`OSError` before anything runs.
    """

    def __init__(
        self, registry: CollectorRegistry, host: str, port: int, *, liveness: Probe, readiness: Probe
    ) -> None:
        routes: dict[str, Probe] = {"/livez": liveness, "/readyz": readiness}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path in routes:
                    ok, detail = routes[path]()
                    self._answer(200 if ok else 503, f"{'ok' if ok else 'failing'}: {detail}\n".encode())
                else:
                    self._answer(404, b"not found: try /metrics, /livez or /readyz\n")

            def _answer(
                self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Scrapes and probes every few seconds are not worth a log line."""

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="connector-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port (useful when asked for port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> ConnectorEndpoint:
        """Serve from a daemon thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (if started) and release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ConnectorEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
