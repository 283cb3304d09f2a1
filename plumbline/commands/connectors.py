"""``plumbline connectors run | schedule``: poll the live sources on their publication schedule.

``run`` polls every route once at start (catching up what was published while it was down), then
around each series' release time; every accepted print is archived before it is produced to the
prints topic. ``--once`` polls everything once and exits (cron-style). SIGINT / SIGTERM stop it
between two polls. ``schedule`` shows when each route will next be polled. The work is done by
:mod:`connectors.service`; this module parses, calls and prints.

``run`` logs (``PLUMBLINE_LOG_LEVEL``, ``PLUMBLINE_LOG_FORMAT``) to stderr and, unless ``--once``,
serves ``/metrics``, ``/livez`` and ``/readyz`` on ``PLUMBLINE_BIND_HOST:PLUMBLINE_CONNECTORS_METRICS_PORT``
(:mod:`plumbline.connector_metrics`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import threading
from typing import Any

import httpx

from foundation.settings import Settings

__all__ = ["register", "run"]

log = logging.getLogger(__name__)


def _moment(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date-time (e.g. 2026-01-05T07:30-05:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def register(subparsers: Any) -> None:
    """Add ``plumbline connectors``."""
    parser = subparsers.add_parser("connectors", help="poll the live sources on their publication schedule")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run_parser = actions.add_parser("run", help="poll, archive and produce until stopped")
    run_parser.add_argument("--series", nargs="+", metavar="ID", help="catalogue series (default: all)")
    run_parser.add_argument("--once", action="store_true", help="poll every route once, then exit")
    run_parser.add_argument(
        "--no-produce", action="store_true", help="archive only; do not produce to the broker"
    )
    run_parser.set_defaults(func=run)
    schedule_parser = actions.add_parser("schedule", help="show each route's next publication-aware poll")
    schedule_parser.add_argument("--series", nargs="+", metavar="ID", help="catalogue series (default: all)")
    schedule_parser.add_argument("--at", type=_moment, metavar="DATETIME", help="pretend it is this time")
    schedule_parser.set_defaults(func=run)


def run(
    args: argparse.Namespace,
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run ``plumbline connectors ACTION``; ``transport`` and ``stop`` are for tests."""
    from connectors.service import ConnectorService, NoLiveSource
    from foundation.catalogue import UnknownSeriesError
    from foundation.logs import configure_logging

    configure_logging(settings)
    try:
        service = ConnectorService(
            settings, args.series, produce=not getattr(args, "no_produce", False),
            transport=transport, stop=stop,
        )  # fmt: skip
    except (UnknownSeriesError, NoLiveSource) as exc:
        print(f"plumbline connectors: {exc}", file=sys.stderr)
        return 2
    with service:
        if args.action == "schedule":
            for entry in service.schedule(args.at):
                state = (
                    "" if entry.latest_due is None else (" (archived)" if entry.archived else " (missing)")
                )
                print(
                    f"{entry.route:<22} next poll {entry.next_poll:%Y-%m-%d %H:%M} UTC; "
                    f"latest due {entry.latest_due or '-'}{state}"
                )
            return 0
        target = service.target or "nowhere (--no-produce)"
        log.info(
            f"plumbline connectors: {len(service.routes)} routes, archive {service.archive_path}, "
            f"prints to {target}"
        )
        if args.once:
            failed = [record for record in service.poll_once() if record.outcome != "ok"]
            return 1 if failed else 0
        return _serve(service, settings)


def _serve(service: Any, settings: Settings) -> int:
    """Poll until stopped, with the metrics and probe endpoint up; a port in use is one line."""
    from plumbline.connector_metrics import ConnectorEndpoint, connector_registry

    host, port = settings.bind_host, settings.connectors_metrics_port
    try:
        endpoint = ConnectorEndpoint(
            connector_registry(service.telemetry), host, port,
            liveness=service.liveness, readiness=service.readiness,
        )  # fmt: skip
    except OSError as exc:
        print(
            f"plumbline connectors: cannot serve metrics on {host}:{port} ({exc.strerror or exc}); "
            "set PLUMBLINE_CONNECTORS_METRICS_PORT to a free port",
            file=sys.stderr,
        )
        return 1
    with endpoint:
        log.info(
            f"plumbline connectors: metrics on http://{host}:{endpoint.port}/metrics, probes /livez /readyz"
        )
        service.run()
    log.info("plumbline connectors: stopped")
    return 0
