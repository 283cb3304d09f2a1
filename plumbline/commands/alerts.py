"""``plumbline alerts``: print the alerts the local webhook receiver got from Alertmanager."""

from __future__ import annotations

import argparse
import json
from typing import Any

from foundation.settings import Settings
from plumbline.stack import alerts_file
from plumbline.webhook import iter_alerts


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("alerts", help="print alerts received by the local webhook receiver")
    parser.add_argument("--json", action="store_true", help="one JSON object per alert")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    path = alerts_file(settings)
    alerts = list(iter_alerts(path))
    if not alerts:
        print(f"no alerts received yet ({path})")
        return 0
    for alert in alerts:
        if args.json:
            print(json.dumps(alert))
            continue
        labels = alert["labels"]
        since = alert["annotations"].get("episode_start", "")
        print(
            f"{alert['received_at'][:19]}  {alert['status']:<8} {labels.get('alertname', '?'):<16} "
            f"severity={labels.get('severity', '?'):<8} replay={labels.get('replay', 'false'):<5} "
            f"receiver={alert['receiver']:<7} since {since}"
        )
    return 0
