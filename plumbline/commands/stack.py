"""``plumbline stack up | down | status``: the embedded local stack."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from foundation.settings import Settings
from plumbline.stack import StackError, down, status, up


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("stack", help="start, stop or inspect the embedded local stack")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument(
        "--only", action="append", metavar="COMPONENT",
        help="limit to one component (broker, webhook, alertmanager, prometheus, worker); repeatable",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.action == "up":
            up(settings, components=args.only)
        elif args.action == "down":
            down(settings, components=args.only)
            return 0
    except StackError as exc:
        print(f"plumbline stack {args.action}: {exc}", file=sys.stderr)
        return 1
    rows = status(settings)
    for row in rows:
        state = "running" if row.running else "stopped"
        pid = str(row.pid) if row.pid else "-"
        print(f"{row.name:<12} {state:<8} pid {pid:<7} {row.url}")
    print(f"state directory: {settings.state_dir}")
    if all(r.running for r in rows):
        return 0
    # Like `systemctl status`: 3 means "not (all) running", so scripts can tell it from an error.
    return 3 if args.action == "status" else 1
