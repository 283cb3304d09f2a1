"""River's Page-Hinkley test, wrapped in the plumbline contract with daily-data defaults."""

from __future__ import annotations

import math
from typing import Any, Literal

from river import drift

from detectors._rolling import MAD_TO_SIGMA
from detectors.base import Detector, from_json_float, to_json_float, value_of

__all__ = ["PageHinkley"]


class PageHinkley(Detector):
    """Page-Hinkley test for a change in the mean, via ``river.drift.PageHinkley``.

    River's parameters are in the series' own units (``delta`` and ``threshold`` of 0.005 and 50
    suit a stream of values near 1). To give one default for every series, the wrapper feeds River
    ``(x - center) / scale``, where ``warmup`` observations fix the center (median) and scale (MAD
    times 1.4826, floored at ``min_scale``): ``delta`` and ``threshold`` are then in standard
    deviations. The scale is not fixed forever: after every drift the test restarts (as River's
    does) and the next ``warmup`` observations, the new regime's, fix a new center and scale
    before they are replayed into the fresh test in time order (so the restart costs no more than
    River's own ``min_instances``). A scale learned in a calm stretch would otherwise turn every
    later day of a noisier regime into a drift. The forgetting factor ``alpha`` is set so an
    observation weighs about half after three months of daily prints.

    State: River's Page-Hinkley is plain Python without a state accessor; its running mean,
    cumulative sums and extremes are private attributes, read and written in two functions only
    (``_river_state`` and ``_load_river_state``, for the snapshot and for the pure ``score_one``)
    and written to the snapshot as numbers. pyproject.toml pins the River versions whose
    attributes these are; the conformance suite's round-trip tests prove each one.

    Score: the Page-Hinkley statistic that ``x`` would produce, divided by ``threshold`` (1.0 or
    more means a drift); 0.0 during a warm-up, NaN for a missing value. Alarm: a drift was detected
    at the last update.

    Parameters
    ----------
    min_instances, delta, threshold, alpha, mode
        As in ``river.drift.PageHinkley``, on the standardised scale.
    warmup
        Observations that fix the scale, at the start and again after each drift.
    min_scale
        Floor on the scale, in the series' units.

    Examples
    --------
    SOFR minus IORB (bp), upward changes only: the climb of the spread above IORB in the autumn
    of 2025 is a drift (from 2025-09-02, as the Q4 episode begins); the calm of 2021 is not.

    >>> from detectors._examples import date_of, observations, spread_bp
    >>> detector = PageHinkley(mode="up", min_scale=2.0)
    >>> drifts = []
    >>> for x in observations(spread_bp("2025-01-01", "2025-12-31")):
    ...     detector.learn_one(x)
    ...     if detector.alarm:
    ...         drifts.append(date_of(x).isoformat())
    >>> drifts[:1]
    ['2025-09-02']
    >>> quiet = PageHinkley(mode="up", min_scale=2.0)
    >>> sum(quiet.learn_one(x) or quiet.alarm for x in observations(spread_bp("2021-01-01", "2021-12-31")))
    0
    """

    name = "page_hinkley"

    def __init__(
        self,
        min_instances: int = 20,
        delta: float = 0.25,
        threshold: float = 25.0,
        alpha: float = 0.99,
        mode: Literal["both", "up", "down"] = "both",
        warmup: int = 20,
        min_scale: float = 0.0,
    ) -> None:
        if warmup < 2:
            raise ValueError(f"warmup must be at least 2, got {warmup}")
        self.min_instances = int(min_instances)
        self.delta = float(delta)
        self.threshold = float(threshold)
        self.alpha = float(alpha)
        self.mode: Literal["both", "up", "down"] = mode
        self.warmup = int(warmup)
        self.min_scale = float(min_scale)
        self._river = self._new_river()
        self._warmup_values: list[float] = []
        self._center = math.nan
        self._scale = math.nan

    def _new_river(self) -> drift.PageHinkley:
        return drift.PageHinkley(
            min_instances=self.min_instances,
            delta=self.delta,
            threshold=self.threshold,
            alpha=self.alpha,
            mode=self.mode,
        )

    def score_one(self, x: dict[str, float]) -> float:
        value = value_of(x)
        if math.isnan(value):
            return math.nan
        if math.isnan(self._scale) or math.isinf(value):
            return 0.0 if math.isnan(self._scale) else math.inf
        if self._river.drift_detected:
            return 0.0  # the next update starts a new warm-up (the new regime's scale)
        z = (value - self._center) / self._scale
        state = _river_state(self._river)
        count, mean = state["count"], state["mean"]
        sum_increase, sum_decrease = state["sum_increase"], state["sum_decrease"]
        min_increase, max_decrease = state["min_increase"], state["max_decrease"]
        # One step of River's PageHinkley.update on copies of its statistics.
        count += 1.0
        mean += (z - mean) / count
        deviation = z - mean
        sum_increase = self.alpha * sum_increase + deviation - self.delta
        sum_decrease = self.alpha * sum_decrease + deviation + self.delta
        increase = sum_increase - min(min_increase, sum_increase)
        decrease = max(max_decrease, sum_decrease) - sum_decrease
        statistic = {"up": increase, "down": decrease}.get(self.mode, max(increase, decrease))
        return statistic / self.threshold

    def learn_one(self, x: dict[str, float]) -> None:
        value = x.get("value")
        if type(value) is not float:
            value = value_of(x)
        if value - value != 0.0:  # NaN or infinite
            return
        if self._scale == self._scale:  # warmed up (not NaN)
            if not self._river.drift_detected:
                self._river.update((value - self._center) / self._scale)  # type: ignore[no-untyped-call]
                return
            # A drift: the old regime's scale says nothing about the new one; learn it afresh.
            self._center = self._scale = math.nan
            self._river = self._new_river()
        self._warmup_values.append(value)
        if len(self._warmup_values) == self.warmup:
            ordered = sorted(self._warmup_values)
            center = ordered[len(ordered) // 2]
            mad = sorted(abs(v - center) for v in ordered)[len(ordered) // 2]
            scale = max(MAD_TO_SIGMA * mad, self.min_scale)
            self._center, self._scale = center, scale if scale > 0 else max(abs(center) * 1e-3, 1e-9)
            # In time order: the test must see the warm-up as it happened, not sorted.
            for earlier in self._warmup_values:
                self._river.update((earlier - self._center) / self._scale)  # type: ignore[no-untyped-call]
            self._warmup_values = []

    @property
    def alarm(self) -> bool:
        return bool(self._river.drift_detected)

    def _state(self) -> dict[str, Any]:
        river = _river_state(self._river)
        return {
            "warmup_values": list(self._warmup_values),
            "center": to_json_float(self._center),
            "scale": to_json_float(self._scale),
            "count": river["count"],
            "mean": river["mean"],
            "sum_increase": river["sum_increase"],
            "sum_decrease": river["sum_decrease"],
            "min_increase": to_json_float(river["min_increase"]),
            "max_decrease": to_json_float(river["max_decrease"]),
            "drift_detected": self._river.drift_detected,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._warmup_values = [float(v) for v in state["warmup_values"]]
        self._center = from_json_float(state["center"])
        self._scale = from_json_float(state["scale"])
        self._river = self._new_river()
        _load_river_state(
            self._river,
            {
                "count": float(state["count"]),
                "mean": float(state["mean"]),
                "sum_increase": float(state["sum_increase"]),
                "sum_decrease": float(state["sum_decrease"]),
                "min_increase": from_json_float(state["min_increase"]),
                "max_decrease": from_json_float(state["max_decrease"]),
            },
            drift_detected=bool(state["drift_detected"]),
        )


# River's PageHinkley exposes neither its statistics nor a way to set them: these two functions
# are the only readers and writers of its private attributes (checked against the River range
# pinned in pyproject.toml).


def _river_state(river: drift.PageHinkley) -> dict[str, float]:
    """The statistics of River's test: count and mean of the inputs, cumulative sums, extremes."""
    return {
        "count": float(river._x_mean.n),
        "mean": float(river._x_mean.get()),
        "sum_increase": float(river._sum_increase),
        "sum_decrease": float(river._sum_decrease),
        "min_increase": float(river._min_increase),
        "max_decrease": float(river._max_decrease),
    }


def _load_river_state(river: drift.PageHinkley, state: dict[str, float], drift_detected: bool) -> None:
    """Put statistics produced by :func:`_river_state` back into a fresh River test."""
    river._x_mean.n = state["count"]
    river._x_mean._mean = state["mean"]
    river._sum_increase = state["sum_increase"]
    river._sum_decrease = state["sum_decrease"]
    river._min_increase = state["min_increase"]
    river._max_decrease = state["max_decrease"]  # type: ignore[assignment]
    river._drift_detected = drift_detected
