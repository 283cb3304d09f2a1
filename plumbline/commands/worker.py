"""``plumbline worker``: run one Faust worker of the pipeline, with its metrics endpoint."""

from __future__ import annotations

import argparse
import logging
import sys
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
    worker.metrics.starts.record(record_worker_start(checkpoint_dir(settings) / settings.app_id))
    configure_logging(settings)  # one level for every package's loggers (PLUMBLINE_LOG_LEVEL)
    # Logging is configured above, once for every package (Faust's own setup would add a second
    # root handler, and every line would print twice); --loglevel still sets Faust's level.
    faust_worker = faust.Worker(worker.app, loglevel=args.loglevel, quiet=True, override_logging=False)
    logging.getLogger("faust").setLevel(_LEVELS[args.loglevel])
    keep_beating(heartbeat, faust_worker.loop)
    faust_worker.execute_from_commandline()
    return 0
