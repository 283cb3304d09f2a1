"""The same engines without Kafka: prints in publication order in, signals and alerts out.

This is what backtests and evaluations run, and what the streaming tests compare against: the
very objects the Faust agents use, fed in the same order, so a replay through Kafka and an
in-process run of the same window must give the same alerts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable

from foundation.catalogue import INDEX_SIGNAL
from foundation.records import Alert, Print, Signal
from streams.config import DetectorSpec
from streams.engine import Changes, DetectorState, FundingEngine, Outcome
from streams.index import IndexEngine

__all__ = ["DetectorPoint", "InProcessRun", "run_in_process"]


@dataclasses.dataclass(frozen=True)
class DetectorPoint:
    """What one detector said about one observation date, right after learning it (for reports)."""

    signal: str
    detector: str
    observation_date: dt.date
    score: float
    alarm: bool


@dataclasses.dataclass
class InProcessRun:
    """Everything a run produced, in order, and the engines at the end."""

    signals: list[Signal]
    alerts: list[Alert]
    engine: FundingEngine
    index: IndexEngine | None
    #: Every detector's score and alarm per learned date (only with ``trace=True``).
    points: list[DetectorPoint] = dataclasses.field(default_factory=list)


def _point(state: DetectorState) -> DetectorPoint:
    assert state.last_date is not None
    return DetectorPoint(
        state.spec.signal, state.spec.name, state.last_date, state.score, bool(state.detector.alarm)
    )


def run_in_process(
    prints: Iterable[Print], plan: dict[str, list[DetectorSpec]], *, trace: bool = False, partitions: int = 1
) -> InProcessRun:
    """Feed ``prints`` (publication order) through one engine and the composite index.

    With ``trace``, :attr:`InProcessRun.points` records each detector's score and alarm on every
    date it learned (read from the engines after each print; it changes nothing in them).
    """
    engine = FundingEngine(plan)
    # ``partitions``: of the prints topic. The index follows each partition's signals apart (its
    # watermark); with prints in publication order the result is the same for any count.
    index = IndexEngine(plan[INDEX_SIGNAL][0], partitions=partitions) if plan.get(INDEX_SIGNAL) else None
    signals: list[Signal] = []
    alerts: list[Alert] = []
    points: list[DetectorPoint] = []
    by_signal: dict[str, list[DetectorState]] = {}
    for state in engine.detectors.values():
        by_signal.setdefault(state.spec.signal, []).append(state)
    index_alarm = False
    for record in prints:
        outcome = engine.handle_print(record)
        signals += outcome.signals
        alerts += outcome.alerts
        if trace:
            for signal in outcome.signals:
                for state in by_signal.get(signal.signal_id, ()):
                    if state.last_date == signal.observation_date:
                        points.append(_point(state))
        if index is not None:
            for signal in outcome.signals:
                index.add(signal, 0.0)
            # No wall clock here: a date is computed once every prints partition has moved past it.
            drained = index.drain(0.0)
            signals += drained.signals
            alerts += drained.alerts
            if trace:
                index_alarm = _index_points(index, drained, index_alarm, points)
        engine.changes = Changes()  # nothing to checkpoint in process
    if index is not None:
        drained = index.drain(math.inf)
        signals += drained.signals
        alerts += drained.alerts
        if trace:
            _index_points(index, drained, index_alarm, points)
    return InProcessRun(signals, alerts, engine, index, points)


def _index_points(index: IndexEngine, drained: Outcome, alarm: bool, points: list[DetectorPoint]) -> bool:
    # One drain may compute several dates: each date's score is its signal, its alarm the last alert.
    for signal in drained.signals:
        for alert in drained.alerts:
            if alert.observation_date == signal.observation_date:
                alarm = alert.state == "firing"
        name = index.state.spec.name
        points.append(DetectorPoint(INDEX_SIGNAL, name, signal.observation_date, signal.value, alarm))
    return alarm
