"""The same engines without Kafka: prints in publication order in, signals and alerts out.

This is what backtests and evaluations run, and what the streaming tests compare against: the
very objects the Faust agents use, fed in the same order, so a replay through Kafka and an
in-process run of the same window must give the same alerts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from plumbline.records import Alert, Print, Signal
from streams.config import INDEX_SIGNAL, DetectorSpec
from streams.engine import FundingEngine
from streams.index import IndexEngine

__all__ = ["InProcessRun", "run_in_process"]


@dataclasses.dataclass
class InProcessRun:
    """Everything a run produced, in order, and the engines at the end."""

    signals: list[Signal]
    alerts: list[Alert]
    engine: FundingEngine
    index: IndexEngine | None


def run_in_process(prints: Iterable[Print], plan: dict[str, list[DetectorSpec]]) -> InProcessRun:
    """Feed ``prints`` (publication order) through one engine and the composite index."""
    engine = FundingEngine(plan)
    index = IndexEngine(plan[INDEX_SIGNAL][0]) if plan.get(INDEX_SIGNAL) else None
    signals: list[Signal] = []
    alerts: list[Alert] = []
    for record in prints:
        outcome = engine.handle_print(record)
        signals += outcome.signals
        alerts += outcome.alerts
        if index is not None:
            for signal in outcome.signals:
                index.add(signal, 0.0)
            # No wall clock here: a date is computed once every partition group has moved past it.
            drained = index.drain(0.0)
            signals += drained.signals
            alerts += drained.alerts
        engine.changes.__init__()  # type: ignore[misc]  # nothing to checkpoint in process
    if index is not None:
        drained = index.drain(math.inf)
        signals += drained.signals
        alerts += drained.alerts
    return InProcessRun(signals, alerts, engine, index)
