"""``plumbline republish``: re-send archived prints to the prints topic, e.g. after a broker loss.

The embedded broker keeps topics in memory only; the archive keeps every vintage. Each vintage is
re-sent with the same key and the same bytes as its first send (unless ``--replay`` marks them as
replays), so a consumer that already has it treats it as a no-op.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from foundation.settings import Settings
from plumbline.commands._args import iso_date

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add ``plumbline republish``."""
    parser = subparsers.add_parser("republish", help="re-send archived prints to the prints topic")
    parser.add_argument("--series", nargs="+", metavar="ID", help="catalogue series (default: all)")
    parser.add_argument(
        "--since", type=iso_date, metavar="DATE", help="first observation date (default: all)"
    )
    parser.add_argument(
        "--replay", action="store_true", help="mark every re-sent print as a replay (its alerts page nobody)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``plumbline republish``."""
    from connectors.archive import Archive, default_archive_path
    from connectors.publisher import Publisher, kafka_producer_factory
    from foundation.catalogue import UnknownSeriesError, get_series

    try:
        series = [get_series(s).id for s in args.series] if args.series else None
    except UnknownSeriesError as exc:
        print(f"plumbline republish: {exc}", file=sys.stderr)
        return 2
    path = default_archive_path(settings)
    if not path.is_file():
        print(
            f"plumbline republish: no archive at {path}: "
            "run `plumbline fetch` or `plumbline connectors run` first",
            file=sys.stderr,
        )
        return 1
    messages: list[str] = []
    with Archive(path) as archive:
        publisher = Publisher(archive, kafka_producer_factory(settings), say=messages.append)
        try:
            expected = sum(1 for _ in archive.iter_prints(series, args.since))
            sent = publisher.republish(series, args.since, replay=True if args.replay else None)
            publisher.flush_pending()
        finally:
            publisher.close()
    if sent < expected:
        detail = messages[-1] if messages else "the broker did not acknowledge them"
        print(
            f"plumbline republish: {sent} of {expected} prints acknowledged by "
            f"{settings.bootstrap_servers}: {detail}",
            file=sys.stderr,
        )
        return 1
    print(f"plumbline republish: re-sent {sent} archived prints from {path} to {settings.topic_prints}")
    return 0
