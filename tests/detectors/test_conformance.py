"""One contract, every registered detector: adding a detector to the registry is enough to be tested here.

The observations carry the calendar features the pipeline adds (``calendar_<effect>``, from
:func:`foundation.calendar.calendar_features`), so the calendar paths of the detectors are exercised
by every property below.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import json
import math
import pkgutil
import random
from typing import Any

import pytest

import detectors
from detectors import (
    CALENDAR_FEATURE_PREFIX,
    REGISTRY,
    Calibrated,
    Detector,
    FundingStressIndex,
    PersistenceThreshold,
)
from detectors.base import calendar_effects_of, signals_of
from foundation import calendar

NAMES = sorted(REGISTRY)
EPOCH = dt.date(1970, 1, 1)
#: Detectors that model calendar effects themselves (the others must simply not break on them).
CALENDAR_AWARE = [n for n in NAMES if "calendar_aware" in inspect.signature(REGISTRY[n].__init__).parameters]


def stamp(day: dt.date) -> float:
    return float((day - EPOCH).days * 86400)


def observation(day: dt.date, value: Any) -> dict[str, Any]:
    """What the pipeline hands a univariate detector: value, timestamp and calendar features."""
    return {"value": value, "timestamp": stamp(day), **calendar.calendar_features(day)}


def synthetic_stream(length: int = 400, seed: int = 7) -> list[dict[str, Any]]:
    """Daily business-day observations: noise, a level shift, spikes and a month-end pattern."""
    rng = random.Random(seed)
    day = dt.date(2020, 1, 2)
    stream = []
    for i in range(length):
        while not calendar.is_business_day(day):
            day += dt.timedelta(days=1)
        level = 0.0 if i < length // 2 else 8.0
        month_end = 6.0 if "month_end" in calendar.calendar_effects(day) else 0.0
        value = level + month_end + rng.gauss(0.0, 1.5) + (25.0 if i % 97 == 50 else 0.0)
        stream.append(observation(day, value))
        day += dt.timedelta(days=1)
    return stream


def as_input(name: str, observation: dict[str, Any]) -> dict[str, Any]:
    """Multivariate detectors get two named signals, the second missing on one day in five.

    The second signal moves with the first (a repo-rate tail moves with the median), so a step
    in the value is a step in both, as stress shows up in funding data. Days are counted from
    the epoch: timestamps are whole days, so the day number, not the seconds, decides the hole.
    """
    if not REGISTRY[name].multivariate:
        return observation
    value = observation["value"]
    x = {key: v for key, v in observation.items() if key != "value"}  # timestamp and calendar
    x["spread_bp"] = value
    day_number = int(observation["timestamp"] // 86400) if "timestamp" in observation else 0
    if isinstance(value, float) and math.isfinite(value) and day_number % 5:
        x["tail_spread_bp"] = 2.0 * value + 3.0
    return x


def strict_json(detector: Detector) -> str:
    """The snapshot as strict JSON (no NaN or Infinity tokens), or the test fails."""
    return json.dumps(detector.snapshot(), allow_nan=False, sort_keys=True)


def run(detector: Detector, name: str, stream: list[dict[str, Any]]) -> list[tuple[float, bool]]:
    out = []
    for observation in stream:
        x = as_input(name, observation)
        score = detector.score_one(x)
        detector.learn_one(x)
        out.append((score, detector.alarm))
    return out


def same(a: list[tuple[float, bool]], b: list[tuple[float, bool]]) -> bool:
    return len(a) == len(b) and all(
        (sa == sb or (math.isnan(sa) and math.isnan(sb))) and aa == ab
        for (sa, aa), (sb, ab) in zip(a, b, strict=True)
    )


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_registry_is_exactly_the_exported_detector_classes() -> None:
    exported = {
        getattr(detectors, n)
        for n in detectors.__all__
        if inspect.isclass(getattr(detectors, n))
        and issubclass(getattr(detectors, n), Detector)
        and getattr(detectors, n) is not Detector
    }
    assert exported == set(REGISTRY.values())
    assert all(cls.name == name for name, cls in REGISTRY.items())
    assert len(NAMES) >= 11


def test_every_detector_class_in_the_package_is_in_the_registry() -> None:
    defined = set()
    for module_info in pkgutil.iter_modules(detectors.__path__):
        module = importlib.import_module(f"detectors.{module_info.name}")
        defined |= {
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Detector) and cls is not Detector and cls.__module__ == module.__name__
        }
    assert defined == set(REGISTRY.values())


def test_params_are_derived_from_the_constructor_in_one_place(name: str) -> None:
    assert REGISTRY[name].params is Detector.params


def test_params_of_a_default_detector_are_the_constructor_defaults(name: str) -> None:
    cls = REGISTRY[name]
    parameters = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    assert all(p.default is not p.empty for p in parameters), "every hyper-parameter needs a default"
    detector = cls()
    assert detector.params() == {p.name: p.default for p in parameters}
    json.dumps(detector.params(), allow_nan=False)
    assert cls(**detector.params()).params() == detector.params()


def _other_values(default: Any) -> list[Any]:
    """Different values of the same kind as ``default``, to try in turn (none when not obvious)."""
    if isinstance(default, bool):
        return [not default]
    if isinstance(default, int):
        return [default + 1, default - 1]
    if isinstance(default, float):
        return [default + 0.5, default / 2.0, default - 0.5]
    return []


def test_params_repeat_the_constructor_arguments(name: str) -> None:
    """Each hyper-parameter, changed alone, comes back unchanged from params() and a snapshot."""
    cls = REGISTRY[name]
    tried = 0
    for parameter in inspect.signature(cls.__init__).parameters.values():
        for value in [] if parameter.name == "self" else _other_values(parameter.default):
            try:
                detector = cls(**{parameter.name: value})
            except ValueError:
                continue  # outside the valid range for this parameter: try the next value
            tried += 1
            assert detector.params()[parameter.name] == value, parameter.name
            restored = cls.restore(json.loads(strict_json(detector)))
            assert restored.params() == detector.params()
            break
    assert tried > 0


def test_optional_parameters_are_stored_as_given() -> None:
    """None defaults and lists keep their meaning: no resolved or sorted value replaces them."""
    threshold = PersistenceThreshold(enter_level=5.0, exit_level=2.0)
    assert threshold.params()["exit_level"] == 2.0
    assert PersistenceThreshold(enter_level=5.0).params()["exit_level"] is None
    calibrated = Calibrated(detector="cusum", detector_params={"side": "up"})
    assert calibrated.params()["detector_params"] == {"side": "up"}
    index = FundingStressIndex(lower_is_stress=["tga_usd_bn", "reserves_usd"])
    assert index.params()["lower_is_stress"] == ["tga_usd_bn", "reserves_usd"]


def test_params_are_copies_not_the_detectors_own_values() -> None:
    index = FundingStressIndex(lower_is_stress=["reserves_usd"], min_scales={"spread_bp": 1.0})
    index.params()["lower_is_stress"].append("spread_bp")
    index.params()["min_scales"]["spread_bp"] = 9.0
    assert index.params()["lower_is_stress"] == ["reserves_usd"]
    assert index.params()["min_scales"] == {"spread_bp": 1.0}


def test_docstring_documents_the_score_and_has_a_doctest(name: str) -> None:
    doc = inspect.getdoc(REGISTRY[name]) or ""
    assert "Score:" in doc or "Score" in doc
    assert "Examples" in doc and ">>>" in doc


def test_score_one_is_pure(name: str) -> None:
    detector = REGISTRY[name]()
    stream = synthetic_stream()
    run(detector, name, stream[:300])
    before = strict_json(detector)
    alarm = detector.alarm
    for observation in stream[300:320]:
        x = as_input(name, observation)
        first = detector.score_one(x)
        assert detector.score_one(x) == first or (math.isnan(first) and math.isnan(detector.score_one(x)))
    assert strict_json(detector) == before
    assert detector.alarm == alarm


def test_same_inputs_give_same_scores_and_alarms(name: str) -> None:
    stream = synthetic_stream()
    assert same(run(REGISTRY[name](), name, stream), run(REGISTRY[name](), name, stream))


@pytest.mark.parametrize("cut", [5, 150, 260])
def test_restored_detector_scores_exactly_like_the_original(name: str, cut: int) -> None:
    stream = synthetic_stream()
    original = REGISTRY[name]()
    run(original, name, stream[:cut])
    snapshot = json.loads(strict_json(original))
    assert snapshot["detector"] == name
    restored = REGISTRY[name].restore(snapshot)
    assert restored.alarm == original.alarm
    assert same(run(original, name, stream[cut:]), run(restored, name, stream[cut:]))
    assert strict_json(restored) == strict_json(original)


def test_restore_refuses_another_detectors_snapshot(name: str) -> None:
    other = next(n for n in NAMES if n != name)
    with pytest.raises(ValueError, match="snapshot is for"):
        REGISTRY[name].restore(REGISTRY[other]().snapshot())


def test_missing_and_non_numeric_values_neither_raise_nor_corrupt_state(name: str) -> None:
    stream = synthetic_stream()
    clean = REGISTRY[name]()
    run(clean, name, stream[:200])
    holed = REGISTRY[name]()
    run(holed, name, stream[:200])
    bad_inputs: list[dict[str, Any]] = [
        {"value": math.nan},
        {"value": None},
        {},
        {"value": "n/a"},
        {"value": True},
        {"timestamp": stream[200]["timestamp"]},
        {"timestamp": stream[200]["timestamp"], "calendar_quarter_end": 1.0},
    ]
    for x in bad_inputs:
        score = holed.score_one(x)
        assert isinstance(score, float)
        holed.learn_one(x)
        assert isinstance(holed.alarm, bool)
    strict_json(holed)
    later_clean = [s for s, _ in run(clean, name, stream[200:])]
    later_holed = [s for s, _ in run(holed, name, stream[200:])]
    assert all(math.isfinite(s) for s in later_holed)
    if name != "persistence_threshold":  # its window counts a missing print as "neither", by design
        assert later_holed == later_clean


def test_irregular_gaps_between_observations(name: str) -> None:
    rng = random.Random(3)
    day = dt.date(2019, 1, 1)
    stream: list[dict[str, Any]] = []
    for i in range(300):
        day += dt.timedelta(days=rng.choice([1, 1, 1, 3, 7, 30]) if i != 150 else 400)
        stream.append(observation(day, rng.gauss(0.0, 1.0) + (10.0 if i > 200 else 0.0)))
    detector = REGISTRY[name]()
    results = run(detector, name, stream)
    assert all(math.isfinite(score) for score, _ in results)
    strict_json(detector)


def test_constant_series_never_alarms(name: str) -> None:
    day = dt.date(2021, 1, 4)
    stream: list[dict[str, Any]] = []
    while len(stream) < 300:
        if calendar.is_business_day(day):
            stream.append(observation(day, -10.0))
        day += dt.timedelta(days=1)
    detector = REGISTRY[name]()
    results = run(detector, name, stream)
    assert all(math.isfinite(score) for score, _ in results)
    assert not any(alarm for _, alarm in results[1:])


@pytest.mark.parametrize("extreme", [1e12, -1e12, 1e300, math.inf, -math.inf])
def test_extreme_values_keep_the_detector_usable(name: str, extreme: float) -> None:
    stream = synthetic_stream(300)
    detector = REGISTRY[name]()
    run(detector, name, stream[:200])
    spike = dict(stream[200], value=extreme)
    score = detector.score_one(as_input(name, spike))
    assert isinstance(score, float)
    if math.isfinite(extreme):  # an infinite print is not a number: it may score as missing (NaN)
        assert not math.isnan(score)
    detector.learn_one(as_input(name, spike))
    strict_json(detector)
    later = run(detector, name, stream[201:])
    assert all(not math.isnan(score) for score, _ in later)
    restored = REGISTRY[name].restore(json.loads(strict_json(detector)))
    assert restored.score_one(as_input(name, stream[-1])) == detector.score_one(as_input(name, stream[-1]))


def test_state_stays_bounded_on_a_long_stream(name: str) -> None:
    detector = REGISTRY[name]()
    stream = synthetic_stream(3000, seed=11)
    run(detector, name, stream[:1500])
    size_mid = len(strict_json(detector))
    run(detector, name, stream[1500:])
    assert len(strict_json(detector)) <= 1.5 * size_mid + 2000


def test_detectors_read_the_calendar_features_the_pipeline_writes() -> None:
    assert CALENDAR_FEATURE_PREFIX == calendar.CALENDAR_FEATURE_PREFIX
    day = dt.date(2019, 9, 16)
    assert calendar_effects_of(observation(day, 1.0)) == calendar.calendar_effects(day)
    assert calendar_effects_of({"value": 1.0, "calendar_month_end": 0.0}) == frozenset()


def test_calendar_features_are_not_signals() -> None:
    x = {"spread_bp": 3.0, "timestamp": stamp(dt.date(2019, 9, 30)), "calendar_quarter_end": 1.0}
    assert signals_of(x) == {"spread_bp": 3.0}


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n].multivariate])
def test_multivariate_detectors_see_no_signal_in_calendar_features_alone(name: str) -> None:
    detector = REGISTRY[name]()
    run(detector, name, synthetic_stream(200))
    before = strict_json(detector)
    only_calendar = {"timestamp": stamp(dt.date(2020, 12, 31)), "calendar_quarter_end": 1.0}
    assert math.isnan(detector.score_one(only_calendar))
    detector.learn_one(only_calendar)
    assert strict_json(detector) == before


def test_some_detectors_model_the_calendar() -> None:
    assert {"robust_zscore", "bocpd"} <= set(CALENDAR_AWARE)


@pytest.mark.parametrize("name", CALENDAR_AWARE)
def test_calendar_aware_detector_scores_a_quarter_end_differently(name: str) -> None:
    """The same print with ``calendar_quarter_end: 1.0`` is judged as a known effect; unaware, alike."""
    stream = synthetic_stream(300)
    spike = {"value": 40.0, "timestamp": stream[-1]["timestamp"] + 86400.0}
    quarter_end = dict(spike, calendar_quarter_end=1.0)
    cls: Any = REGISTRY[name]  # the parameter exists for these detectors, not on Detector
    aware, unaware = cls(), cls(calendar_aware=False)
    run(aware, name, stream)
    run(unaware, name, stream)
    assert aware.score_one(spike) != aware.score_one(quarter_end)
    assert unaware.score_one(spike) == unaware.score_one(quarter_end)


def test_multivariate_input_really_has_two_signals_one_sometimes_missing() -> None:
    inputs = [as_input("funding_stress_index", x) for x in synthetic_stream(50)]
    with_both = sum("tail_spread_bp" in x for x in inputs)
    assert 0 < with_both < len(inputs)
    assert all("spread_bp" in x for x in inputs)


#: The step every detector must flag, in robust standard deviations of a calm series, and how soon.
STEP_SIGMAS = 8.0
STEP_WITHIN_POINTS = 15
#: Calm series: at most one alarm onset per this many points after the first 60 (a detector that
#: pages on the noise of a calm series teaches people to ignore it).
CALM_POINTS_PER_ONSET = 100
#: A default that pages on calm noise: River's Half-Space Trees score is often above its 0.9
#: threshold on Gaussian data (98 false pages per 1000 points in the synthetic benchmark of
#: docs/detectors.md). Measured, not wished away; strict, so a fix fails here until it is removed.
NOT_QUIET_BY_DEFAULT = {"half_space_trees"}


def calm_then_step(length: int, step_at: int | None, seed: int) -> list[dict[str, Any]]:
    """Business days of Gaussian noise (sd 1) around -5, and from ``step_at`` a step of ``STEP_SIGMAS``.

    The level sits below zero so that rule-like detectors on a level (``persistence_threshold``
    enters at 0) see the step cross it and the calm never reach it.
    """
    rng = random.Random(seed)
    day = dt.date(2021, 1, 4)
    stream: list[dict[str, Any]] = []
    while len(stream) < length:
        if calendar.is_business_day(day):
            stepped = step_at is not None and len(stream) >= step_at
            stream.append(observation(day, -5.0 + rng.gauss(0.0, 1.0) + (STEP_SIGMAS if stepped else 0.0)))
        day += dt.timedelta(days=1)
    return stream


def onsets_of(name: str, stream: list[dict[str, Any]]) -> list[int]:
    states = [alarm for _, alarm in run(REGISTRY[name](), name, stream)]
    return [i for i, on in enumerate(states) if on and not (i and states[i - 1])]


@pytest.mark.parametrize("seed", [1, 2])
def test_every_detector_flags_a_step_in_a_calm_series_within_a_few_points(name: str, seed: int) -> None:
    if name in NOT_QUIET_BY_DEFAULT:
        # Paging on the noise already, a step may fall inside an episode that started before it.
        pytest.xfail(f"{name} pages on calm noise, so a step need not start a new episode")
    step_at = 200
    onsets = onsets_of(name, calm_then_step(step_at + 40, step_at, seed))
    assert any(step_at <= i < step_at + STEP_WITHIN_POINTS for i in onsets), (
        f"{name} did not page within {STEP_WITHIN_POINTS} points of a {STEP_SIGMAS} sd step; onsets {onsets}"
    )


@pytest.mark.parametrize(
    "quiet_name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="pages on calm noise (measured)"))
        if n in NOT_QUIET_BY_DEFAULT
        else n
        for n in NAMES
    ],
)
def test_every_detector_keeps_a_calm_series_quiet(quiet_name: str) -> None:
    length = 560
    onsets = [i for i in onsets_of(quiet_name, calm_then_step(length, None, seed=5)) if i >= 60]
    assert len(onsets) <= (length - 60) // CALM_POINTS_PER_ONSET, f"{quiet_name} paged at {onsets}"
