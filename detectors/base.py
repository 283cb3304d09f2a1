"""The detector contract, compatible with River's anomaly API.

A detector is a small class whose constructor takes hyper-parameters only. It reads one observation
at a time as a dict of floats, River style: univariate detectors read ``x["value"]``; an optional
``x["timestamp"]`` (POSIX seconds of the observation date) lets a detector see gaps and calendar
effects. ``score_one`` is pure; ``learn_one`` updates state and the alarm decision; ``snapshot``
returns JSON-serialisable state that :meth:`Detector.restore` turns back into an identical detector
(never pickle: state crosses process and version boundaries).

This package imports nothing from Kafka, Faust, Prometheus or the rest of plumbline.
"""

from __future__ import annotations

import abc
import math
from typing import Any, ClassVar, Self

__all__ = [
    "REGISTRY",
    "Detector",
    "from_json_float",
    "register",
    "signals_of",
    "timestamp_of",
    "to_json_float",
    "value_of",
]

REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: add a detector to the registry under ``cls.name``."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"detector name {cls.name!r} is already registered")
    REGISTRY[cls.name] = cls
    return cls


def value_of(x: dict[str, float]) -> float:
    """The univariate value of an observation; NaN when it is missing or not a number."""
    value = x.get("value")
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def timestamp_of(x: dict[str, float]) -> float | None:
    """``x["timestamp"]`` as POSIX seconds, or None when it is absent or not a finite number."""
    timestamp = x.get("timestamp")
    if timestamp is None or isinstance(timestamp, bool):
        return None
    try:
        seconds = float(timestamp)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) else None


def signals_of(x: dict[str, float]) -> dict[str, float]:
    """The named signals of a multivariate observation: every key but ``timestamp``, as floats.

    Values that are missing or not numbers become NaN, so a detector sees the hole instead of a
    made-up value.
    """
    signals: dict[str, float] = {}
    for key, raw in x.items():
        if key == "timestamp":
            continue
        signals[key] = value_of({"value": raw})
    return signals


def to_json_float(value: float) -> float | str | None:
    """A float as JSON can carry it: NaN becomes None and infinities become ``"inf"``/``"-inf"``."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def from_json_float(value: float | str | None) -> float:
    """The inverse of :func:`to_json_float`."""
    if value is None:
        return math.nan
    return float(value)


class Detector(abc.ABC):
    """Base class of every plumbline detector.

    Scores are documented per detector; ``alarm`` is the detector's own decision after the last
    ``learn_one``. Missing or non-finite values must neither raise nor corrupt state.
    """

    name: ClassVar[str]
    #: True for detectors that read a dict of named signals instead of ``x["value"]``.
    multivariate: ClassVar[bool] = False

    @abc.abstractmethod
    def learn_one(self, x: dict[str, float]) -> None:
        """Update the state with one observation."""

    @abc.abstractmethod
    def score_one(self, x: dict[str, float]) -> float:
        """Score one observation against the current state, without changing it."""

    @property
    @abc.abstractmethod
    def alarm(self) -> bool:
        """The alarm decision after the last ``learn_one``."""

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """The constructor's hyper-parameters, JSON-serialisable."""

    @abc.abstractmethod
    def _state(self) -> dict[str, Any]:
        """The learned state, JSON-serialisable."""

    @abc.abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore learned state produced by ``_state``."""

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to rebuild this detector: name, parameters and state (JSON-safe)."""
        return {"detector": self.name, "params": self.params(), "state": self._state()}

    @classmethod
    def restore(cls, snapshot: dict[str, Any]) -> Self:
        """Rebuild a detector from :meth:`snapshot`; later scores equal the original's."""
        if snapshot.get("detector") != cls.name:
            raise ValueError(f"snapshot is for {snapshot.get('detector')!r}, not {cls.name!r}")
        detector = cls(**snapshot["params"])
        detector._set_state(snapshot["state"])
        return detector

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"
