"""``plumbline config``: print the effective settings, secrets masked."""

from __future__ import annotations

import argparse
from typing import Any

from foundation.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="print the effective settings (secrets masked)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    for name, value in settings.masked().items():
        print(f"{name}={value}")
    return 0
