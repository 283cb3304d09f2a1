"""Argument types shared by the subcommands: each bad value is one line from argparse."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from foundation.settings import Settings

__all__ = ["iso_date", "require_data_dir"]


def iso_date(text: str) -> dt.date:
    """An ISO date argument (``YYYY-MM-DD``).

    >>> iso_date("2019-09-17")
    datetime.date(2019, 9, 17)
    """
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def require_data_dir(command: str, settings: Settings) -> Path | None:
    """The data directory of ``settings``; without one, None after one line saying what to set."""
    if settings.data_dir is None:
        print(
            f"plumbline {command}: no data directory; set PLUMBLINE_DATA_DIR to a folder of date,value CSVs",
            file=sys.stderr,
        )
    return settings.data_dir
