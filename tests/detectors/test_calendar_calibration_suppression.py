"""The reusable pieces: the funding calendar, tail calibration and alarm suppression."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from detectors.calibration import TailCalibrator
from detectors.suppression import Suppressor
from foundation.calendar import (
    business_days_between,
    calendar_effects,
    is_business_day,
    next_business_day,
)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2019, 9, 16), {"coupon_settlement", "tax_date"}),  # the 15th was a Sunday
        (dt.date(2019, 9, 17), {"coupon_settlement"}),  # the day after settlement
        (dt.date(2019, 9, 30), {"month_end", "quarter_end"}),
        (dt.date(2019, 10, 1), {"month_end", "quarter_end"}),  # the turn: first business day after
        (dt.date(2020, 12, 31), {"month_end", "quarter_end", "year_end"}),
        (dt.date(2021, 1, 4), {"month_end", "quarter_end", "year_end"}),  # 1 Jan holiday, then a weekend
        (dt.date(2025, 10, 31), {"month_end"}),
        (dt.date(2025, 4, 15), {"coupon_settlement"}),  # not a corporate tax month
        (dt.date(2021, 7, 8), set()),
    ],
)
def test_calendar_effects_of_known_days(day: dt.date, expected: set[str]) -> None:
    assert calendar_effects(day) == expected


def test_business_days_skip_weekends_and_bond_market_holidays() -> None:
    assert not is_business_day(dt.date(2025, 12, 25))
    assert not is_business_day(dt.date(2022, 6, 20))  # Juneteenth observed
    assert not is_business_day(dt.date(2019, 4, 19))  # Good Friday: SIFMA closes the bond market
    assert is_business_day(dt.date(2021, 12, 31))  # a Saturday New Year is not observed on the Friday
    assert next_business_day(dt.date(2019, 9, 13)) == dt.date(2019, 9, 16)
    assert business_days_between(dt.date(2019, 9, 16), dt.date(2019, 9, 13)) == -1
    assert business_days_between(dt.date(2025, 12, 24), dt.date(2025, 12, 26)) == 1


def test_tail_probability_of_uniform_scores_is_uniform() -> None:
    rng = random.Random(1)
    calibrator = TailCalibrator(window=1000, min_count=100)
    for _ in range(1000):
        calibrator.learn(rng.random())
    probabilities = [calibrator.tail_probability(rng.random()) for _ in range(2000)]
    below_5pct = sum(p <= 0.05 for p in probabilities) / len(probabilities)
    assert 0.03 < below_5pct < 0.07


def test_tail_calibrator_forgets_beyond_its_window_and_is_cold_until_min_count() -> None:
    calibrator = TailCalibrator(window=10, min_count=5)
    for raw in range(4):
        calibrator.learn(float(raw))
    assert calibrator.tail_probability(100.0) == 1.0
    for raw in range(100, 110):
        calibrator.learn(float(raw))
    assert calibrator.tail_probability(50.0) == 1.0  # the small scores are forgotten
    assert calibrator.tail_probability(109.0) == pytest.approx(2 / 11)
    restored = TailCalibrator(window=10, min_count=5)
    restored.set_state(calibrator.to_state())
    assert restored.tail_probability(104.5) == calibrator.tail_probability(104.5)


def test_single_blip_does_not_page_with_k_of_n() -> None:
    suppressor = Suppressor(k=2, n=5)
    assert [suppressor.update(hit) for hit in [1, 0, 0, 0, 0, 0, 1]] == [False] * 7


def test_page_lasts_at_least_min_duration() -> None:
    suppressor = Suppressor(k=1, n=1, min_duration=4)
    assert [suppressor.update(hit) for hit in [1, 0, 0, 0, 0]] == [True, True, True, True, False]


def test_cooldown_prevents_a_page_storm() -> None:
    suppressor = Suppressor(k=1, n=1, cooldown=3)
    pages = [suppressor.update(hit) for hit in [1, 0, 1, 1, 1, 1, 0, 1]]
    # Cleared at the second observation; the next three are the cooldown; the page returns after.
    assert pages == [True, False, False, False, False, True, False, False]


def test_peek_changes_nothing() -> None:
    suppressor = Suppressor(k=2, n=2)
    suppressor.update(True)
    state = suppressor.to_state()
    assert suppressor.peek(True) is True
    assert suppressor.to_state() == state
    assert suppressor.update(False) is False
