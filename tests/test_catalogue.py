"""Catalogue and calendar: every history file is known, publication times follow the sources."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from foundation.calendar import is_business_day, next_business_day
from foundation.catalogue import (
    DERIVED_SIGNALS,
    SERIES,
    UnknownSeriesError,
    get_series,
    partition_signals,
    print_partitions,
    published_at,
    signal_partitions,
)


def test_every_history_file_has_a_catalogue_entry(data_dir: Path) -> None:
    files = {path.stem for path in data_dir.glob("*.csv")}
    assert files, "no history files"
    assert files <= set(SERIES), f"history files without catalogue entries: {sorted(files - set(SERIES))}"


def test_unknown_series_is_rejected_with_its_name() -> None:
    with pytest.raises(UnknownSeriesError, match="'XYZ'"):
        get_series("XYZ")


@pytest.mark.parametrize(
    ("series_id", "observation", "published"),
    [
        ("SOFR", "2019-09-13", "2019-09-16T12:00:00+00:00"),  # Friday -> Monday 08:00 EDT
        ("SOFR", "2025-12-24", "2025-12-26T13:00:00+00:00"),  # over Christmas, 08:00 EST
        ("EFFR", "2025-10-31", "2025-11-03T14:00:00+00:00"),  # 09:00 EST
        ("IORB", "2025-12-11", "2025-12-11T05:00:00+00:00"),  # known from the start of its date
        ("WRESBAL", "2025-11-26", "2025-11-28T21:30:00+00:00"),  # Thanksgiving Thursday: H.4.1 on Friday
        ("RRPONTSYD", "2022-12-30", "2022-12-30T18:30:00+00:00"),  # same day, 13:30
    ],
)
def test_publication_time_follows_the_source_schedule(
    series_id: str, observation: str, published: str
) -> None:
    assert published_at(series_id, dt.date.fromisoformat(observation)).isoformat() == published


def test_us_holidays_are_not_business_days() -> None:
    holidays = ["2019-01-01", "2019-11-28", "2020-05-25", "2022-06-20", "2025-12-25", "2026-07-03"]
    for day in holidays:
        assert not is_business_day(dt.date.fromisoformat(day)), day
    assert is_business_day(dt.date(2019, 9, 17))
    assert next_business_day(dt.date(2026, 7, 2)) == dt.date(2026, 7, 6)


def test_canonical_units_are_percent_or_usd_for_funding_series() -> None:
    for series_id in ("SOFR", "IORB", "IOER", "EFFR", "TGCR"):
        assert get_series(series_id).unit == "percent"
    for series_id in ("WRESBAL", "RRPONTSYD", "WDTGAL", "SOFRVOL"):
        assert get_series(series_id).unit == "usd"


@pytest.mark.parametrize("partitions", [1, 2, 3, 4, 6])
def test_every_input_of_a_signal_reaches_the_partition_computing_it(partitions: int) -> None:
    placed = signal_partitions(partitions)
    assert set(placed) == {spec.id for spec in DERIVED_SIGNALS}
    for spec in DERIVED_SIGNALS:
        for series_id in spec.inputs:
            assert placed[spec.id] in print_partitions(series_id, partitions), (spec.id, series_id)
    computed = [partition_signals(p, partitions) for p in range(partitions)]
    assert sorted(s for group in computed for s in group) == sorted(placed)  # each signal exactly once


def test_signals_spread_over_every_partition_by_driver_rate() -> None:
    # The old layout put every daily rate on one partition (95% of prints); the busiest drivers
    # are now dealt out first, so each partition gets a share of the daily signals.
    for partitions in (2, 4):
        daily = [
            signal_partitions(partitions)[spec.id]
            for spec in DERIVED_SIGNALS
            if SERIES[spec.driver].frequency != "weekly"
        ]
        counts = [daily.count(p) for p in range(partitions)]
        assert max(counts) - min(counts) <= 1, counts
