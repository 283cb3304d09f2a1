"""River's Half-Space Trees over the vector of funding signals."""

from __future__ import annotations

import math
from typing import Any

from river import anomaly

from detectors.base import Detector, signals_of
from detectors.suppression import Suppressor

__all__ = ["HalfSpaceTrees"]

_Vector = dict[str, float]


class HalfSpaceTrees(Detector):
    """Multivariate isolation-style anomaly score (Tan et al., 2011) via ``river.anomaly.HalfSpaceTrees``.

    Reads a dict of named signals (every key but ``timestamp`` and the ``calendar_<effect>``
    features; a univariate ``{"value": v}`` is a one-signal vector). The signals are fixed by the
    first observation that has any. River's trees cut the unit cube, so each signal is scaled to
    [0, 1] by the smallest and largest value seen so far; a missing signal repeats its last scaled
    value (weekly prints between releases).

    State, JSON and bounded: the trees depend only on ``seed`` and the signal names, and their
    masses only on the last complete window and the current partial one, so the detector keeps
    those (at most ``2 * window_size`` scaled vectors) and rebuilds River's model by replaying them.

    Score: River's anomaly score in [0, 1] (higher is more isolated); 0.0 during the first
    window, NaN when no signal is present. Alarm: score at or above ``threshold`` on ``k`` of the
    last ``n`` observations.

    Parameters
    ----------
    n_trees, height, window_size, seed
        As in ``river.anomaly.HalfSpaceTrees``; a window of 120 daily prints is about six months.
    threshold
        Alarm level on the score.
    k, n
        Suppression of the alarm.

    Examples
    --------
    SOFR minus IOER and the SOFR 99th percentile minus IOER (bp): the 2019-09-17 vector is far
    outside everything in the trees' reference window.

    >>> from detectors._examples import load_series, spread_bp
    >>> sofr99 = dict(load_series("SOFR99"))
    >>> ioer = dict(load_series("IOER"))
    >>> detector = HalfSpaceTrees()
    >>> scores = {}
    >>> for day, spread in spread_bp("2018-06-01", "2019-09-30"):
    ...     if day in sofr99:
    ...         x = {"sofr_iorb_spread_bp": spread, "sofr99_iorb_spread_bp": (sofr99[day] - ioer[day]) * 100}
    ...         scores[day.isoformat()] = detector.score_one(x)
    ...         detector.learn_one(x)
    >>> round(scores["2019-09-17"], 2), max(scores["2019-09-17"], scores["2019-09-18"]) > max(
    ...     score for day, score in scores.items() if day.startswith("2019-08"))
    (1.0, True)
    """

    name = "half_space_trees"
    multivariate = True

    def __init__(
        self,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 120,
        seed: int = 42,
        threshold: float = 0.9,
        k: int = 1,
        n: int = 1,
    ) -> None:
        if n_trees < 1 or height < 1 or window_size < 2 or not 0 < threshold <= 1:
            raise ValueError("need n_trees >= 1, height >= 1, window_size >= 2 and 0 < threshold <= 1")
        self.n_trees = int(n_trees)
        self.height = int(height)
        self.window_size = int(window_size)
        self.seed = int(seed)
        self.threshold = float(threshold)
        self.k, self.n = int(k), int(n)
        self._features: list[str] = []
        self._low: dict[str, float] = {}
        self._high: dict[str, float] = {}
        self._last_scaled: dict[str, float] = {}
        self._reference: list[dict[str, float]] = []
        self._current: list[dict[str, float]] = []
        self._model = self._new_model()
        self._suppressor = Suppressor(self.k, self.n)

    def _new_model(self) -> anomaly.HalfSpaceTrees:
        return anomaly.HalfSpaceTrees(
            n_trees=self.n_trees, height=self.height, window_size=self.window_size, seed=self.seed
        )

    def _scaled(self, x: dict[str, float]) -> tuple[_Vector, _Vector, _Vector] | None:
        """The scaled vector for ``x`` and the extremes after it; None when no signal is present."""
        signals = {name: v for name, v in signals_of(x).items() if math.isfinite(v)}
        features = self._features or sorted(signals)
        if not any(name in signals for name in features):
            return None
        low, high = dict(self._low), dict(self._high)
        vector = {}
        for name in features:
            value = signals.get(name)
            if value is None:
                vector[name] = self._last_scaled.get(name, 0.5)
                continue
            low[name] = min(low.get(name, value), value)
            high[name] = max(high.get(name, value), value)
            span = high[name] - low[name]
            vector[name] = 0.5 if span <= 0 else (value - low[name]) / span
        return vector, low, high

    def score_one(self, x: dict[str, float]) -> float:
        scaled = self._scaled(x)
        if scaled is None:
            return math.nan
        return float(self._model.score_one(scaled[0]))  # type: ignore[no-untyped-call]

    def learn_one(self, x: dict[str, float]) -> None:
        scaled = self._scaled(x)
        if scaled is None:
            return
        vector, self._low, self._high = scaled
        if not self._features:
            self._features = sorted(vector)
        self._suppressor.update(self._model.score_one(vector) >= self.threshold)  # type: ignore[no-untyped-call]
        self._model.learn_one(vector)  # type: ignore[no-untyped-call]
        self._last_scaled = vector
        self._current.append(vector)
        if len(self._current) == self.window_size:
            self._reference, self._current = self._current, []

    @property
    def alarm(self) -> bool:
        return self._suppressor.active

    def _state(self) -> dict[str, Any]:
        return {
            "features": self._features,
            "low": self._low,
            "high": self._high,
            "last_scaled": self._last_scaled,
            "reference": self._reference,
            "current": self._current,
            "suppressor": self._suppressor.to_state(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._features = list(state["features"])
        self._low = {k: float(v) for k, v in state["low"].items()}
        self._high = {k: float(v) for k, v in state["high"].items()}
        self._last_scaled = {k: float(v) for k, v in state["last_scaled"].items()}
        self._reference = [{k: float(v) for k, v in row.items()} for row in state["reference"]]
        self._current = [{k: float(v) for k, v in row.items()} for row in state["current"]]
        self._model = self._new_model()
        for vector in self._reference + self._current:
            self._model.learn_one(vector)  # type: ignore[no-untyped-call]
        self._suppressor.set_state(state["suppressor"])
