"""``plumbline worker``: run one Faust worker of the pipeline, with its metrics endpoint."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from foundation.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run a Faust worker (what `stack up` starts)")
    parser.add_argument("--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"])
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import faust
    from prometheus_client import CollectorRegistry, start_http_server

    from foundation.settings import SettingsError
    from streams.app import checkpoint_dir, create_app
    from streams.checkpoint import record_worker_start

    registry = CollectorRegistry()
    try:
        worker = create_app(settings, registry=registry)
    except SettingsError as exc:
        print(f"plumbline worker: bad setting: {exc}", file=sys.stderr)
        return 2
    worker.metrics.starts.set(record_worker_start(checkpoint_dir(settings) / settings.app_id))
    # Metrics are served on loopback by prometheus_client's own thread; Faust's web server stays off.
    start_http_server(settings.metrics_port, addr=settings.bind_host, registry=registry)
    logging.getLogger("plumbline").setLevel(logging.INFO)
    faust.Worker(worker.app, loglevel=args.loglevel, quiet=True).execute_from_commandline()
    return 0
