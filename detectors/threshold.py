"""Persistence threshold with hysteresis: k of the last n observations beyond a level."""

from __future__ import annotations

import collections
import math
from typing import Any

from detectors.base import Detector, from_json_float, to_json_float, value_of

__all__ = ["PersistenceThreshold"]


class PersistenceThreshold(Detector):
    """Alarm when at least ``k`` of the last ``n`` observations are at or above ``enter_level``;
    clear when at least ``k`` of the last ``n`` are below ``exit_level``.

    Made for rule-like signals such as SOFR minus the rate on reserves: a single calendar-day blip
    does not page, a run of days does, and the alarm does not flap around the level because it
    clears only at a lower ``exit_level``. Observations older than ``max_gap_seconds`` before the
    newest one leave the window (stale evidence must not carry an alarm across a data gap).

    Score: the fraction of the window (the last ``n - 1`` observations plus ``x``) at or above
    ``enter_level``, in [0, 1]; NaN values count as neither above nor below.

    Parameters
    ----------
    enter_level
        Level an observation must reach to count towards the alarm.
    exit_level
        Level an observation must fall below to count towards clearing; at most ``enter_level``
        (None: ``enter_level``).
    k, n
        At least ``k`` of the last ``n`` observations.
    max_gap_seconds
        A gap longer than this between observations (with ``x["timestamp"]``) resets the window.

    Examples
    --------
    SOFR minus IOER in basis points, September 2019 (real prints): the alarm is on by the third
    day at or above 5 bp, and stays on through the 2019-09-17 spike.

    >>> detector = PersistenceThreshold(enter_level=5.0, exit_level=2.0, k=3, n=5)
    >>> alarms = []
    >>> for spread_bp in [7, 11, 11, 5, 2, 4, 5, 10, 10, 33, 315, 45]:
    ...     detector.learn_one({"value": spread_bp})
    ...     alarms.append(int(detector.alarm))
    >>> alarms
    [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]

    A calm stretch (June 2021, SOFR 5 to 10 bp below IOER) never alarms:

    >>> calm = PersistenceThreshold(enter_level=5.0, exit_level=2.0, k=3, n=5)
    >>> for spread_bp in [-10, -10, -5, -5, -5, -10, -10, -5, -5, 0]:
    ...     calm.learn_one({"value": spread_bp})
    >>> calm.alarm, calm.score_one({"value": 6.0})
    (False, 0.2)
    """

    name = "persistence_threshold"

    def __init__(
        self,
        enter_level: float = 0.0,
        exit_level: float | None = None,
        k: int = 3,
        n: int = 5,
        max_gap_seconds: float | None = 10 * 86400.0,
    ) -> None:
        resolved_exit_level = enter_level if exit_level is None else exit_level
        if resolved_exit_level > enter_level:
            raise ValueError(f"exit_level {exit_level} must not exceed enter_level {enter_level}")
        if not 1 <= k <= n:
            raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
        self.enter_level = float(enter_level)
        # Stored as given (None means "enter_level"), so params() repeats the constructor call.
        self.exit_level = None if exit_level is None else float(exit_level)
        self._exit_level = float(resolved_exit_level)
        self.k = int(k)
        self.n = int(n)
        self.max_gap_seconds = max_gap_seconds
        self._window: collections.deque[float] = collections.deque(maxlen=self.n)
        self._alarm = False
        self._last_timestamp: float | None = None

    def _is_stale(self, x: dict[str, float]) -> bool:
        timestamp = x.get("timestamp")
        if self.max_gap_seconds is None or timestamp is None or self._last_timestamp is None:
            return False
        return float(timestamp) - self._last_timestamp > self.max_gap_seconds

    def _window_with(self, x: dict[str, float]) -> list[float]:
        window = [] if self._is_stale(x) else list(self._window)
        window.append(value_of(x))
        return window[-self.n :]

    def score_one(self, x: dict[str, float]) -> float:
        window = self._window_with(x)
        return sum(1 for v in window if v >= self.enter_level) / self.n

    def learn_one(self, x: dict[str, float]) -> None:
        if self._is_stale(x):
            self._window.clear()
            self._alarm = False
        timestamp = x.get("timestamp")
        if timestamp is not None and math.isfinite(float(timestamp)):
            self._last_timestamp = float(timestamp)
        self._window.append(value_of(x))
        above = sum(1 for v in self._window if v >= self.enter_level)
        below = sum(1 for v in self._window if v < self._exit_level)
        if not self._alarm and above >= self.k:
            self._alarm = True
        elif self._alarm and below >= self.k:
            self._alarm = False

    @property
    def alarm(self) -> bool:
        return self._alarm

    def _state(self) -> dict[str, Any]:
        # NaN and infinities are not JSON: missing values are stored as None, infinities as strings.
        return {
            "window": [to_json_float(v) for v in self._window],
            "alarm": self._alarm,
            "last_timestamp": self._last_timestamp,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._window = collections.deque((from_json_float(v) for v in state["window"]), maxlen=self.n)
        self._alarm = bool(state["alarm"])
        self._last_timestamp = state["last_timestamp"]
