"""The pipeline's logic, free of Kafka and Faust: bytes in, records out.

Agents in :mod:`streams.app` are thin: they hand each message to :class:`FundingPipeline` and send
what it returns. Tests drive this class directly, and through Faust's ``test_context``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from detectors import PersistenceThreshold
from detectors.base import Detector
from plumbline.catalogue import SERIES
from plumbline.records import Alert, DeadLetter, Print, RecordError, Signal
from plumbline.settings import Settings
from streams.spread import SofrPolicySpread

__all__ = ["DetectorState", "FundingPipeline", "Outcome", "SeriesState"]

log = logging.getLogger(__name__)

_EPOCH = dt.date(1970, 1, 1)


def date_timestamp_seconds(day: dt.date) -> float:
    """POSIX seconds of UTC midnight of ``day`` (the observation time exported to Prometheus)."""
    return float((day - _EPOCH).days * 86400)


@dataclasses.dataclass
class Outcome:
    """What one input message produced."""

    signals: list[Signal] = dataclasses.field(default_factory=list)
    alerts: list[Alert] = dataclasses.field(default_factory=list)
    dead_letters: list[DeadLetter] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class SeriesState:
    """The newest print seen of one series (what the metrics show)."""

    value: float
    observation_date: dt.date
    vintage: int


@dataclasses.dataclass
class DetectorState:
    """One detector on one signal, with what the metrics and alerts need to know of it."""

    signal: str
    detector: Detector
    severity: str
    score: float = 0.0
    last_date: dt.date | None = None
    last_value: float = float("nan")
    replay: bool = False
    episode_start: dt.date | None = None


class FundingPipeline:
    """Validate prints, derive signals, run detectors and decide alerts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.series: dict[str, SeriesState] = {}
        self.signals: dict[str, Signal] = {}
        self.spread = SofrPolicySpread()
        self.detectors: dict[tuple[str, str], DetectorState] = {}
        threshold = PersistenceThreshold(
            enter_level=settings.spread_enter_level_bp,
            exit_level=settings.spread_exit_level_bp,
            k=settings.spread_window_k,
            n=settings.spread_window_n,
            max_gap_seconds=settings.spread_max_gap_days * 86400.0,
        )
        self._add_detector(self.spread.signal_id, threshold, severity="warning")
        self.skipped_late_total = 0

    def _add_detector(self, signal: str, detector: Detector, severity: str) -> None:
        self.detectors[(signal, detector.name)] = DetectorState(signal, detector, severity)

    def dead_letter(self, topic: str, payload: bytes, error: RecordError) -> DeadLetter:
        """A dead-letter record for ``payload`` that failed with ``error``."""
        return DeadLetter(
            topic=topic,
            reason=error.reason,
            error=error.message,
            payload=payload.decode("utf-8", errors="replace")[:4096],
            received_at=dt.datetime.now(dt.UTC),
        )

    def handle_print_bytes(self, payload: bytes) -> Outcome:
        """Process one message from the prints topic. Never raises on bad input."""
        try:
            record = Print.from_json(payload)
        except RecordError as exc:
            log.warning("dead-lettered a message on %s: %s", self.settings.topic_prints, exc)
            return Outcome(dead_letters=[self.dead_letter(self.settings.topic_prints, payload, exc)])
        return self.handle_print(record)

    def handle_print(self, record: Print) -> Outcome:
        """Process one validated print."""
        outcome = Outcome()
        current = self.series.get(record.series_id)
        if current is None or (record.observation_date, record.vintage) >= (
            current.observation_date,
            current.vintage,
        ):
            self.series[record.series_id] = SeriesState(record.value, record.observation_date, record.vintage)
        if record.series_id in self.spread.inputs:
            for signal in self.spread.on_print(record):
                outcome.signals.append(signal)
                outcome.alerts.extend(self._detect(signal))
        return outcome

    def _detect(self, signal: Signal) -> list[Alert]:
        latest = self.signals.get(signal.signal_id)
        if latest is None or signal.observation_date >= latest.observation_date:
            self.signals[signal.signal_id] = signal
        alerts: list[Alert] = []
        for state in self.detectors.values():
            if state.signal != signal.signal_id:
                continue
            if state.last_date is not None and signal.observation_date <= state.last_date:
                # Detectors learn each date once, in date order; corrections and late prints update the
                # signal's value but cannot rewrite what the detector already learned.
                self.skipped_late_total += 1
                continue
            x = {"value": signal.value, "timestamp": date_timestamp_seconds(signal.observation_date)}
            was_alarm = state.detector.alarm
            state.score = state.detector.score_one(x)
            state.detector.learn_one(x)
            state.last_date = signal.observation_date
            state.last_value = signal.value
            state.replay = signal.replay
            if state.detector.alarm != was_alarm:
                alerts.append(self._alert(state, signal, firing=state.detector.alarm))
        return alerts

    def _alert(self, state: DetectorState, signal: Signal, firing: bool) -> Alert:
        if firing:
            state.episode_start = signal.observation_date
        started = state.episode_start or signal.observation_date
        explanation: dict[str, Any] = {
            "rule": (
                f"{state.signal} >= {self.settings.spread_enter_level_bp} bp on at least "
                f"{self.settings.spread_window_k} of the last {self.settings.spread_window_n} business days"
            ),
            "inputs": signal.inputs,
            "episode_start": started.isoformat(),
        }
        return Alert(
            fingerprint=Alert.make_fingerprint(state.signal, state.detector.name, started),
            state="firing" if firing else "resolved",
            severity=state.severity,  # type: ignore[arg-type]
            signal=state.signal,
            detector=state.detector.name,
            value=signal.value,
            score=state.score,
            explanation=explanation,
            observation_date=signal.observation_date,
            published_at=signal.published_at,
            replay=signal.replay,
        )

    @staticmethod
    def known_series() -> tuple[str, ...]:
        """Series ids the metrics may use as label values (the catalogue)."""
        return tuple(SERIES)
