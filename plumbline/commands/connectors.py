"""``plumbline connectors run | schedule``: poll the live sources on their publication schedule.

``run`` polls every route once at start (catching up what was published while it was down), then
around each series' release time; every accepted print is archived before it is produced to the
prints topic. ``--once`` polls everything once and exits (cron-style). SIGINT / SIGTERM stop it
between two polls. ``schedule`` shows when each route will next be polled.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import threading
from typing import Any

import httpx

from foundation.settings import Settings

__all__ = ["register", "run"]


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


def _say(line: str) -> None:
    print(line, flush=True)


def run(
    args: argparse.Namespace,
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run ``plumbline connectors ACTION``; ``transport`` and ``stop`` are for tests."""
    from connectors.archive import Archive, default_archive_path
    from connectors.clock import SystemClock
    from connectors.poller import Poller, PollPolicy
    from connectors.publisher import Publisher, kafka_producer_factory
    from connectors.schedule import latest_due
    from connectors.sources import SourceSet
    from foundation.catalogue import UnknownSeriesError

    stop = stop or threading.Event()
    clock = SystemClock(stop)
    client = httpx.Client(transport=transport, timeout=settings.http_timeout_seconds, follow_redirects=True)
    with client:
        sources = SourceSet.from_settings(settings, client, clock)
        try:
            routes = sources.routes_for(args.series)
        except UnknownSeriesError as exc:
            print(f"plumbline connectors: {exc}", file=sys.stderr)
            return 2
        if not routes:
            print(f"plumbline connectors: no live source for {', '.join(args.series)}", file=sys.stderr)
            return 2
        with Archive.open(settings) as archive:
            factory = None if getattr(args, "no_produce", False) else kafka_producer_factory(settings)
            publisher = Publisher(archive, factory, say=_say)
            if args.action == "schedule":
                now = args.at or clock.now()
                poller = Poller(
                    sources, publisher, clock, routes=routes, policy=PollPolicy.from_settings(settings)
                )
                for route, next_at in poller.plan(now):
                    due = latest_due(route.primary, now)
                    have = due is not None and archive.has(route.primary, due)
                    state = "" if due is None else (" (archived)" if have else " (missing)")
                    print(
                        f"{route.name:<22} next poll {next_at:%Y-%m-%d %H:%M} UTC; "
                        f"latest due {due or '-'}{state}"
                    )
                return 0
            poller = Poller(
                sources,
                publisher,
                clock,
                routes=routes,
                policy=PollPolicy.from_settings(settings),
                say=_say,
                stop=stop,
            )
            target = "nowhere (--no-produce)" if factory is None else settings.topic_prints
            archive_path = default_archive_path(settings)
            _say(f"plumbline connectors: {len(routes)} routes, archive {archive_path}, prints to {target}")
            try:
                if args.once:
                    records = poller.poll_all_once()
                    failed = [r for r in records if r.outcome != "ok"]
                    return 1 if failed else 0
                previous = _install_stop_handlers(stop)
                try:
                    poller.run()
                finally:
                    _restore_handlers(previous)
            finally:
                publisher.close()
    _say("plumbline connectors: stopped")
    return 0


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any]:
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous  # signal handlers can only be set from the main thread (tests run it elsewhere)
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda *_: stop.set())
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
