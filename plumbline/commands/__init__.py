"""Subcommands of the ``plumbline`` command line, one module each.

Each module defines ``register(subparsers)``, which adds its parser and sets ``func`` to a
callable taking ``(args, settings)`` and returning an exit code. :data:`COMMAND_MODULES` lists
them in the order ``plumbline --help`` shows.
"""

COMMAND_MODULES = (
    "plumbline.commands.config",
    "plumbline.commands.stack",
    "plumbline.commands.worker",
    "plumbline.commands.replay",
    "plumbline.commands.backtest",
    "plumbline.commands.backfill",
    "plumbline.commands.alerts",
    "plumbline.commands.demo",
    "plumbline.commands.fetch",
    "plumbline.commands.connectors",
    "plumbline.commands.republish",
    "plumbline.commands.score",
    "plumbline.commands.evaluate",
    "plumbline.commands.generate",
    "plumbline.commands.dashboards",
)

__all__ = ["COMMAND_MODULES"]
