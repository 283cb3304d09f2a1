"""Fixtures for the detector tests: real history from the data directory, never copied here."""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def series_dir() -> Path:
    """The folder of ``date,value`` history files (``PLUMBLINE_DATA_DIR`` or ../shared/data/series)."""
    path = Path(os.environ.get("PLUMBLINE_DATA_DIR") or REPO_ROOT / ".." / "shared" / "data" / "series")
    if not (path / "SOFR.csv").is_file():
        pytest.fail(f"history data not found in {path}: set PLUMBLINE_DATA_DIR", pytrace=False)
    return path.resolve()


def read_series(directory: Path, series_id: str) -> dict[dt.date, float]:
    """One history file as ``{date: value}``."""
    with open(directory / f"{series_id}.csv", newline="") as handle:
        return {dt.date.fromisoformat(row["date"]): float(row["value"]) for row in csv.DictReader(handle)}


@pytest.fixture(scope="session")
def spread_history(series_dir: Path) -> list[tuple[dt.date, float]]:
    """SOFR minus IOER (to 2021-07-28) or IORB, in basis points, 2018-04 onwards."""
    policy = read_series(series_dir, "IOER") | read_series(series_dir, "IORB")
    sofr = read_series(series_dir, "SOFR")
    return [
        (day, round((rate - policy[day]) * 100.0, 6)) for day, rate in sorted(sofr.items()) if day in policy
    ]
