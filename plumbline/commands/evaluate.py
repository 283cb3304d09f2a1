"""``plumbline evaluate``: backtest the detectors on real history and write docs/detectors.md.

``plumbline generate`` writes the same section along with the other generated documents.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from foundation.settings import Settings

__all__ = ["DEFAULT_DOC", "register", "run"]

DEFAULT_DOC = Path(__file__).resolve().parents[2] / "docs" / "detectors.md"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="backtest every detector on the history in the data directory",
        description="Backtest the detectors on every funding signal derivable from PLUMBLINE_DATA_DIR, per "
        "episode of stress and in calm stretches, and write the table into the generated section of "
        "docs/detectors.md.",
    )
    parser.add_argument(
        "--doc", type=Path, default=DEFAULT_DOC, help=f"markdown file to update ({DEFAULT_DOC})"
    )
    parser.add_argument("--no-write", action="store_true", help="print the table instead of writing the doc")
    parser.add_argument("--defaults-only", action="store_true", help="only the default detectors (fast)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from offline.evaluation import evaluate, render_markdown, write_generated_section

    if settings.data_dir is None:
        print(
            "plumbline evaluate: no data directory; set PLUMBLINE_DATA_DIR to the folder of date,value CSVs",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    result = evaluate(settings.data_dir, defaults_only=args.defaults_only)
    # The full evaluation is exactly the section `plumbline generate` writes, and says so.
    command = "plumbline evaluate --defaults-only" if args.defaults_only else "plumbline generate"
    section = render_markdown(result, command=command)
    if args.no_write:
        sys.stdout.write(section)
    else:
        write_generated_section(args.doc, section)
        print(f"wrote {len(result.rows)} rows to {args.doc}")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"{len(result.rows)} detector runs in {time.perf_counter() - started:.1f} s; defaults: "
        f"{result.observations} observations in {result.defaults_seconds:.2f} s",
        file=sys.stderr,
    )
    return 0
