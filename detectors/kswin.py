"""River's KSWIN drift detector, wrapped in the plumbline contract with daily-data defaults."""

from __future__ import annotations

import bisect
import collections
import math
import random
from typing import Any

from river import drift

from detectors.base import Detector, value_of

__all__ = ["Kswin"]


class Kswin(Detector):
    """Kolmogorov-Smirnov windowing (Raab et al., 2020) via ``river.drift.KSWIN``.

    Each update compares the newest ``stat_size`` observations with ``stat_size`` drawn at random
    from the older part of a ``window_size`` window; a small KS p-value is a change of the whole
    distribution (level, spread or shape). For daily prints the window is half a year with the
    last month as the test sample, and the significance is strict, because the test runs every
    day and multiple testing would otherwise page every few weeks. The random draw is seeded, so
    runs are reproducible.

    State: the window, counters and the state of the random generator are written to the
    snapshot as JSON numbers, so a restored detector draws the same samples. The window, count
    and p-value are public attributes of River's KSWIN; its random generator and drift flag are
    private, read and written in ``_state`` and ``_set_state`` only (pyproject.toml pins the River
    versions whose attributes these are; the conformance suite's round-trip tests prove each one).

    Score: how far into the tails of the current window ``x`` falls, ``|2 F(x) - 1|`` with ``F``
    the window's empirical CDF, in [0, 1]; 0.0 with an empty window, NaN for a missing value.
    Alarm: a drift was detected at the last update.

    Parameters
    ----------
    alpha, window_size, stat_size, seed
        As in ``river.drift.KSWIN``.

    Examples
    --------
    SOFR minus IORB (bp): the distribution changes in the autumn of 2025.

    >>> from detectors._examples import date_of, observations, spread_bp
    >>> detector = Kswin()
    >>> drifts = []
    >>> for x in observations(spread_bp("2025-01-01", "2025-12-31")):
    ...     detector.learn_one(x)
    ...     if detector.alarm:
    ...         drifts.append(date_of(x).isoformat())
    >>> drifts
    ['2025-09-19']

    KSWIN sees any change of distribution, including harmless ones: in 2021 it flags the step
    down of the spread after the June 2021 IOER adjustment. That is why it is not a pager on its
    own (see docs/detectors.md).

    >>> calm = Kswin()
    >>> [date_of(x).isoformat()
    ...  for x in observations(spread_bp("2021-01-01", "2021-12-31"))
    ...  if calm.learn_one(x) or calm.alarm]
    ['2021-07-07']
    """

    name = "kswin"

    def __init__(
        self, alpha: float = 0.0001, window_size: int = 120, stat_size: int = 20, seed: int = 42
    ) -> None:
        if not 0 < alpha < 1 or not 0 < stat_size < window_size:
            raise ValueError("need 0 < alpha < 1 and 0 < stat_size < window_size")
        self.alpha = float(alpha)
        self.window_size = int(window_size)
        self.stat_size = int(stat_size)
        self.seed = int(seed)
        self._river = self._new_river()

    def _new_river(self) -> drift.KSWIN:
        return drift.KSWIN(
            alpha=self.alpha, window_size=self.window_size, stat_size=self.stat_size, seed=self.seed
        )

    def score_one(self, x: dict[str, float]) -> float:
        value = value_of(x)
        if math.isnan(value):
            return math.nan
        window = [] if self._river.drift_detected else sorted(self._river.window)
        if not window:
            return 0.0
        below = bisect.bisect_left(window, value)
        equal = bisect.bisect_right(window, value) - below
        return abs(2.0 * (below + 0.5 * equal) / len(window) - 1.0)

    def learn_one(self, x: dict[str, float]) -> None:
        value = x.get("value")
        if type(value) is not float:
            value = value_of(x)
        if value - value != 0.0:  # NaN or infinite
            return
        self._river.update(value)  # type: ignore[no-untyped-call]

    @property
    def alarm(self) -> bool:
        return bool(self._river.drift_detected)

    def _state(self) -> dict[str, Any]:
        river = self._river
        # Private: the generator decides which older observations the next test samples.
        version, internal, gauss_next = river._rng.getstate()
        return {
            "window": list(river.window),
            "n": river.n,
            "p_value": float(river.p_value),
            "drift_detected": river.drift_detected,
            "rng": [version, list(internal), gauss_next],
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        river = self._new_river()
        river.window = collections.deque((float(v) for v in state["window"]), maxlen=self.window_size)
        river.n = int(state["n"])
        river.p_value = float(state["p_value"])  # type: ignore[assignment]
        # Private, no setter: the flag is the alarm, and tells the next update to restart.
        river._drift_detected = bool(state["drift_detected"])
        version, internal, gauss_next = state["rng"]
        rng = random.Random()
        rng.setstate((version, tuple(internal), gauss_next))
        river._rng = rng
        self._river = river
