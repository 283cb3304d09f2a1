"""Robust z-score against a rolling median and MAD, with a calendar-aware baseline."""

from __future__ import annotations

import collections
import math
from typing import Any, Literal

from detectors._calendar import CALENDAR_EFFECTS, calendar_effects, date_of_timestamp
from detectors._rolling import RollingOrder, mad_scale
from detectors.base import Detector, register, timestamp_of, value_of
from detectors.suppression import Suppressor

__all__ = ["RobustZScore"]

_MEAN_AD_TO_SIGMA = 1.2533

Side = Literal["both", "up", "down"]


@register
class RobustZScore(Detector):
    """How many robust standard deviations an observation sits from its recent ordinary level.

    The baseline is the median of the last ``window`` *ordinary* observations, and the scale their
    median absolute deviation (times 1.4826, floored at ``min_scale``). Calendar-effect days
    (month-, quarter- and year-end turns, the mid-month coupon settlement, corporate tax dates; see
    :mod:`detectors._calendar`, read from ``x["timestamp"]``) are kept out of that baseline. Each
    effect has its own memory of how far the last ``calendar_window`` such days sat from the
    baseline; on a calendar day the detector subtracts the typical bump of the largest applicable
    effect and measures the rest against the wider of the two scales. A quarter-end that looks like
    past quarter-ends therefore scores near zero, while one far beyond them (2019-09-17) still does
    not. Until an effect has ``calendar_min_events`` past days, a calendar day's z-score is halved
    so a first-seen effect does not page alone.

    Score: the robust z-score, signed towards ``side`` (``"both"``: absolute value); 0.0 during
    warm-up (fewer than ``min_history`` ordinary observations), NaN for a missing value.
    Alarm: score at or above ``threshold`` on at least ``k`` of the last ``n`` observations
    (:class:`detectors.suppression.Suppressor`, with ``cooldown``). A gap longer than
    ``max_gap_seconds`` restarts the baseline: stale levels say nothing about today.

    Parameters
    ----------
    window
        Ordinary observations in the baseline.
    threshold
        Alarm level, in robust standard deviations.
    side
        ``"up"`` for signals where only a rise means stress, ``"down"`` for falls, or ``"both"``.
    min_scale
        Floor on the scale, in the series' units (1.0 bp keeps a flat spread from paging on a 1 bp
        tick).
    calendar_aware
        Whether to model calendar effects (needs ``x["timestamp"]``).
    calendar_window, calendar_min_events
        Past days remembered per calendar effect, and how many are needed to trust them.
    min_history
        Ordinary observations needed before scoring.
    k, n, cooldown
        Suppression of the alarm.
    max_gap_seconds
        Longest gap between observations that keeps the baseline; None never restarts.

    Examples
    --------
    SOFR minus IOER in basis points through 2019: the detector pages on the 2019-09-17 repo spike
    (a coupon-settlement day, so calendar awareness must not hide it).

    >>> from detectors._examples import observations, spread_bp
    >>> detector = RobustZScore(window=60, threshold=6.0, side="up", min_scale=1.0)
    >>> paged = []
    >>> for x in observations(spread_bp("2019-01-01", "2019-12-31")):
    ...     detector.learn_one(x)
    ...     if detector.alarm:
    ...         paged.append(date_of_timestamp(x["timestamp"]).isoformat())
    >>> "2019-09-17" in paged
    True

    Through 2021, a calm year of quarter-ends and tax dates, it stays quiet:

    >>> quiet = RobustZScore(window=60, threshold=6.0, side="up", min_scale=1.0)
    >>> alarms = 0
    >>> for x in observations(spread_bp("2020-07-01", "2021-12-31")):
    ...     quiet.learn_one(x)
    ...     alarms += date_of_timestamp(x["timestamp"]).year == 2021 and quiet.alarm
    >>> alarms
    0
    """

    name = "robust_zscore"

    def __init__(
        self,
        window: int = 60,
        threshold: float = 5.0,
        side: Side = "both",
        min_scale: float = 0.0,
        calendar_aware: bool = True,
        calendar_window: int = 12,
        calendar_min_events: int = 3,
        min_history: int = 20,
        k: int = 1,
        n: int = 1,
        cooldown: int = 0,
        max_gap_seconds: float | None = 45 * 86400.0,
    ) -> None:
        if side not in ("both", "up", "down"):
            raise ValueError(f"side must be 'both', 'up' or 'down', got {side!r}")
        if window < 3 or not 1 <= min_history <= window:
            raise ValueError(f"need window >= 3 and 1 <= min_history <= window, got {window}, {min_history}")
        if threshold <= 0 or min_scale < 0:
            raise ValueError("threshold must be positive and min_scale non-negative")
        self.window = int(window)
        self.threshold = float(threshold)
        self.side: Side = side
        self.min_scale = float(min_scale)
        self.calendar_aware = bool(calendar_aware)
        self.calendar_window = int(calendar_window)
        self.calendar_min_events = int(calendar_min_events)
        self.min_history = int(min_history)
        self.k, self.n, self.cooldown = int(k), int(n), int(cooldown)
        self.max_gap_seconds = max_gap_seconds
        self._baseline = RollingOrder(self.window)
        self._excess: dict[str, collections.deque[float]] = {}
        self._suppressor = Suppressor(self.k, self.n, self.cooldown)
        self._last_timestamp: float | None = None

    def params(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "threshold": self.threshold,
            "side": self.side,
            "min_scale": self.min_scale,
            "calendar_aware": self.calendar_aware,
            "calendar_window": self.calendar_window,
            "calendar_min_events": self.calendar_min_events,
            "min_history": self.min_history,
            "k": self.k,
            "n": self.n,
            "cooldown": self.cooldown,
            "max_gap_seconds": self.max_gap_seconds,
        }

    def _effects(self, x: dict[str, float]) -> frozenset[str]:
        timestamp = timestamp_of(x)
        if not self.calendar_aware or timestamp is None:
            return frozenset()
        return calendar_effects(date_of_timestamp(timestamp))

    def _is_stale(self, x: dict[str, float]) -> bool:
        timestamp = timestamp_of(x)
        if self.max_gap_seconds is None or timestamp is None or self._last_timestamp is None:
            return False
        return timestamp - self._last_timestamp > self.max_gap_seconds

    def _zscore(self, value: float, effects: frozenset[str], stale: bool) -> float:
        if math.isnan(value):
            return math.nan
        if stale or len(self._baseline) < self.min_history:
            return 0.0
        center = self._baseline.median()
        scale = max(mad_scale(self._baseline.ordered, center), self.min_scale)
        if scale <= 0.0:
            # More than half the window is one value (a rate pinned to the floor): fall back to the
            # mean absolute deviation, the spread of the minority of days that did move.
            scale = (
                _MEAN_AD_TO_SIGMA * sum(abs(v - center) for v in self._baseline.ordered) / len(self._baseline)
            )
        damping = 1.0
        if effects:
            bump, bump_scale, trusted = self._calendar_bump(effects)
            if trusted:
                center += bump
                scale = max(scale, bump_scale)
            else:
                damping = 0.5
        if scale <= 0.0:
            # A perfectly flat baseline: any move is infinitely surprising, so cap instead of divide.
            deviation = value - center
            z = 0.0 if deviation == 0 else math.copysign(1e6, deviation)
        else:
            z = (value - center) / scale
        z *= damping
        if self.side == "up":
            return z
        if self.side == "down":
            return -z
        return abs(z)

    def _calendar_bump(self, effects: frozenset[str]) -> tuple[float, float, bool]:
        best: tuple[float, float, bool] = (0.0, 0.0, False)
        for effect in CALENDAR_EFFECTS:
            history = self._excess.get(effect)
            if effect not in effects or history is None or len(history) < self.calendar_min_events:
                continue
            ordered = sorted(history)
            middle = len(ordered) // 2
            bump = ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])
            if not best[2] or abs(bump) > abs(best[0]):
                best = (bump, mad_scale(ordered, bump), True)
        return best

    def score_one(self, x: dict[str, float]) -> float:
        return self._zscore(value_of(x), self._effects(x), self._is_stale(x))

    def learn_one(self, x: dict[str, float]) -> None:
        value = value_of(x)
        if math.isnan(value) or math.isinf(value):
            return
        effects = self._effects(x)
        if self._is_stale(x):
            self._baseline.clear()
            self._excess.clear()
        score = self._zscore(value, effects, stale=False)
        timestamp = timestamp_of(x)
        if timestamp is not None:
            self._last_timestamp = timestamp
        self._suppressor.update(score >= self.threshold)
        if effects:
            center = self._baseline.median()
            if not math.isnan(center):
                for effect in effects:
                    history = self._excess.setdefault(effect, collections.deque(maxlen=self.calendar_window))
                    history.append(value - center)
        else:
            self._baseline.add(value)

    @property
    def alarm(self) -> bool:
        return self._suppressor.active

    def _state(self) -> dict[str, Any]:
        return {
            "baseline": list(self._baseline.recent),
            "excess": {effect: list(history) for effect, history in self._excess.items()},
            "suppressor": self._suppressor.to_state(),
            "last_timestamp": self._last_timestamp,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._baseline.load([float(v) for v in state["baseline"]])
        self._excess = {
            effect: collections.deque((float(v) for v in history), maxlen=self.calendar_window)
            for effect, history in state["excess"].items()
        }
        self._suppressor.set_state(state["suppressor"])
        self._last_timestamp = state["last_timestamp"]
