"""The pipeline's logic, free of Kafka and Faust: prints in, signals and alerts out.

:class:`FundingEngine` keeps, for one partition of the prints topic, every observation it needs
(bounded by :data:`RETAIN_DAYS`), derives the signals of the catalogue (``foundation/catalogue.py``)
as of each date, and runs each signal's detectors once per observation date, in date order. Processing is
idempotent: an exact repeat changes nothing and emits nothing, so replays after a restart or a
broker loss never count twice. Every change is recorded in :attr:`FundingEngine.changes` so the
checkpoint store can persist exactly what changed, in the same transaction as the outputs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from collections.abc import Collection, Iterable
from typing import Any

from detectors.base import Detector
from foundation.calendar import observation_at
from foundation.catalogue import (
    DERIVED_SIGNALS,
    INDEX_SIGNAL,
    RESERVES_RATE,
    SIGNALS,
    SignalSpec,
    reserves_rate_in_force,
)
from foundation.records import Alert, DeadLetter, Print, RecordError, Signal
from streams.config import DetectorSpec

__all__ = [
    "RETAIN_DAYS",
    "Changes",
    "DetectorState",
    "FundingEngine",
    "Observation",
    "Outcome",
    "dead_letter",
]

log = logging.getLogger(__name__)

#: Observations older than this, relative to the newest of their series, are dropped (memory bound).
RETAIN_DAYS = 400


def dead_letter(topic: str, payload: bytes, error: RecordError) -> DeadLetter:
    """A dead-letter record for ``payload`` from ``topic`` that failed with ``error`` (payload truncated)."""
    return DeadLetter.of(topic, payload, error, dt.datetime.now(dt.UTC))


@dataclasses.dataclass
class Observation:
    """One accepted print of one series for one date (the newest vintage)."""

    value: float
    vintage: int
    replay: bool
    published_at: dt.datetime


@dataclasses.dataclass
class Outcome:
    """What one input message produced."""

    signals: list[Signal] = dataclasses.field(default_factory=list)
    alerts: list[Alert] = dataclasses.field(default_factory=list)
    dead_letters: list[DeadLetter] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class DetectorState:
    """One detector on one signal, with what metrics and alerts need to know of it."""

    spec: DetectorSpec
    detector: Detector
    score: float = math.nan
    last_date: dt.date | None = None
    replay: bool = False
    episode_start: dt.date | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-safe state for the checkpoint (the detector's own snapshot inside)."""
        return {
            "snapshot": self.detector.snapshot(),
            "score": None if math.isnan(self.score) else self.score,
            "last_date": self.last_date.isoformat() if self.last_date else None,
            "replay": self.replay,
            "episode_start": self.episode_start.isoformat() if self.episode_start else None,
        }

    @classmethod
    def from_json(cls, spec: DetectorSpec, data: dict[str, Any]) -> DetectorState:
        """Rebuild from :meth:`to_json`; a snapshot of other parameters is discarded (fresh detector)."""
        detector = spec.build()
        if data["snapshot"].get("params") == detector.params():
            detector = type(detector).restore(data["snapshot"])
        else:
            log.warning("detector %s/%s parameters changed: starting it fresh", spec.signal, spec.name)
            return cls(spec, detector)
        return cls(
            spec,
            detector,
            math.nan if data["score"] is None else float(data["score"]),
            dt.date.fromisoformat(data["last_date"]) if data["last_date"] else None,
            bool(data["replay"]),
            dt.date.fromisoformat(data["episode_start"]) if data["episode_start"] else None,
        )


@dataclasses.dataclass
class Changes:
    """Keys changed since the last checkpoint."""

    observations: set[tuple[str, dt.date]] = dataclasses.field(default_factory=set)
    emitted: set[tuple[str, dt.date]] = dataclasses.field(default_factory=set)
    detectors: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    signals: set[str] = dataclasses.field(default_factory=set)


def detector_key(spec: DetectorSpec) -> tuple[str, str]:
    """The (signal, detector) key of a detector."""
    return (spec.signal, spec.name)


def alert_for(state: DetectorState, signal: Signal, explanation: dict[str, Any]) -> Alert:
    """The alert of a detector whose alarm just changed on ``signal``."""
    firing = state.detector.alarm
    if firing:
        state.episode_start = signal.observation_date
    started = state.episode_start or signal.observation_date
    return Alert(
        fingerprint=Alert.make_fingerprint(state.spec.signal, state.spec.name, started),
        state="firing" if firing else "resolved",
        severity=state.spec.severity,
        signal=state.spec.signal,
        detector=state.spec.name,
        value=signal.value,
        score=0.0 if math.isnan(state.score) else state.score,
        explanation={"episode_start": started.isoformat(), **explanation},
        observation_date=signal.observation_date,
        published_at=signal.published_at,
        replay=signal.replay,
    )


