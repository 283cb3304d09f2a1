"""Two-sided CUSUM for level shifts, on robustly standardised observations."""

from __future__ import annotations

import math
from typing import Any, Literal

from detectors._rolling import RollingOrder
from detectors.base import Detector, value_of
from detectors.suppression import Suppressor

__all__ = ["Cusum"]


class Cusum(Detector):
    """Page's two-sided cumulative sum, for a sustained shift of the level in either direction.

    Each observation is standardised against the median and MAD of the last ``window``
    observations (``z``, clipped to ``±clip`` so one spike cannot trip the detector alone), then
    ``upper = max(0, upper + z - drift)`` and ``lower = max(0, lower - z - drift)``. When either sum
    passes ``threshold`` a shift is declared, both sums restart from zero and the alarm holds for
    ``hold`` observations. The reference window keeps rolling, so a new level becomes the baseline
    after roughly ``window / 2`` observations and the detector is ready for the next shift.

    Score: ``max(upper, lower)`` after ``x``, in robust standard deviations accumulated (compare
    with ``threshold``); 0.0 during warm-up, NaN for a missing value.

    Parameters
    ----------
    drift
        Slack per observation, in standard deviations: shifts smaller than about ``2 * drift``
        are ignored.
    threshold
        Decision level for the sums.
    window
        Observations in the reference median/MAD.
    min_history
        Observations needed before accumulating.
    min_scale
        Floor on the scale, in the series' units.
    clip
        Largest contribution of one observation, in standard deviations.
    hold
        Observations the alarm stays on after a detection.
    side
        ``"both"`` (two-sided), or only ``"up"`` / ``"down"`` shifts: for funding stress a fall of
        the repo spread is a regime easing, not a page.

    Examples
    --------
    SOFR minus IOER (bp) in 2019: one clipped spike (2019-09-17) is not enough on its own; the
    shift is declared the next day, when the spread stays high.

    >>> from detectors._examples import date_of, observations, spread_bp
    >>> detector = Cusum(min_scale=3.0)
    >>> detected = []
    >>> for x in observations(spread_bp("2019-06-01", "2019-10-31")):
    ...     detector.learn_one(x)
    ...     if detector.alarm:
    ...         detected.append(date_of(x).isoformat())
    >>> [day for day in detected if day.startswith("2019-09")][:2]
    ['2019-09-18', '2019-09-19']

    Through the calm of 2021-2022 the two-sided version sees the spread step down (IOER and IORB
    technical adjustments, rate hikes passing through); watching only upward shifts, it is quiet:

    >>> quiet = Cusum(min_scale=3.0, side="up")
    >>> alarms = 0
    >>> for x in observations(spread_bp("2021-01-01", "2022-12-31")):
    ...     quiet.learn_one(x)
    ...     alarms += quiet.alarm
    >>> alarms
    0
    """

    name = "cusum"

    def __init__(
        self,
        drift: float = 0.5,
        threshold: float = 8.0,
        window: int = 60,
        min_history: int = 20,
        min_scale: float = 0.0,
        clip: float = 4.0,
        hold: int = 5,
        side: Literal["both", "up", "down"] = "both",
    ) -> None:
        if side not in ("both", "up", "down"):
            raise ValueError(f"side must be 'both', 'up' or 'down', got {side!r}")
        if drift < 0 or threshold <= 0 or clip <= 0 or hold < 1:
            raise ValueError("need drift >= 0, threshold > 0, clip > 0 and hold >= 1")
        if window < 3 or not 1 <= min_history <= window:
            raise ValueError(f"need window >= 3 and 1 <= min_history <= window, got {window}, {min_history}")
        self.drift = float(drift)
        self.threshold = float(threshold)
        self.window = int(window)
        self.min_history = int(min_history)
        self.min_scale = float(min_scale)
        self.clip = float(clip)
        self.hold = int(hold)
        self.side: Literal["both", "up", "down"] = side
        self._reference = RollingOrder(self.window)
        self._upper = 0.0
        self._lower = 0.0
        self._suppressor = Suppressor(min_duration=self.hold)

    def _sums(self, value: float) -> tuple[float, float]:
        if len(self._reference) < self.min_history:
            return 0.0, 0.0
        center = self._reference.median()
        scale = max(self._reference.mad_scale(), self.min_scale)
        if scale <= 0.0:
            z = 0.0 if value == center else math.copysign(self.clip, value - center)
        else:
            z = max(-self.clip, min(self.clip, (value - center) / scale))
        upper = max(0.0, self._upper + z - self.drift) if self.side != "down" else 0.0
        lower = max(0.0, self._lower - z - self.drift) if self.side != "up" else 0.0
        return upper, lower

    def score_one(self, x: dict[str, float]) -> float:
        value = value_of(x)
        if math.isnan(value):
            return math.nan
        return max(self._sums(value))

    def learn_one(self, x: dict[str, float]) -> None:
        value = value_of(x)
        if math.isnan(value) or math.isinf(value):
            return
        self._upper, self._lower = self._sums(value)
        detected = max(self._upper, self._lower) > self.threshold
        if detected:
            self._upper = self._lower = 0.0
        self._suppressor.update(detected)
        self._reference.add(value)

    @property
    def alarm(self) -> bool:
        return self._suppressor.active

    def _state(self) -> dict[str, Any]:
        return {
            "reference": list(self._reference.recent),
            "upper": self._upper,
            "lower": self._lower,
            "suppressor": self._suppressor.to_state(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._reference.load([float(v) for v in state["reference"]])
        self._upper = float(state["upper"])
        self._lower = float(state["lower"])
        self._suppressor.set_state(state["suppressor"])
