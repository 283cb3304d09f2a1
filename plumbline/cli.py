"""The ``plumbline`` command line: one parser, subcommands in :mod:`plumbline.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from foundation.settings import SettingsError, load_settings
from plumbline import __version__
from plumbline.commands import COMMAND_MODULES

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="plumbline",
        description="Streaming anomaly detection for US dollar funding markets.",
    )
    parser.add_argument("--version", action="version", version=f"plumbline {__version__}")
    parser.add_argument("--config", help="TOML settings file (default: $PLUMBLINE_CONFIG)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; settings errors and usage errors end with one clear line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings(config_file=args.config)
    except SettingsError as exc:
        print(f"plumbline: bad setting: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
