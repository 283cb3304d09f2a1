"""The ``plumbline`` command line: one parser, subcommands in :mod:`plumbline.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from foundation.settings import SettingsError, load_settings
from plumbline import __version__
from plumbline.commands import COMMAND_MODULES
from plumbline.commands._errors import debug_enabled, describe

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
    """Run one subcommand; settings errors, usage errors and failures end with one clear line.

    An exception no command caught is a failure too: one line on stderr (the fix, when it is a
    missing broker, a port in use or a missing file; else its type and message), exit status 1.
    ``PLUMBLINE_DEBUG=1`` lets it end with its traceback instead. Ctrl-C ends quietly with 130.
    """
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
    except Exception as exc:
        if debug_enabled():
            raise
        command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
        print(f"plumbline {command}: {describe(exc, settings)}", file=sys.stderr)
        return 1
