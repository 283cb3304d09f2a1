"""``plumbline evaluate``: backtest the detectors on real history and print the table.

The committed copy in docs/detectors.md is written by ``plumbline generate``, with the other
generated documents, so that one command produces every one of them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from foundation.settings import Settings
from plumbline.commands._args import require_data_dir

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="backtest every detector on the history in the data directory",
        description="Backtest the detectors on every funding signal derivable from PLUMBLINE_DATA_DIR, per "
        "episode of stress and in calm stretches, and print the table (markdown). `plumbline generate` "
        "writes it into docs/detectors.md.",
    )
    parser.add_argument("--defaults-only", action="store_true", help="only the default detectors (fast)")
    parser.add_argument(
        "--select",
        action="store_true",
        help="run the selection procedure (offline/selection.py): choose every detector default and rule "
        "threshold on 2018-04..2021-12, report 2022 onwards and leave-one-episode-out (about 45 s; needs "
        "prometheus and promtool)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from offline.evaluation import evaluate, render_markdown

    data_dir = require_data_dir("evaluate", settings)
    if data_dir is None:
        return 2
    started = time.perf_counter()
    if getattr(args, "select", False):
        return _select(data_dir, started)
    result = evaluate(data_dir, defaults_only=args.defaults_only)
    command = "plumbline evaluate --defaults-only" if args.defaults_only else "plumbline generate"
    sys.stdout.write(render_markdown(result, command=command))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"{len(result.rows)} detector runs in {time.perf_counter() - started:.1f} s; defaults: "
        f"{result.observations} observations in {result.defaults_seconds:.2f} s",
        file=sys.stderr,
    )
    return 0


def _select(data_dir: Path, started: float) -> int:
    from offline.alertmanager import ConfigError
    from offline.backfill import BackfillError
    from offline.documents import full_history_backtest
    from offline.prometheus import PrometheusError
    from offline.selection import render_markdown, select

    try:
        selection = select(full_history_backtest(data_dir))
    except (PrometheusError, BackfillError, ConfigError) as exc:
        print(f"plumbline evaluate: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render_markdown(selection))
    differ = [c.name for c in selection.detectors + selection.thresholds if not c.agrees]
    print(
        f"selection in {time.perf_counter() - started:.1f} s; "
        + (f"shipped values differ from the choice: {', '.join(differ)}" if differ else "shipped = chosen"),
        file=sys.stderr,
    )
    return 0
