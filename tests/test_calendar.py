"""The one calendar against the data: SOFR prints only on open bond-market days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connectors.history import read_history
from foundation.calendar import (
    business_days_between,
    calendar_effects,
    calendar_features,
    is_business_day,
    next_business_day,
    previous_business_day,
)


@pytest.mark.parametrize("series_id", ["SOFR", "TGCR", "BGCR"])
def test_every_print_of_a_repo_rate_in_the_data_is_on_an_open_day(data_dir: Path, series_id: str) -> None:
    days = [print_.observation_date for print_ in read_history(data_dir, series_id)]
    assert len(days) > 1000
    closed = [day for day in days if not is_business_day(day)]
    assert closed == [], f"{series_id} printed on days the calendar calls closed: {closed[:5]}"


def test_open_days_without_sofr_are_only_early_close_good_fridays(data_dir: Path) -> None:
    printed = {print_.observation_date for print_ in read_history(data_dir, "SOFR")}
    day, missing = min(printed), []
    while day <= max(printed):
        if is_business_day(day) and day not in printed:
            missing.append(day)
        day += dt.timedelta(days=1)
    # SIFMA recommended an early close, not a full close, on these Good Fridays; no SOFR was published.
    assert missing == [dt.date(2021, 4, 2), dt.date(2023, 4, 7), dt.date(2026, 4, 3)]


def test_bond_market_closes_that_are_not_federal_holidays() -> None:
    assert not is_business_day(dt.date(2025, 4, 18))  # Good Friday
    assert not is_business_day(dt.date(2021, 12, 24))  # Christmas (Saturday) observed on Friday
    assert is_business_day(dt.date(2021, 6, 18))  # Juneteenth's first year: the bond market was open
    assert next_business_day(dt.date(2019, 4, 18)) == dt.date(2019, 4, 22)
    assert previous_business_day(dt.date(2019, 4, 22)) == dt.date(2019, 4, 18)
    assert business_days_between(dt.date(2019, 4, 22), dt.date(2019, 4, 18)) == -1


def test_calendar_features_are_the_effects_with_the_detector_prefix() -> None:
    day = dt.date(2019, 9, 16)
    assert calendar_effects(day) == {"coupon_settlement", "tax_date"}
    assert calendar_features(day) == {"calendar_coupon_settlement": 1.0, "calendar_tax_date": 1.0}
    assert calendar_features(dt.date(2021, 7, 8)) == {}
