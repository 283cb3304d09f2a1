"""Calibration: raw detector scores onto one comparable scale, an online tail probability.

Every detector documents its own raw score (a z-score, a CUSUM sum, a change probability...).
:class:`TailCalibrator` turns a raw score into the probability, under the detector's own recent
history, of a raw score at least as large. ``p = 0.01`` then means "rarer than 99% of what this
detector has said lately", whatever the detector, so one threshold works for all of them and
per-signal scores can be combined (see :class:`detectors.stress_index.FundingStressIndex`).

>>> calibrator = TailCalibrator(window=100, min_count=10)
>>> for raw in range(100):
...     calibrator.learn(float(raw))
>>> calibrator.tail_probability(95.0), calibrator.tail_probability(1000.0)
(0.0594..., 0.0099...)
>>> calibrator.tail_probability(float("nan"))
1.0
"""

from __future__ import annotations

import bisect
import collections
import math
from typing import Any

__all__ = ["TailCalibrator"]


class TailCalibrator:
    """Empirical upper-tail probability of a raw score over the last ``window`` learned scores.

    ``tail_probability(s) = (1 + #{past >= s}) / (1 + count)``: never 0 (a score above everything
    seen is "at most 1 in count + 1"), and 1.0 while fewer than ``min_count`` scores are known, so
    a cold detector cannot page. Memory is bounded by ``window``; NaN scores are ignored.

    Parameters
    ----------
    window
        How many recent raw scores define "normal"; older ones are forgotten.
    min_count
        Scores needed before any probability below 1 is reported.
    """

    def __init__(self, window: int = 500, min_count: int = 30) -> None:
        if window < 1 or not 1 <= min_count <= window:
            raise ValueError(f"need window >= 1 and 1 <= min_count <= window, got {window}, {min_count}")
        self.window = int(window)
        self.min_count = int(min_count)
        self._recent: collections.deque[float] = collections.deque()
        self._sorted: list[float] = []

    def learn(self, raw: float) -> None:
        """Add one raw score to the reference history."""
        if math.isnan(raw):
            return
        if len(self._recent) == self.window:
            oldest = self._recent.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]
        self._recent.append(raw)
        bisect.insort(self._sorted, raw)

    def tail_probability(self, raw: float) -> float:
        """Probability of a score at least ``raw`` under the reference history, in (0, 1]."""
        count = len(self._sorted)
        if math.isnan(raw) or count < self.min_count:
            return 1.0
        at_least = count - bisect.bisect_left(self._sorted, raw)
        return (1 + at_least) / (1 + count)

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state (infinite raw scores are written as strings)."""
        return {"recent": [r if math.isfinite(r) else str(r) for r in self._recent]}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore state produced by :meth:`to_state`."""
        self._recent = collections.deque(float(r) for r in state["recent"])
        self._sorted = sorted(self._recent)
