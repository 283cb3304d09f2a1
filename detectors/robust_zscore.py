"""Robust z-score against a rolling median and MAD, with a calendar-aware baseline."""

from __future__ import annotations

import collections
import math
from typing import Any, Literal

from detectors._rolling import RollingOrder, mad_scale
from detectors.base import Detector, calendar_effects_of, timestamp_of, value_of
from detectors.suppression import Suppressor

__all__ = ["RobustZScore"]

_MEAN_AD_TO_SIGMA = 1.2533

Side = Literal["both", "up", "down"]


class RobustZScore(Detector):
    """How many robust standard deviations an observation sits from its recent ordinary level.

    The baseline is the median of the last ``window`` *ordinary* observations, and the scale their
    median absolute deviation (times 1.4826, floored at ``min_scale``). Calendar-effect days
    (month-, quarter- and year-end turns, the mid-month coupon settlement, corporate tax dates),
    handed in by the pipeline as ``x["calendar_<effect>"] = 1.0`` features
    (:func:`detectors.base.calendar_effects_of`), are kept out of that baseline. Each effect has
    its own memory of how far the last ``calendar_window`` such days sat from the baseline; on a
    calendar day the detector subtracts the typical bump of the largest applicable effect and
    measures the rest against the wider of the two scales. A quarter-end that looks like past
    quarter-ends therefore scores near zero, while a coupon-settlement day far beyond past
    settlements (2019-09-17, the day after the mid-September settlement and tax date) still does
    not. Until an effect has ``calendar_min_events`` past days, a calendar day's z-score is halved
    so a first-seen effect does not page alone. Observations without calendar features are all
    ordinary days.

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
        Whether to model calendar effects (needs the ``calendar_<effect>`` features in ``x``).
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
    SOFR minus IOER in basis points through 2019, with the pipeline's calendar handed in as
    features: the detector pages on the 2019-09-17 repo spike (the day after the mid-September
    coupon settlement and tax date, so calendar awareness must not hide it).

    >>> from foundation.calendar import calendar_features
    >>> from detectors._examples import date_of, observations, spread_bp
    >>> spike = observations(spread_bp("2019-09-17", "2019-09-17"), calendar_features)[0]
    >>> sorted(calendar_effects_of(spike))
    ['coupon_settlement']
    >>> detector = RobustZScore(window=60, threshold=6.0, side="up", min_scale=1.0)
    >>> paged = []
    >>> for x in observations(spread_bp("2019-01-01", "2019-12-31"), calendar_features):
    ...     detector.learn_one(x)
    ...     if detector.alarm:
    ...         paged.append(date_of(x).isoformat())
    >>> "2019-09-17" in paged
    True

    Through 2021, a calm year of quarter-ends and tax dates, it stays quiet:

    >>> quiet = RobustZScore(window=60, threshold=6.0, side="up", min_scale=1.0)
    >>> alarms = 0
    >>> for x in observations(spread_bp("2020-07-01", "2021-12-31"), calendar_features):
    ...     quiet.learn_one(x)
    ...     alarms += date_of(x).year == 2021 and quiet.alarm
    >>> alarms
    0

    The calendar matters: fed bare values, the detector pages on the quarter-end turns of 2024;
    handed the calendar, it takes the turns for known effects, and what still pages are ordinary
    days with the spread up around them (2024-10-02, 2024-12-26 and 27):

    >>> def pages_in_2024(features=None):
    ...     detector = RobustZScore(window=60, threshold=6.0, side="up", min_scale=1.0)
    ...     for x in observations(spread_bp("2023-07-01", "2024-12-31"), features):
    ...         detector.learn_one(x)
    ...         if detector.alarm and date_of(x).year == 2024:
    ...             yield date_of(x).isoformat()
    >>> list(pages_in_2024())
    ['2024-07-01', '2024-09-30', '2024-10-01', '2024-12-26', '2024-12-31']
    >>> list(pages_in_2024(calendar_features))
    ['2024-10-02', '2024-12-26', '2024-12-27']
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
        # (bump, scale) per effect, until its history changes: scored far more often than learned.
        self._bumps: dict[str, tuple[float, float]] = {}
        self._suppressor = Suppressor(self.k, self.n, self.cooldown)
        self._last_timestamp: float | None = None

    def _effects(self, x: dict[str, float]) -> frozenset[str]:
        return calendar_effects_of(x) if self.calendar_aware else frozenset()

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
        scale = max(self._baseline.mad_scale(), self.min_scale)
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
        # Sorted, so a tie between two effects' bumps is broken the same way in every process.
        for effect in sorted(effects):
            history = self._excess.get(effect)
            if history is None or len(history) < self.calendar_min_events:
                continue
            cached = self._bumps.get(effect)
            if cached is None:
                ordered = sorted(history)
                middle = len(ordered) // 2
                bump = ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])
                cached = self._bumps[effect] = (bump, mad_scale(ordered, bump))
            if not best[2] or abs(cached[0]) > abs(best[0]):
                best = (cached[0], cached[1], True)
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
            self._bumps.clear()
        score = self._zscore(value, effects, stale=False)
        timestamp = timestamp_of(x)
        if timestamp is not None:
            self._last_timestamp = timestamp
        self._suppressor.update(score >= self.threshold)
        if effects:
            center = self._baseline.median()
            if not math.isnan(center):
                for effect in sorted(effects):
                    history = self._excess.setdefault(effect, collections.deque(maxlen=self.calendar_window))
                    history.append(value - center)
                    self._bumps.pop(effect, None)
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
        self._bumps = {}
        self._excess = {
            effect: collections.deque((float(v) for v in history), maxlen=self.calendar_window)
            for effect, history in state["excess"].items()
        }
        self._suppressor.set_state(state["suppressor"])
        self._last_timestamp = state["last_timestamp"]
