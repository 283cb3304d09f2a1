"""Behaviour specific to each detector, on the real SOFR-IORB history."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest

from detectors import Adwin, Bocpd, FundingStressIndex, HalfSpaceTrees, RobustZScore
from foundation.calendar import calendar_effects, observation_at
from foundation.catalogue import INDEX_SIGNAL, SIGNALS
from streams.config import DEFAULTS

EPOCH = dt.date(1970, 1, 1)


def x_of(day: dt.date, value: float) -> dict[str, float]:
    return observation_at(day, {"value": value})


def alarm_days(detector: object, history: list[tuple[dt.date, float]]) -> list[dt.date]:
    days = []
    for day, value in history:
        detector.learn_one(x_of(day, value))  # type: ignore[attr-defined]
        if detector.alarm:  # type: ignore[attr-defined]
            days.append(day)
    return days


def between(history: list[tuple[dt.date, float]], first: str, last: str) -> list[tuple[dt.date, float]]:
    low, high = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(day, v) for day, v in history if low <= day <= high]


def test_spread_history_has_the_known_prints(spread_history: list[tuple[dt.date, float]]) -> None:
    spread = dict(spread_history)
    assert spread[dt.date(2019, 9, 17)] == 315.0
    assert spread[dt.date(2025, 10, 31)] == 32.0


def test_calendar_awareness_removes_calendar_day_alarms(spread_history: list[tuple[dt.date, float]]) -> None:
    history = between(spread_history, "2018-04-01", "2023-05-31")
    aware = alarm_days(RobustZScore(side="up", min_scale=1.0), history)
    naive = alarm_days(RobustZScore(side="up", min_scale=1.0, calendar_aware=False), history)
    on_calendar_aware = [d for d in aware if calendar_effects(d)]
    on_calendar_naive = [d for d in naive if calendar_effects(d)]
    assert len(on_calendar_naive) >= 5
    assert len(on_calendar_aware) <= len(on_calendar_naive) // 2
    assert dt.date(2019, 9, 17) in aware  # a calendar day far beyond its usual bump still pages


def test_calendar_aware_zscore_is_quiet_through_the_reserve_glut(
    spread_history: list[tuple[dt.date, float]],
) -> None:
    detector = RobustZScore(side="up", min_scale=1.0)
    alarm_days(detector, between(spread_history, "2020-06-01", "2020-12-31"))
    assert alarm_days(detector, between(spread_history, "2021-01-01", "2023-05-31")) == []


def test_bocpd_posterior_is_a_bounded_distribution(spread_history: list[tuple[dt.date, float]]) -> None:
    detector = Bocpd(max_run_length=50, min_scale=2.0)
    for day, value in between(spread_history, "2019-01-01", "2019-12-31"):
        detector.learn_one(x_of(day, value))
    posterior = detector.run_length_posterior
    assert len(posterior) <= 50
    assert math.fsum(posterior) == pytest.approx(1.0)
    assert all(p >= 0 for p in posterior)


def test_adwin_history_stays_bounded_and_restores_exactly() -> None:
    detector = Adwin(max_history=40)
    stream = [x_of(dt.date(2020, 1, 1) + dt.timedelta(days=i), float(i % 3)) for i in range(500)]
    for x in stream[:300]:
        detector.learn_one(x)
    assert len(detector.snapshot()["state"]["history"]) <= 40
    restored = Adwin.restore(json.loads(json.dumps(detector.snapshot())))
    for x in stream[300:]:
        assert restored.score_one(x) == detector.score_one(x)
        detector.learn_one(x)
        restored.learn_one(x)
        assert restored.alarm == detector.alarm


def test_half_space_trees_keep_at_most_two_windows() -> None:
    detector = HalfSpaceTrees(window_size=30)
    for i in range(200):
        detector.learn_one({"a": float(i % 7), "b": float(i % 11)})
    state = detector.snapshot()["state"]
    assert len(state["reference"]) == 30
    assert len(state["current"]) == 200 % 30


def test_stress_index_contributions_add_up_to_the_score_and_name_the_culprit() -> None:
    index = FundingStressIndex(min_count=20, min_scales={"spread_bp": 1.0, "reserves_usd_bn": 10.0},
                               lower_is_stress=["reserves_usd_bn"])  # fmt: skip
    day = dt.date(2021, 3, 1)
    for i in range(120):
        day += dt.timedelta(days=1 if day.weekday() < 4 else 3)
        index.learn_one({"spread_bp": -5.0 + (i % 3), "reserves_usd_bn": 3000.0 + 10 * (i % 5),
                         "timestamp": float((day - EPOCH).days * 86400)})  # fmt: skip
    stressed = {"spread_bp": 40.0, "reserves_usd_bn": 3010.0, "timestamp": float((day - EPOCH).days * 86400)}
    contributions = index.contributions(stressed)
    assert next(iter(contributions)) == "spread_bp"
    assert contributions["spread_bp"] > 1.0
    assert contributions["reserves_usd_bn"] == 0.0
    assert math.fsum(contributions.values()) == pytest.approx(index.score_one(stressed))
    index.learn_one(stressed)
    assert index.last_contributions == contributions


def test_every_default_names_a_known_signal_and_builds() -> None:
    for spec in DEFAULTS:
        assert spec.signal in SIGNALS
        detector = spec.build()
        assert detector.multivariate == (spec.signal == INDEX_SIGNAL)
        if not detector.multivariate:
            assert SIGNALS[spec.signal].stress is not None, (
                f"{spec.signal} has a default but no stress profile"
            )


def test_public_names_are_exactly_all() -> None:
    import detectors

    exported = set(detectors.__all__)
    public = {
        n
        for n in vars(detectors)
        if not n.startswith("_") and not isinstance(getattr(detectors, n), type(detectors))
    }
    assert exported == public
