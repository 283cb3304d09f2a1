"""A composite funding-stress index: calibrated per-signal scores, with each signal's contribution."""

from __future__ import annotations

import math
from typing import Any

from detectors.base import CALENDAR_FEATURE_PREFIX, Detector, calendar_effects_of, signals_of, timestamp_of
from detectors.calibration import TailCalibrator
from detectors.robust_zscore import RobustZScore
from detectors.suppression import Suppressor

__all__ = ["FundingStressIndex"]


class FundingStressIndex(Detector):
    """One number for "how stressed is dollar funding", and which signals say so.

    Reads a dict of named signals (every key but ``timestamp`` and the ``calendar_<effect>``
    features, which are passed on to every signal). Each signal gets its own calendar-aware
    :class:`~detectors.robust_zscore.RobustZScore`, signed so that positive means stress (signals
    listed in ``lower_is_stress``, such as reserves or the ON RRP buffer, are stressed when they
    fall), and its own :class:`~detectors.calibration.TailCalibrator`, which turns the z-score into
    a tail probability ``p`` against that signal's last ``calibration_window`` z-scores. A
    signal's contribution is its rarity beyond the 10% tail, ``max(0, -log10(p) - 1)``: 0 for
    anything that happens one day in ten, 1 for one in a hundred, 2 for one in a thousand. The
    index is the sum of the contributions, so two signals at one in a hundred count as much as one
    at one in ten thousand; :meth:`contributions` says who added what, which is the explanation an
    alert shows.

    Score: the index (sum of contributions), 0 or more; NaN when no signal is present.
    Alarm: index at or above ``threshold`` on ``k`` of the last ``n`` observations, ``cooldown``.

    Parameters
    ----------
    window
        Ordinary observations in each signal's robust baseline.
    lower_is_stress
        Signals for which a fall, not a rise, is stress.
    min_scales
        Per-signal floor on the robust scale, in that signal's units (e.g. 1.0 for bp spreads).
    calibration_window, min_count
        Per-signal calibration history, and the z-scores needed before a signal contributes.
    threshold
        Alarm level on the index.
    k, n, cooldown
        Suppression of the alarm.

    Examples
    --------
    Two signals in September 2019, the SOFR-IOER spread and its 99th-percentile version (bp),
    learned from June 2018 with the pipeline's calendar handed in as features; the 2019-09-17
    prints (315 bp and 690 bp) would page at the default threshold of 2, and the explanation shows
    both signals beyond every z-score of the year before (each at the most a calibration history
    of 322 days can say, ``log10(323) - 1``):

    >>> import datetime as dt
    >>> from foundation.calendar import calendar_features
    >>> from detectors._examples import load_series, spread_bp
    >>> sofr99, ioer = dict(load_series("SOFR99")), dict(load_series("IOER"))
    >>> def vector(day, spread):
    ...     return {"sofr_iorb_spread_bp": spread, "sofr99_iorb_spread_bp": (sofr99[day] - ioer[day]) * 100,
    ...             "timestamp": (day - dt.date(1970, 1, 1)).days * 86400.0, **calendar_features(day)}
    >>> index = FundingStressIndex(min_scales={"sofr_iorb_spread_bp": 1.0, "sofr99_iorb_spread_bp": 1.0})
    >>> for day, spread in spread_bp("2018-06-01", "2019-09-16"):
    ...     if day in sofr99:
    ...         index.learn_one(vector(day, spread))
    >>> spike = vector(dt.date(2019, 9, 17), 315.0)
    >>> round(index.score_one(spike), 2)
    3.02
    >>> {name: round(points, 2) for name, points in index.contributions(spike).items()}
    {'sofr99_iorb_spread_bp': 1.51, 'sofr_iorb_spread_bp': 1.51}
    """

    name = "funding_stress_index"
    multivariate = True

    def __init__(
        self,
        window: int = 60,
        lower_is_stress: list[str] | None = None,
        min_scales: dict[str, float] | None = None,
        calibration_window: int = 500,
        min_count: int = 60,
        threshold: float = 2.0,
        k: int = 1,
        n: int = 1,
        cooldown: int = 0,
    ) -> None:
        if threshold <= 0:
            raise ValueError(f"threshold must be positive, got {threshold}")
        self.window = int(window)
        # Stored as given (copies, None kept), so params() repeats the constructor call; the
        # lookups below are derived from them.
        self.lower_is_stress = None if lower_is_stress is None else list(lower_is_stress)
        self.min_scales = None if min_scales is None else {name: float(v) for name, v in min_scales.items()}
        self._lower_is_stress = frozenset(self.lower_is_stress or ())
        self._min_scales = dict(self.min_scales or {})
        self.calibration_window = int(calibration_window)
        self.min_count = int(min_count)
        self.threshold = float(threshold)
        self.k, self.n, self.cooldown = int(k), int(n), int(cooldown)
        # Validate the per-signal pieces once, with the real parameters.
        self._new_signal("")
        self._baselines: dict[str, RobustZScore] = {}
        self._calibrators: dict[str, TailCalibrator] = {}
        self._suppressor = Suppressor(self.k, self.n, self.cooldown)
        self._last_contributions: dict[str, float] = {}

    def _new_signal(self, name: str) -> tuple[RobustZScore, TailCalibrator]:
        baseline = RobustZScore(
            window=self.window,
            threshold=math.inf,
            side="down" if name in self._lower_is_stress else "up",
            min_scale=self._min_scales.get(name, 0.0),
            min_history=min(20, self.window),
        )
        return baseline, TailCalibrator(self.calibration_window, self.min_count)

    def _points(self, x: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
        """Contributions and z-scores of the signals present in ``x``."""
        context = _context_of(x)
        points: dict[str, float] = {}
        zscores: dict[str, float] = {}
        for name, value in sorted(signals_of(x).items()):
            if not math.isfinite(value):
                continue
            observation = {"value": value, **context}
            baseline = self._baselines.get(name)
            calibrator = self._calibrators.get(name)
            if baseline is None or calibrator is None:
                points[name], zscores[name] = 0.0, math.nan
                continue
            z = baseline.score_one(observation)
            zscores[name] = z
            points[name] = max(0.0, -math.log10(calibrator.tail_probability(z)) - 1.0)
        return points, zscores

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        """Each present signal's contribution to the index for ``x``, largest first; pure."""
        points, _ = self._points(x)
        return dict(sorted(points.items(), key=lambda item: (-item[1], item[0])))

    @property
    def last_contributions(self) -> dict[str, float]:
        """The contributions at the last :meth:`learn_one`, largest first (what an alert shows)."""
        return dict(self._last_contributions)

    def score_one(self, x: dict[str, float]) -> float:
        points, _ = self._points(x)
        return sum(points.values()) if points else math.nan

    def learn_one(self, x: dict[str, float]) -> None:
        points, zscores = self._points(x)
        if not points:
            return
        context = _context_of(x)
        for name, value in signals_of(x).items():
            if not math.isfinite(value):
                continue
            if name not in self._baselines:
                self._baselines[name], self._calibrators[name] = self._new_signal(name)
            observation = {"value": value, **context}
            self._calibrators[name].learn(zscores.get(name, math.nan))
            self._baselines[name].learn_one(observation)
        self._suppressor.update(sum(points.values()) >= self.threshold)
        self._last_contributions = dict(sorted(points.items(), key=lambda item: (-item[1], item[0])))

    @property
    def alarm(self) -> bool:
        return self._suppressor.active

    def _state(self) -> dict[str, Any]:
        return {
            "signals": {
                name: {
                    "baseline": self._baselines[name]._state(),
                    "calibrator": self._calibrators[name].to_state(),
                }
                for name in sorted(self._baselines)
            },
            "suppressor": self._suppressor.to_state(),
            "last_contributions": self._last_contributions,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._baselines, self._calibrators = {}, {}
        for name, signal_state in state["signals"].items():
            baseline, calibrator = self._new_signal(name)
            baseline._set_state(signal_state["baseline"])
            calibrator.set_state(signal_state["calibrator"])
            self._baselines[name], self._calibrators[name] = baseline, calibrator
        self._suppressor.set_state(state["suppressor"])
        self._last_contributions = {k: float(v) for k, v in state["last_contributions"].items()}


def _context_of(x: dict[str, float]) -> dict[str, float]:
    """What every signal's baseline sees of ``x`` besides its value: the timestamp and calendar."""
    context = {CALENDAR_FEATURE_PREFIX + effect: 1.0 for effect in sorted(calendar_effects_of(x))}
    timestamp = timestamp_of(x)
    if timestamp is not None:
        context["timestamp"] = timestamp
    return context
