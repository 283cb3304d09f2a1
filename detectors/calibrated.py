"""Any detector of the registry, its raw score calibrated to a tail probability and its alarm suppressed."""

from __future__ import annotations

import math
from typing import Any

from detectors.base import Detector
from detectors.calibration import TailCalibrator
from detectors.suppression import Suppressor

__all__ = ["Calibrated"]


class Calibrated(Detector):
    """Wrap a detector (by registry name) so its score means the same as every other's.

    The inner detector's raw score goes through a :class:`~detectors.calibration.TailCalibrator`
    (its own last ``window`` raw scores); the alarm is raised when the tail probability is at most
    ``alarm_probability`` and then passes a :class:`~detectors.suppression.Suppressor` (``k`` of
    ``n``, ``cooldown``, ``min_duration``). The inner detector's own alarm is ignored.

    Score: ``1 - p``, the calibrated rarity in [0, 1) (0.99 = rarer than 99% of recent raw
    scores); 0.0 until ``min_count`` raw scores are known; NaN when the inner score is NaN.

    Parameters
    ----------
    detector, detector_params
        Registry name and hyper-parameters of the inner detector.
    alarm_probability
        Tail probability at or below which an observation counts as an exceedance.
    window, min_count
        Calibration history.
    k, n, cooldown, min_duration
        Suppression.

    Examples
    --------
    A robust z-score of 50 means little on its own (it depends on the series' noise); calibrated,
    the 2019-09-17 spike is rarer than 99.7% of the z-scores of the year before:

    >>> from detectors._examples import observations, spread_bp
    >>> detector = Calibrated("robust_zscore", {"min_scale": 1.0, "side": "up"}, alarm_probability=0.01)
    >>> for x in observations(spread_bp("2018-06-01", "2019-09-16")):
    ...     detector.learn_one(x)
    >>> spike = observations(spread_bp("2019-09-17", "2019-09-17"))[0]
    >>> round(detector.score_one(spike), 3)
    0.997
    """

    name = "calibrated"

    def __init__(
        self,
        detector: str = "robust_zscore",
        detector_params: dict[str, Any] | None = None,
        alarm_probability: float = 0.01,
        window: int = 500,
        min_count: int = 60,
        k: int = 1,
        n: int = 1,
        cooldown: int = 0,
        min_duration: int = 1,
    ) -> None:
        # A function-level import: the registry lists this class, so importing it at module level
        # would be circular. By the time a detector is built, every detector module is loaded,
        # and the inner detector is looked up in the same single list the rest of the code reads
        # (no second lookup table to keep in step).
        from detectors.registry import REGISTRY

        if detector not in REGISTRY or detector == self.name:
            raise ValueError(f"unknown inner detector {detector!r}; choose from {sorted(REGISTRY)}")
        if not 0 < alarm_probability < 1:
            raise ValueError(f"alarm_probability must be in (0, 1), got {alarm_probability}")
        self.detector = detector
        # Stored as given (a copy, None kept), so params() repeats the constructor call.
        self.detector_params = None if detector_params is None else dict(detector_params)
        self.alarm_probability = float(alarm_probability)
        self.window, self.min_count = int(window), int(min_count)
        self.k, self.n, self.cooldown, self.min_duration = int(k), int(n), int(cooldown), int(min_duration)
        self._inner = REGISTRY[detector](**(self.detector_params or {}))
        self._calibrator = TailCalibrator(self.window, self.min_count)
        self._suppressor = Suppressor(self.k, self.n, self.cooldown, self.min_duration)

    def score_one(self, x: dict[str, float]) -> float:
        raw = self._inner.score_one(x)
        if math.isnan(raw):
            return math.nan
        return 1.0 - self._calibrator.tail_probability(raw)

    def learn_one(self, x: dict[str, float]) -> None:
        raw = self._inner.score_one(x)
        if not math.isnan(raw):
            self._suppressor.update(self._calibrator.tail_probability(raw) <= self.alarm_probability)
            self._calibrator.learn(raw)
        self._inner.learn_one(x)

    @property
    def alarm(self) -> bool:
        return self._suppressor.active

    def _state(self) -> dict[str, Any]:
        return {
            "inner": self._inner._state(),
            "calibrator": self._calibrator.to_state(),
            "suppressor": self._suppressor.to_state(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._inner._set_state(state["inner"])
        self._calibrator.set_state(state["calibrator"])
        self._suppressor.set_state(state["suppressor"])
