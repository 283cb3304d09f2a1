"""``plumbline generate``: rewrite every document computed from the data directory (or check them)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from foundation.settings import Settings
from plumbline.commands._args import require_data_dir

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="regenerate the documents computed from the data directory",
        description="Recompute, from PLUMBLINE_DATA_DIR, every generated document: the evaluation table in "
        "docs/detectors.md, the full-history backtest figures in docs/backtest.md and the alert rules' "
        "backtest deploy/prometheus/BACKTEST.md (evaluated by a temporary Prometheus on a free loopback "
        "port: needs prometheus and promtool). Hand-written text outside the generated sections is kept.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; list each document that differs and exit 1 if any does",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.history import HistoryError
    from offline import documents
    from offline.alertmanager import ConfigError
    from offline.backfill import BackfillError
    from offline.prometheus import PrometheusError

    data_dir = require_data_dir("generate", settings)
    if data_dir is None:
        return 2
    started = time.perf_counter()
    try:
        generated = documents.generate_documents(data_dir)
    except (HistoryError, FileNotFoundError, BackfillError, PrometheusError, ConfigError) as exc:
        print(f"plumbline generate: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    if args.check:
        stale = [document for document in generated if not document.is_current()]
        for document in stale:
            print(f"differs: {document.name}")
        if stale:
            print(f"rerun `{documents.COMMAND}` (with PLUMBLINE_DATA_DIR set) and commit", file=sys.stderr)
            return 1
        print(f"{len(generated)} generated documents are current ({seconds:.1f} s)")
        return 0
    for document in generated:
        print(f"{'wrote' if document.write() else 'unchanged'}: {document.name}")
    print(f"generated {len(generated)} documents in {seconds:.1f} s", file=sys.stderr)
    return 0
