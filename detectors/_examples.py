"""Real history for doctests: reads the public ``date,value`` files of the data directory.

The directory is ``$PLUMBLINE_DATA_DIR`` or, in a checkout, ``../shared/data/series`` next to the
repository. Only the standard library is used so the detectors stay importable anywhere; calendar
features come from the caller (a doctest hands in the pipeline's own
``foundation.calendar.calendar_features``), never from an import here.

>>> x = observations([(dt.date(2019, 9, 16), 5.0)], lambda day: {"calendar_tax_date": 1.0})[0]
>>> x
{'value': 5.0, 'timestamp': 1568592000.0, 'calendar_tax_date': 1.0}
>>> date_of(x)
datetime.date(2019, 9, 16)
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["data_dir", "date_of", "load_series", "observations", "spread_bp"]

_EPOCH = dt.date(1970, 1, 1)


def data_dir() -> Path:
    """The directory holding the ``SERIES.csv`` history files."""
    configured = os.environ.get("PLUMBLINE_DATA_DIR")
    if configured:
        return Path(configured)
    return (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "series").resolve()


@functools.cache
def load_series(series_id: str) -> tuple[tuple[dt.date, float], ...]:
    """Every ``(date, value)`` of one series file, in date order."""
    with open(data_dir() / f"{series_id}.csv", newline="") as handle:
        return tuple(
            (dt.date.fromisoformat(row["date"]), float(row["value"])) for row in csv.DictReader(handle)
        )


def spread_bp(start: str, end: str) -> list[tuple[dt.date, float]]:
    """SOFR minus the rate on reserves (IOER to 2021-07-28, then IORB) in basis points."""
    policy = dict(load_series("IOER")) | dict(load_series("IORB"))
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return [
        (day, round((sofr - policy[day]) * 100.0, 6))
        for day, sofr in load_series("SOFR")
        if first <= day <= last and day in policy
    ]


def observations(
    series: list[tuple[dt.date, float]],
    features: Callable[[dt.date], dict[str, float]] | None = None,
) -> list[dict[str, float]]:
    """``{"value", "timestamp"}`` dicts (UTC midnight POSIX seconds), as detectors read them.

    ``features(day)``, when given, adds its keys to each observation, as the pipeline adds the
    ``calendar_<effect>`` features of each date.
    """
    return [
        {
            "value": value,
            "timestamp": float((day - _EPOCH).days * 86400),
            **(features(day) if features else {}),
        }
        for day, value in series
    ]


def date_of(x: dict[str, float]) -> dt.date:
    """The date of an observation made by :func:`observations` (from its UTC midnight timestamp)."""
    return _EPOCH + dt.timedelta(days=int(x["timestamp"] // 86400))
