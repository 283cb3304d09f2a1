"""The detector contract, compatible with River's anomaly API.

A detector is a small class whose constructor takes hyper-parameters only, each stored under an
attribute of the same name (:meth:`Detector.params` reads them back, as River does). It reads one
observation at a time as a dict of floats, River style: univariate detectors read ``x["value"]``;
an optional ``x["timestamp"]`` (POSIX seconds of the observation date) lets a detector see gaps.
Calendar effects are not computed here: the pipeline hands them in as features, one key
``calendar_<effect>`` with value 1.0 per effect of the observation date (:data:`CALENDAR_FEATURE_PREFIX`,
:func:`calendar_effects_of`). ``score_one`` is pure; ``learn_one`` updates state and the alarm
decision; ``snapshot`` returns JSON-serialisable state that :meth:`Detector.restore` turns back into
an identical detector (never pickle: state crosses process and version boundaries).

This package imports nothing from Kafka, Faust, Prometheus or the rest of plumbline.

>>> sorted(calendar_effects_of({"value": 12.0, "calendar_coupon_settlement": 1.0, "calendar_tax_date": 1.0}))
['coupon_settlement', 'tax_date']
>>> signals_of({"spread_bp": 12.0, "timestamp": 1568678400.0, "calendar_tax_date": 1.0})
{'spread_bp': 12.0}
"""

from __future__ import annotations

import abc
import copy
import functools
import inspect
import math
from typing import Any, ClassVar, Self

__all__ = [
    "CALENDAR_FEATURE_PREFIX",
    "Detector",
    "calendar_effects_of",
    "from_json_float",
    "signals_of",
    "timestamp_of",
    "to_json_float",
    "value_of",
]

#: The contract with the pipeline: ``x["calendar_<effect>"] = 1.0`` when the observation date has
#: that calendar effect (``month_end``, ``quarter_end``, ``year_end``, ``coupon_settlement``,
#: ``tax_date``). The pipeline's calendar (``foundation/calendar.py``, which detectors never import)
#: writes the same prefix; that string is the whole interface between the two.
CALENDAR_FEATURE_PREFIX = "calendar_"


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


def calendar_effects_of(x: dict[str, float]) -> frozenset[str]:
    """The calendar effects handed in with ``x``: names of the ``calendar_*`` keys whose value is true.

    An observation without calendar keys has no effects, so a detector fed plain ``{"value": v}``
    dicts behaves as if every day were ordinary.
    """
    return frozenset(
        key[len(CALENDAR_FEATURE_PREFIX) :]
        for key, flag in x.items()
        if key.startswith(CALENDAR_FEATURE_PREFIX) and flag
    )


def signals_of(x: dict[str, float]) -> dict[str, float]:
    """The named signals of a multivariate observation, as floats.

    Every key but ``timestamp`` and the ``calendar_*`` features (context about the date, not
    signals). Values that are missing or not numbers become NaN, so a detector sees the hole
    instead of a made-up value.
    """
    signals: dict[str, float] = {}
    for key, raw in x.items():
        if key == "timestamp" or key.startswith(CALENDAR_FEATURE_PREFIX):
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


@functools.cache
def _parameter_names(cls: type) -> tuple[str, ...]:
    # Cached per class: snapshots are taken on every checkpoint, and reading a signature is slow.
    signature = inspect.signature(cls.__init__)  # type: ignore[misc]
    return tuple(
        name
        for name, parameter in signature.parameters.items()
        if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    )


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

    def params(self) -> dict[str, Any]:
        """The constructor's hyper-parameters, read back from the attributes of the same name.

        Derived from the signature of ``__init__`` as River's ``_get_params`` does, so the list of
        hyper-parameters is written once. Every constructor therefore stores each argument under
        its own name (derived values go to private attributes) as a JSON-serialisable value, and
        ``type(self)(**self.params())`` rebuilds an identical untrained detector. The values are
        copies: changing the returned dict does not change the detector.
        """
        return {name: copy.deepcopy(getattr(self, name)) for name in _parameter_names(type(self))}

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
