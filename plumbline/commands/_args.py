"""Argument types shared by the subcommands: each bad value is one line from argparse."""

from __future__ import annotations

import argparse
import datetime as dt

__all__ = ["iso_date"]


def iso_date(text: str) -> dt.date:
    """An ISO date argument (``YYYY-MM-DD``).

    >>> iso_date("2019-09-17")
    datetime.date(2019, 9, 17)
    """
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
