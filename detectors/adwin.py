"""River's ADWIN drift detector, wrapped in the plumbline contract with daily-data defaults."""

from __future__ import annotations

import collections
import math
from typing import Any

from river import drift

from detectors.base import Detector, value_of

__all__ = ["Adwin"]


class Adwin(Detector):
    """ADaptive WINdowing (Bifet and Gavaldà, 2007) on a univariate series, via ``river.drift.ADWIN``.

    ADWIN keeps the longest recent window whose two halves have statistically equal means and
    drops the older part when they differ: that drop is the drift. River's defaults suit
    high-frequency streams; on daily prints a check every 32 observations (``clock=32``) would
    delay a detection by up to six weeks, so this wrapper checks every day and needs a few more
    observations per sub-window.

    State, JSON and bounded: River's ADWIN lives in compiled code with no state accessor, but it
    restarts from scratch after each drift, so it is rebuilt exactly by replaying the observations
    since the last drift. To keep memory and snapshots bounded, once ``max_history`` observations
    pile up without a drift the detector is rebuilt from the newest quarter of them (older
    evidence is forgotten, as after a drift).

    Score: ``|x - mean| / std`` of the current ADWIN window, in standard deviations (0.0 while the
    window has fewer than two observations, NaN for a missing value). Alarm: a drift was detected
    at the last update (a one-observation event, as in River).

    Parameters
    ----------
    delta
        Significance level of the window-split test.
    clock
        Check for a split every ``clock`` observations.
    max_buckets, min_window_length, grace_period
        As in ``river.drift.ADWIN``.
    max_history
        Most observations kept for the exact rebuild.

    Examples
    --------
    SOFR minus IORB (bp) in 2025: ADWIN finds the move of the whole level above IORB as
    the Q4 2025 episode begins (a drift of the mean, not a one-day spike: ADWIN does not react to
    2019-09-17 alone), and nothing in the calm second half of 2021.

    >>> from detectors._examples import date_of, observations, spread_bp
    >>> detector = Adwin()
    >>> drifts = []
    >>> for x in observations(spread_bp("2025-01-01", "2025-12-31")):
    ...     detector.learn_one(x)
    ...     if detector.alarm:
    ...         drifts.append(date_of(x).isoformat())
    >>> drifts
    ['2025-09-12']
    >>> quiet = Adwin()
    >>> for x in observations(spread_bp("2021-07-01", "2021-12-31")):
    ...     quiet.learn_one(x)
    ...     assert not quiet.alarm
    """

    name = "adwin"

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 1,
        max_buckets: int = 5,
        min_window_length: int = 10,
        grace_period: int = 20,
        max_history: int = 1000,
    ) -> None:
        if not 0 < delta < 1 or clock < 1 or max_history < 8:
            raise ValueError("need 0 < delta < 1, clock >= 1 and max_history >= 8")
        self.delta = float(delta)
        self.clock = int(clock)
        self.max_buckets = int(max_buckets)
        self.min_window_length = int(min_window_length)
        self.grace_period = int(grace_period)
        self.max_history = int(max_history)
        self._adwin = self._new_adwin()
        self._history: collections.deque[float] = collections.deque()

    def _new_adwin(self) -> drift.ADWIN:
        return drift.ADWIN(  # type: ignore[no-untyped-call]
            delta=self.delta,
            clock=self.clock,
            max_buckets=self.max_buckets,
            min_window_length=self.min_window_length,
            grace_period=self.grace_period,
        )

    def score_one(self, x: dict[str, float]) -> float:
        value = value_of(x)
        if math.isnan(value):
            return math.nan
        adwin = self._adwin
        if adwin.drift_detected or adwin.width < 2:
            # After a drift the next update starts an empty window: nothing to compare with.
            return 0.0
        spread = math.sqrt(adwin.variance)
        if spread <= 0.0:
            return 0.0 if value == adwin.estimation else math.inf
        return abs(value - adwin.estimation) / spread

    def learn_one(self, x: dict[str, float]) -> None:
        value = x.get("value")
        if type(value) is not float:
            value = value_of(x)
        if value - value != 0.0:  # NaN or infinite: nothing to learn
            return
        history = self._history
        if self._adwin.drift_detected:
            # River restarts the window on the update after a drift: so does the replay history.
            history.clear()
        elif len(history) == self.max_history:
            self._rebuild(list(history)[-(self.max_history // 4) :])
            history = self._history
            if self._adwin.drift_detected:  # the replay itself ended on a drift
                history.clear()
        self._adwin.update(value)  # type: ignore[no-untyped-call]
        history.append(value)

    def _rebuild(self, values: list[float]) -> None:
        self._adwin = self._new_adwin()
        self._history = collections.deque()
        for value in values:
            if self._adwin.drift_detected:
                self._history.clear()
            self._adwin.update(value)  # type: ignore[no-untyped-call]
            self._history.append(value)

    @property
    def alarm(self) -> bool:
        return bool(self._adwin.drift_detected)

    def _state(self) -> dict[str, Any]:
        return {"history": list(self._history)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self._rebuild([float(v) for v in state["history"]])
