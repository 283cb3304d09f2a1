"""Streaming quantile exceedance over a rolling window."""

from __future__ import annotations

import math
from typing import Any, Literal

from detectors._rolling import RollingOrder
from detectors.base import Detector, timestamp_of, value_of
from detectors.suppression import Suppressor

__all__ = ["QuantileExceedance"]


class QuantileExceedance(Detector):
    """Alarm when observations exceed the ``q`` quantile of the last ``window`` observations.

    No distributional assumption: the score is the observation's empirical CDF position in the
    window of past values, so it is already on a calibrated [0, 1] scale (0.995 = "above 99.5% of
    the last ``window`` days"). Quantiles of a rolling window track regimes: after a year above
    IORB, being above IORB is no longer exceptional, only a new extreme is.

    Score: mid-rank of ``x`` among the window, in [0, 1] (``side="down"``: one minus it); 0.5
    during warm-up (fewer than ``min_history`` values); NaN for a missing value.
    Alarm: score above ``q`` on at least ``k`` of the last ``n`` observations, then ``cooldown``.
    A gap longer than ``max_gap_seconds`` restarts the window.

    Parameters
    ----------
    q
        Quantile level, in (0, 1).
    window
        Past observations the quantile is taken over.
    min_history
        Observations needed before scoring.
    side
        ``"up"`` (exceed the upper quantile) or ``"down"`` (fall below the lower one).
    k, n, cooldown
        Suppression of the alarm.
    max_gap_seconds
        Longest gap that keeps the window; None never restarts.

    Examples
    --------
    SOFR minus IOER (bp): a 99th-percentile exceedance of the previous year on 2019-09-17.

    >>> from detectors._examples import observations, spread_bp
    >>> detector = QuantileExceedance(q=0.99, window=250)
    >>> for x in observations(spread_bp("2018-09-01", "2019-09-16")):
    ...     detector.learn_one(x)
    >>> spike = observations(spread_bp("2019-09-17", "2019-09-17"))[0]
    >>> detector.score_one(spike)
    1.0
    >>> detector.learn_one(spike)
    >>> detector.alarm
    True

    Quiet through 2021 with a three-of-five confirmation (single quarter-end prints do not page):

    >>> quiet = QuantileExceedance(q=0.99, window=250, k=3, n=5)
    >>> paged = 0
    >>> for x in observations(spread_bp("2020-06-01", "2021-12-31")):
    ...     quiet.learn_one(x)
    ...     paged += x["timestamp"] >= 1609459200 and quiet.alarm
    >>> paged
    0
    """

    name = "quantile_exceedance"

    def __init__(
        self,
        q: float = 0.99,
        window: int = 250,
        min_history: int = 30,
        side: Literal["up", "down"] = "up",
        k: int = 1,
        n: int = 1,
        cooldown: int = 0,
        max_gap_seconds: float | None = 45 * 86400.0,
    ) -> None:
        if not 0.0 < q < 1.0:
            raise ValueError(f"q must be in (0, 1), got {q}")
        if side not in ("up", "down"):
            raise ValueError(f"side must be 'up' or 'down', got {side!r}")
        if window < 2 or not 1 <= min_history <= window:
            raise ValueError(f"need window >= 2 and 1 <= min_history <= window, got {window}, {min_history}")
        self.q = float(q)
        self.window = int(window)
        self.min_history = int(min_history)
        self.side: Literal["up", "down"] = side
        self.k, self.n, self.cooldown = int(k), int(n), int(cooldown)
        self.max_gap_seconds = max_gap_seconds
        self._values = RollingOrder(self.window)
        self._suppressor = Suppressor(self.k, self.n, self.cooldown)
        self._last_timestamp: float | None = None

    def _is_stale(self, x: dict[str, float]) -> bool:
        timestamp = timestamp_of(x)
        if self.max_gap_seconds is None or timestamp is None or self._last_timestamp is None:
            return False
        return timestamp - self._last_timestamp > self.max_gap_seconds

    def _score(self, value: float, stale: bool) -> float:
        if math.isnan(value):
            return math.nan
        if stale or len(self._values) < self.min_history:
            return 0.5
        rank = self._values.rank(value)
        return rank if self.side == "up" else 1.0 - rank

    def score_one(self, x: dict[str, float]) -> float:
        return self._score(value_of(x), self._is_stale(x))

    def learn_one(self, x: dict[str, float]) -> None:
        value = value_of(x)
        if math.isnan(value):
            return
        if self._is_stale(x):
            self._values.clear()
        timestamp = timestamp_of(x)
        if timestamp is not None:
            self._last_timestamp = timestamp
        self._suppressor.update(self._score(value, stale=False) > self.q)
        self._values.add(value)

    @property
    def alarm(self) -> bool:
        return self._suppressor.active

    def _state(self) -> dict[str, Any]:
        return {
            "values": [v if math.isfinite(v) else str(v) for v in self._values.recent],
            "suppressor": self._suppressor.to_state(),
            "last_timestamp": self._last_timestamp,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._values.load([float(v) for v in state["values"]])
        self._suppressor.set_state(state["suppressor"])
        self._last_timestamp = state["last_timestamp"]