def learn(state: DetectorState, signal: Signal, x: dict[str, float]) -> bool:
    """Score and learn one observation; True when the alarm changed. Dates are learned once, in order."""
    if state.last_date is not None and signal.observation_date <= state.last_date:
        return False
    was_alarm = state.detector.alarm
    state.score = state.detector.score_one(x)
    state.detector.learn_one(x)
    state.last_date = signal.observation_date
    state.replay = signal.replay
    return state.detector.alarm != was_alarm


class FundingEngine:
    """Derive signals and run detectors for the prints of one partition."""

    def __init__(
        self,
        plan: dict[str, list[DetectorSpec]],
        topic: str = "prints",
        signals: Collection[str] | None = None,
    ) -> None:
        """``signals``: the derived signals this engine computes (its partition's); all by default."""
        self.topic = topic
        definitions = [d for d in DERIVED_SIGNALS if signals is None or d.id in signals]
        self.observations: dict[str, dict[dt.date, Observation]] = {}
        self.emitted: dict[str, dict[dt.date, float]] = {}
        self.signals: dict[str, Signal] = {}
        self.detectors: dict[tuple[str, str], DetectorState] = {
            detector_key(spec): DetectorState(spec, spec.build())
            for signal, specs in plan.items()
            if signal != INDEX_SIGNAL and (signals is None or signal in signals)
            for spec in specs
        }
        self._detectors_by_signal: dict[str, list[DetectorState]] = {}
        for state in self.detectors.values():
            self._detectors_by_signal.setdefault(state.spec.signal, []).append(state)
        self._by_driver: dict[str, list[SignalSpec]] = {}
        self._by_input: dict[str, list[tuple[SignalSpec, int, int]]] = {}
        for definition in definitions:
            self._by_driver.setdefault(definition.driver, []).append(definition)
            for joined in definition.joins:
                self._by_input.setdefault(joined.series, []).append(
                    (definition, joined.lag_days, joined.lag_days + joined.max_age_days)
                )
        self.late_signals: dict[str, int] = {}
        self.changes = Changes()

    def restore_detector(self, state: DetectorState) -> None:
        """Replace a configured detector's state (from a checkpoint); unconfigured ones are ignored."""
        key = detector_key(state.spec)
        old = self.detectors.get(key)
        if old is None:
            return
        self.detectors[key] = state
        peers = self._detectors_by_signal[state.spec.signal]
        peers[peers.index(old)] = state

    # -- input -----------------------------------------------------------------------------------

    def handle_print_bytes(self, payload: bytes) -> Outcome:
        """Process one message of the prints topic. Never raises on bad input."""
        try:
            record = Print.from_json(payload)
        except RecordError as exc:
            log.warning("dead-lettered a message on %s: %s", self.topic, exc)
            return Outcome(dead_letters=[dead_letter(self.topic, payload, exc)])
        return self.handle_print(record)

    def handle_print(self, record: Print) -> Outcome:
        """Process one validated print: store it, derive what it completes or corrects, detect."""
        outcome = Outcome()
        changed = [record.series_id] if self._store(record.series_id, record) else []
        in_force = reserves_rate_in_force(record.series_id, record.observation_date)
        if in_force and self._store(RESERVES_RATE, record):
            changed.append(RESERVES_RATE)
        for series_id in changed:
            for signal in self._derive(series_id, record.observation_date):
                outcome.signals.append(signal)
                outcome.alerts.extend(self._detect(signal))
        return outcome

    def _store(self, series_id: str, record: Print) -> bool:
        table = self.observations.setdefault(series_id, {})
        known = table.get(record.observation_date)
        if known is not None and (known.value == record.value or record.vintage < known.vintage):
            return False  # an exact repeat, or an older vintage arriving late: nothing changes
        table[record.observation_date] = Observation(
            record.value, record.vintage, record.replay, record.published_at
        )
        self.changes.observations.add((series_id, record.observation_date))
        self._prune(series_id, table)
        return True

    def _prune(self, series_id: str, table: dict[dt.date, Observation]) -> None:
        # Pruned in steps (a tenth over the bound), not on every print: each pass scans the table.
        if len(table) <= RETAIN_DAYS + RETAIN_DAYS // 10:
            return
        cutoff = max(table) - dt.timedelta(days=RETAIN_DAYS)
        for day in [d for d in table if d < cutoff]:
            del table[day]
            self.changes.observations.add((series_id, day))

    # -- derivation ------------------------------------------------------------------------------

    def _derive(self, series_id: str, day: dt.date) -> Iterable[Signal]:
        """Signals completed or corrected by a new observation of ``series_id`` on ``day``."""
        if series_id not in self._by_driver and series_id not in self._by_input:
            return []
        todo: dict[tuple[str, dt.date], SignalSpec] = {}
        for definition in self._by_driver.get(series_id, ()):
            todo[(definition.id, day)] = definition
        for definition, first, last in self._by_input.get(series_id, ()):
            driver = self.observations.get(definition.driver, {})
            for offset in range(first, last + 1):
                later = day + dt.timedelta(days=offset)
                if later in driver:
                    todo[(definition.id, later)] = definition
        out = []
        for (_, when), definition in sorted(todo.items(), key=lambda item: (item[0][1], item[0][0])):
            signal = self._compute(definition, when)
            if signal is not None:
                out.append(signal)
        return out

    def _as_of(self, series_id: str, day: dt.date, max_age_days: int) -> tuple[dt.date, Observation] | None:
        table = self.observations.get(series_id)
        if not table:
            return None
        for back in range(max_age_days + 1):
            when = day - dt.timedelta(days=back)
            observation = table.get(when)
            if observation is not None:
                return when, observation
        return None

    def _compute(self, definition: SignalSpec, day: dt.date) -> Signal | None:
        driver = self.observations[definition.driver][day]
        values = [driver.value]
        used = {definition.driver: day.isoformat()}
        published = driver.published_at
        for joined in definition.joins:
            found = self._as_of(joined.series, day - dt.timedelta(days=joined.lag_days), joined.max_age_days)
            if found is None:
                return None  # waits: the input's print will complete it
            when, observation = found
            values.append(observation.value)
            name = (
                joined.series
                if joined.series != definition.driver
                else f"{joined.series}@-{joined.lag_days}d"
            )
            used[name] = when.isoformat()
            published = max(published, observation.published_at)
        try:
            value = float(definition.compute(*values))  # type: ignore[misc]
        except ZeroDivisionError:
            return None
        if not math.isfinite(value):
            return None
        emitted = self.emitted.setdefault(definition.id, {})
        if emitted.get(day) == value:
            return None
        emitted[day] = value
        self.changes.emitted.add((definition.id, day))
        if len(emitted) > RETAIN_DAYS + RETAIN_DAYS // 10:  # in steps, as observations
            cutoff = max(emitted) - dt.timedelta(days=RETAIN_DAYS)
            for old in [d for d in emitted if d < cutoff]:
                del emitted[old]
                self.changes.emitted.add((definition.id, old))
        signal = Signal(
            signal_id=definition.id,
            observation_date=day,
            value=value,
            unit=SIGNALS[definition.id].unit,
            inputs=used,
            published_at=published,
            replay=driver.replay,
        )
        latest = self.signals.get(definition.id)
        if latest is None or day >= latest.observation_date:
            self.signals[definition.id] = signal
            self.changes.signals.add(definition.id)
        return signal

    # -- detection -------------------------------------------------------------------------------

    def _detect(self, signal: Signal) -> list[Alert]:
        alerts = []
        for state in self._detectors_by_signal.get(signal.signal_id, ()):
            if state.last_date is not None and signal.observation_date <= state.last_date:
                # Corrections and late prints update the signal but cannot rewrite what was learned.
                self.late_signals[signal.signal_id] = self.late_signals.get(signal.signal_id, 0) + 1
                continue
            x = observation_at(signal.observation_date, {"value": signal.value})
            changed = learn(state, signal, x)
            self.changes.detectors.add(detector_key(state.spec))
            if changed:
                alerts.append(
                    alert_for(state, signal, {"inputs": signal.inputs, "params": state.detector.params()})
                )
        return alerts

    # -- views for metrics -----------------------------------------------------------------------

    def latest_observations(self) -> dict[str, tuple[dt.date, Observation]]:
        """The newest observation of each real (catalogued) series."""
        out = {}
        for series_id, table in self.observations.items():
            if series_id != RESERVES_RATE and table:
                newest = max(table)
                out[series_id] = (newest, table[newest])
        return out
