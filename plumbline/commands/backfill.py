"""``plumbline backfill``: history into Prometheus, so dashboards show 2018 to today."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from foundation.settings import Settings
from plumbline.commands._args import iso_date

__all__ = ["register", "run"]

_STEPS = {"1d": 86400, "12h": 43200, "6h": 21600, "1h": 3600}
_RETENTION_YEARS = 15  # plumbline stack starts Prometheus with --storage.tsdb.retention.time=15y


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="write signals and detector scores over history into Prometheus's data directory",
        description="Run history through the in-process engine and load the worker's metrics for every "
        "past date into Prometheus as TSDB blocks (promtool tsdb create-blocks-from openmetrics). "
        "Restart Prometheus afterwards (plumbline stack down && plumbline stack up).",
    )
    parser.add_argument("--from", dest="start", type=iso_date, default=dt.date(2018, 4, 1), metavar="DATE",
                        help="first date (default 2018-04-01, the first SOFR print)")  # fmt: skip
    parser.add_argument("--to", dest="end", type=iso_date, default=None, metavar="DATE",
                        help="last date (default: the newest print in the data)")  # fmt: skip
    parser.add_argument(
        "--prometheus-data", type=Path, default=None, metavar="DIR",
        help="Prometheus TSDB directory (default: <state_dir>/prometheus/data, the local stack's)",
    )  # fmt: skip
    parser.add_argument("--step", choices=sorted(_STEPS), default="1d",
                        help="one sample per series per step (default 1d, at 00:00 UTC)")  # fmt: skip
    parser.add_argument("--keep-openmetrics", type=Path, default=None, metavar="FILE",
                        help="also keep the OpenMetrics text here")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.history import HistoryError
    from offline.backfill import BackfillError, create_blocks, write_openmetrics
    from offline.backtest import load_plan, run_backtest

    started = time.perf_counter()
    end = args.end or dt.date.today()
    if end < args.start:
        print("plumbline backfill: --to is before --from", file=sys.stderr)
        return 2
    try:
        plan = load_plan(settings, args.start, end)
    except HistoryError as exc:
        print(f"plumbline backfill: {exc}", file=sys.stderr)
        return 1
    if not plan.prints:
        print(f"plumbline backfill: no prints between {args.start} and {end}; set PLUMBLINE_DATA_DIR or run "
              "`plumbline fetch`", file=sys.stderr)  # fmt: skip
        return 1
    end = min(end, max(p.observation_date for p in plan.prints))
    result = run_backtest(settings, args.start, end, plan)
    oldest_years = (dt.date.today() - args.start).days / 365.25
    if oldest_years > _RETENTION_YEARS:
        print(f"plumbline backfill: warning: history from {args.start} is older than the "
              f"{_RETENTION_YEARS}y retention of the local stack; Prometheus will delete those blocks",
              file=sys.stderr)  # fmt: skip
    data_dir = args.prometheus_data or settings.state_dir / "prometheus" / "data"
    with tempfile.TemporaryDirectory(prefix="plumbline-backfill-") as scratch:
        text = Path(scratch) / "backfill.om.txt"
        summary = write_openmetrics(result, text, _STEPS[args.step])
        if args.keep_openmetrics:
            args.keep_openmetrics.write_bytes(text.read_bytes())
        try:
            blocks = create_blocks(text, data_dir)
        except BackfillError as exc:
            print(f"plumbline backfill: {exc}", file=sys.stderr)
            return 1
    print(
        f"backfilled {summary.series} series, {summary.samples} samples ({args.start} .. {end}, one per "
        f"{args.step}) into {len(blocks)} block(s) in {data_dir} in {time.perf_counter() - started:.1f} s"
    )
    print("Restart Prometheus to load them: plumbline stack down && plumbline stack up (it must keep "
          f"{_RETENTION_YEARS}y: --storage.tsdb.retention.time={_RETENTION_YEARS}y)")  # fmt: skip
    return 0
