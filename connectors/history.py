"""History files: the ``date,value`` CSVs of a data directory, as validated :class:`Print` records.

The data directory (``PLUMBLINE_DATA_DIR``) holds one file per series named by its FRED-style code
(``SOFR.csv``, ``IORB.csv``, ...), header ``date,value``, ISO dates. Values are converted to the
catalogue's canonical unit with ``file_multiplier`` (e.g. H.4.1 millions to USD) here, once.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

from foundation.catalogue import get_series, published_at
from foundation.records import Print, RecordError

__all__ = ["HistoryError", "Rejected", "iter_publication_order", "read_history"]

MISSING_MARKERS = frozenset({"", ".", "NA", "N/A", "ND", "null", "NaN", "nan"})


class HistoryError(RuntimeError):
    """The data directory or one of its files cannot be read; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class Rejected:
    """A row of a history file that did not become a print, and why."""

    series_id: str
    line: int
    reason: str


def read_history(
    data_dir: Path | None,
    series_id: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    replay: bool = True,
    rejected: list[Rejected] | None = None,
) -> list[Print]:
    """Prints of ``series_id`` between ``start`` and ``end`` (inclusive), oldest first.

    Missing markers are skipped; rows that are malformed or implausible are reported in
    ``rejected`` (when given) and never returned. ``published_at`` is the historical publication
    time from the catalogue, so a replay can follow publication order.
    """
    spec = get_series(series_id)
    if data_dir is None:
        raise HistoryError(
            "no data directory: set PLUMBLINE_DATA_DIR to a folder of date,value CSVs "
            "(e.g. ../shared/data/series) or fetch live history with network access"
        )
    path = Path(data_dir) / f"{series_id}.csv"
    if not path.is_file():
        raise HistoryError(f"{path}: no history file for {series_id} in the data directory")
    prints: list[Print] = []
    seen: set[dt.date] = set()
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["date", "value"]:
            raise HistoryError(f"{path}: header must be 'date,value', got {header!r}")
        for line, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            try:
                day = dt.date.fromisoformat(row[0].strip())
            except (ValueError, IndexError):
                _reject(rejected, series_id, line, f"bad date {row[:1]!r}")
                continue
            if (start and day < start) or (end and day > end):
                continue
            raw = row[1].strip() if len(row) > 1 else ""
            if raw in MISSING_MARKERS:
                continue
            if day in seen:
                _reject(rejected, series_id, line, f"duplicate date {day}")
                continue
            try:
                value = float(raw) * spec.file_multiplier
                if not math.isfinite(value):
                    raise ValueError
            except ValueError:
                _reject(rejected, series_id, line, f"value {raw!r} is not a number")
                continue
            try:
                record = Print(
                    series_id=series_id,
                    observation_date=day,
                    value=value,
                    unit=spec.unit,
                    source=spec.source,
                    published_at=published_at(series_id, day),
                    replay=replay,
                ).validate()
            except RecordError as exc:
                _reject(rejected, series_id, line, str(exc))
                continue
            seen.add(day)
            prints.append(record)
    prints.sort(key=lambda p: p.observation_date)
    return prints


def _reject(rejected: list[Rejected] | None, series_id: str, line: int, reason: str) -> None:
    if rejected is not None:
        rejected.append(Rejected(series_id, line, reason))


def iter_publication_order(prints: Iterable[Print]) -> Iterator[Print]:
    """Prints in the order they became public (ties: observation date, then series id)."""
    yield from sorted(prints, key=lambda p: (p.published_at, p.observation_date, p.series_id))
