"""``plumbline worker``: run one Faust worker of the pipeline, with its metrics endpoint."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import time
from typing import Any

from foundation.settings import Settings

#: `--loglevel` names, as the logging module spells them.
_LEVELS = {"crit": "CRITICAL", "error": "ERROR", "warn": "WARNING", "info": "INFO", "debug": "DEBUG"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run a Faust worker (what `stack up` starts)")
    parser.add_argument("--loglevel", default="info", choices=list(_LEVELS))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import faust
    from prometheus_client import CollectorRegistry

    from foundation.logs import configure_logging
    from foundation.settings import SettingsError
    from streams.app import checkpoint_dir, create_app
    from streams.checkpoint import record_worker_start
    from streams.liveness import Heartbeat, keep_beating, metrics_and_liveness_app, serve

    registry = CollectorRegistry()
    try:
        worker = create_app(settings, registry=registry)
    except SettingsError as exc:
        print(f"plumbline worker: bad setting: {exc}", file=sys.stderr)
        return 2
    heartbeat = Heartbeat(worker.metrics.event_loop_heartbeat)
    # /metrics and the liveness check (/livez, /healthz) share one port, served from threads of their
    # own; only the heartbeat comes from the Faust loop, so a stalled loop fails the check while
    # scrapes still answer. Faust's web server stays off. Bound before the start is counted, so a
    # start that fails here is not one.
    try:
        serve(metrics_and_liveness_app(registry, heartbeat), settings.bind_host, settings.metrics_port)
    except OSError as exc:
        print(
            f"plumbline worker: cannot serve metrics on {settings.bind_host}:{settings.metrics_port} "
            f"({exc.strerror or exc}); set PLUMBLINE_METRICS_PORT to a free port",
            file=sys.stderr,
        )
        return 1
    # A broker restarting beside the worker (a deploy, a broker loss) is waited for; after
    # PLUMBLINE_BROKER_WAIT_SECONDS, one line and exit 1, and the supervisor restarts the worker.
    if not _wait_for_broker(settings, settings.broker_wait_seconds):
        from plumbline.commands._errors import broker_unreachable

        refused = ConnectionRefusedError(f"nothing listens there after {settings.broker_wait_seconds:.0f} s")
        print(f"plumbline worker: {broker_unreachable(refused, settings)}", file=sys.stderr)
        return 1
    worker.metrics.starts.record(record_worker_start(checkpoint_dir(settings) / settings.app_id))
    configure_logging(settings)  # one level for every package's loggers (PLUMBLINE_LOG_LEVEL)
    # Logging is configured above, once for every package (Faust's own setup would add a second
    # root handler, and every line would print twice); --loglevel still sets Faust's level.
    faust_worker = faust.Worker(worker.app, loglevel=args.loglevel, quiet=True, override_logging=False)
    logging.getLogger("faust").setLevel(_LEVELS[args.loglevel])
    keep_beating(heartbeat, faust_worker.loop)
    faust_worker.execute_from_commandline()
    return 0


def _wait_for_broker(settings: Settings, timeout_seconds: float) -> bool:
    """Whether a bootstrap server accepts a TCP connection within ``timeout_seconds``.

    Faust would otherwise crash at start with a multi-line traceback when no broker answers. Only
    reachability is checked here; TLS and SASL are the clients' (their errors come later, one line).
    """
    servers = [s.strip() for s in settings.bootstrap_servers.split(",") if s.strip()]
    deadline = time.monotonic() + timeout_seconds
    said = False
    while True:
        for server in servers:
            host, _, port = server.rpartition(":")
            try:
                with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=2):
                    return True
            except (OSError, ValueError):
                continue
        if time.monotonic() >= deadline:
            return False
        if not said:
            where = settings.bootstrap_servers
            print(f"plumbline worker: waiting for the broker at {where}", file=sys.stderr)
            said = True
        time.sleep(1.0)
