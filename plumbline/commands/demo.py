"""``plumbline demo``: the pipeline on the embedded stack over real history, alerts visible.

Brings a fresh local stack up, replays SOFR and the rate on reserves for two scarce-reserve
episodes (2019-07..2019-10 and 2025-09..2025-12) at an accelerated pace, waits for Alertmanager
to deliver ``SOFRAboveIORB`` to the webhook receiver, and prints what arrived, for which dates and
how long after the print that started the alarm.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from typing import Any

from foundation.settings import Settings

WINDOWS = (
    (dt.date(2019, 7, 1), dt.date(2019, 10, 31)),
    (dt.date(2025, 9, 1), dt.date(2025, 12, 31)),
)
SERIES = ("SOFR", "IORB", "IOER")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the pipeline over 2019 and 2025 history; show the alerts"
    )
    parser.add_argument(
        "--days-per-second", type=float, default=6.0,
        help="replay pace in calendar days of history per second (default 6)",
    )  # fmt: skip
    parser.add_argument("--wait-seconds", type=float, default=45.0, help="how long to wait for each alert")
    parser.add_argument("--down", action="store_true", help="stop the stack at the end")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.history import HistoryError
    from plumbline import stack

    if settings.data_dir is None:
        print(
            "plumbline demo: no data directory. Set PLUMBLINE_DATA_DIR to a folder of date,value CSVs "
            "(SOFR.csv, IORB.csv, IOER.csv; `make demo` uses ../shared/data/series).",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    print("plumbline demo: starting a fresh embedded stack")
    try:
        stack.down(settings, say=lambda line: None)
        for stale in ("alertmanager/data", "prometheus/data"):
            shutil.rmtree(settings.state_dir / stale, ignore_errors=True)
        stack.up(settings, say=lambda line: print("  " + line))
    except stack.StackError as exc:
        print(f"plumbline demo: {exc}", file=sys.stderr)
        return 1
    print(f"  stack ready in {time.monotonic() - started:.1f} s")
    try:
        results = [
            replay_window(settings, start, end, args.days_per_second, args.wait_seconds)
            for start, end in WINDOWS
        ]
    except HistoryError as exc:
        print(f"plumbline demo: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.down:
            stack.down(settings, say=lambda line: None)
    first = [r.first_alert_after_seconds for r in results if r.first_alert_after_seconds is not None]
    print()
    if first:
        print(f"first alert reached the webhook receiver {results[0].first_alert_wall - started:.1f} s after "
              "`plumbline demo` started")  # fmt: skip
    print(f"Prometheus   http://{settings.bind_host}:{settings.prometheus_port}/alerts")
    print(f"Alertmanager http://{settings.bind_host}:{settings.alertmanager_port}/#/alerts")
    print(f"Metrics      http://{settings.bind_host}:{settings.metrics_port}/metrics")
    print("All alerts:  plumbline alerts      Stop:  plumbline stack down")
    return 0 if all(r.alerts for r in results) else 1


class WindowResult:
    """Alerts received for one replayed window."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.first_alert_after_seconds: float | None = None
        self.first_alert_wall: float = 0.0


def replay_window(
    settings: Settings, start: dt.date, end: dt.date, days_per_second: float, wait_seconds: float
) -> WindowResult:
    """Replay one window, then wait for its firing alerts and print a summary."""
    from connectors.producer import PrintProducer
    from connectors.replay import plan_replay, run_replay
    from foundation.records import Print
    from plumbline.stack import alerts_file
    from plumbline.webhook import iter_alerts

    plan = plan_replay(settings.data_dir, SERIES, start, end)
    sent_at: dict[str, float] = {}
    wall_at: dict[str, float] = {}

    def on_sent(record: Print) -> None:
        if record.series_id == "SOFR":
            sent_at[record.observation_date.isoformat()] = time.time()
            wall_at[record.observation_date.isoformat()] = time.monotonic()

    print(f"\nreplaying SOFR, IORB and IOER {start} .. {end} ({len(plan.prints)} prints, "
          f"{days_per_second:g} days of history a second)")  # fmt: skip
    replay_started = dt.datetime.now(dt.UTC)
    with PrintProducer(settings) as producer:
        run_replay(producer, plan.prints, speed=days_per_second * 86400.0, on_sent=on_sent)

    result = WindowResult()
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        result.alerts = [
            a for a in iter_alerts(alerts_file(settings))
            if a["status"] == "firing" and dt.datetime.fromisoformat(a["received_at"]) >= replay_started
        ]  # fmt: skip
        if result.alerts:
            break
        time.sleep(0.5)
    if not result.alerts:
        print(f"  no alert arrived within {wait_seconds:.0f} s: see {settings.state_dir / 'logs'}")
        return result
    seen: set[str] = set()
    for alert in result.alerts:
        episode = alert["annotations"].get("episode_start", "")[:10]
        if episode in seen:
            continue
        seen.add(episode)
        received = dt.datetime.fromisoformat(alert["received_at"]).timestamp()
        latency = received - sent_at[episode] if episode in sent_at else float("nan")
        if result.first_alert_after_seconds is None:
            result.first_alert_after_seconds = latency
            result.first_alert_wall = time.monotonic() - (time.time() - received)
        print(
            f"  {alert['labels'].get('alertname')} ({alert['labels'].get('severity')}, "
            f"receiver {alert['receiver']}) for the alarm that began on {episode}: "
            f"received {latency:.1f} s after that day's SOFR print was produced"
        )
        print(f"    {' '.join(alert['annotations'].get('description', '').split())}")
    return result
