"""The composite funding-stress index, over signals from every partition.

Signals reach the index agent from several partitions, which several workers may process at
different speeds. To give the same index whatever the interleaving, the vector for date D uses
only signal values *published* by the time D's clock signal (SOFR - IORB) was published, and D is
computed only once every prints partition that feeds the index has moved past that time (its
watermark). After ``grace_seconds`` of wall time a date passes over the partitions that have been
silent that long (live operation, where a weekly source is idle for days, or a data hole); a
partition still sending is waited for, up to ``max_wait_seconds``, since its inputs would change
the date (a replay at full speed skews partitions by seconds).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import math
from typing import Any

from foundation.calendar import observation_at
from foundation.catalogue import INDEX_SIGNAL, SIGNALS, signal_partitions
from foundation.records import Alert, Signal
from streams.config import DetectorSpec
from streams.engine import DetectorState, Outcome, alert_for, learn

__all__ = ["CLOCK_SIGNAL", "IndexEngine"]

CLOCK_SIGNAL = "sofr_iorb_spread_bp"
#: An input older than this (calendar days before D) is left out of D's vector.
MAX_INPUT_AGE_DAYS = 16
_HISTORY_FLOOR = 8  # values always kept per signal, whatever their age
_HISTORY_BEFORE_CLOCK = 5000  # values kept per signal before the first clock date (years of dailies)


@dataclasses.dataclass(order=True)
class _Pending:
    published_at: dt.datetime
    day: dt.date
    arrived_monotonic: float = dataclasses.field(compare=False)
    replay: bool = dataclasses.field(compare=False, default=False)


class IndexEngine:
    """Feeds the ``funding_stress_index`` detector one vector per clock date."""

    def __init__(self, spec: DetectorSpec, grace_seconds: float = 3.0, partitions: int = 1) -> None:
        """``partitions``: of the prints topic, whose partitions each hold a watermark."""
        self.state = DetectorState(spec, spec.build())
        params = spec.params.get("min_scales")
        self.inputs: frozenset[str] = frozenset(params) if params else frozenset(SIGNALS) - {INDEX_SIGNAL}
        self.grace_seconds = grace_seconds
        # A partition still sending but behind (a replay's skew, a rebuild) is waited for up to this
        # long; only one that has been silent for the grace period is passed over sooner.
        self.max_wait_seconds = max(60.0, 20 * grace_seconds)
        self._heard: dict[int, float] = {}  # partition -> monotonic time its last signal arrived
        self._partition_of = signal_partitions(partitions)
        # Every partition computing an input waits to be past a date, also one not heard from yet:
        # at the start of a stream one partition's signals can arrive well before another's.
        self.feeding = frozenset(
            self._partition_of[s] for s in self.inputs | {CLOCK_SIGNAL} if s in self._partition_of
        )
        # signal -> sorted [(published_at, date, value)]
        self.history: dict[str, list[tuple[dt.datetime, dt.date, float]]] = {}
        self.watermarks: dict[int, dt.datetime] = {}
        self.pending: list[_Pending] = []
        self.signal: Signal | None = None
        self.contributions: dict[str, float] = {}
        self.released_by_grace = 0

    def _group(self, signal_id: str) -> int:
        return self._partition_of[signal_id]

    def add(self, signal: Signal, now_monotonic: float) -> None:
        """Take one signal from the index-inputs topic (in any order across partitions)."""
        if signal.signal_id not in self.inputs and signal.signal_id != CLOCK_SIGNAL:
            return
        group = self._group(signal.signal_id)
        self._heard[group] = now_monotonic
        rows = self.history.setdefault(signal.signal_id, [])
        if (signal.published_at, signal.observation_date, signal.value) in rows:
            return  # a redelivery (outputs are at-least-once)
        # A signal derived from a late print claims an older publication time than its partition
        # has already moved past; it counts as published when its partition reached it. Each
        # partition's times then only go up, so which values a date's vector holds depends on each
        # partition's own order, never on how the partitions interleave (with the claimed time, a
        # late value was in or out of a date depending on the other partitions' progress). Signals
        # of prints in publication order are never late: their times are unchanged.
        published = max(signal.published_at, self.watermarks.get(group, signal.published_at))
        self.watermarks[group] = published
        bisect.insort(rows, (published, signal.observation_date, signal.value))
        self._prune(rows)
        if (
            signal.signal_id == CLOCK_SIGNAL
            and (self.state.last_date is None or signal.observation_date > self.state.last_date)
            and all(p.day != signal.observation_date for p in self.pending)
        ):
            bisect.insort(
                self.pending,
                _Pending(published, signal.observation_date, now_monotonic, signal.replay),
            )

    def restart_grace(self, now_monotonic: float) -> None:
        """Count every pending date's grace period from ``now`` (the inputs stalled until now)."""
        for pending in self.pending:
            pending.arrived_monotonic = now_monotonic
        self._heard = dict.fromkeys(self.feeding, now_monotonic)

    def _prune(self, rows: list[tuple[dt.datetime, dt.date, float]]) -> None:
        # Keep what a pending date may still need: a partition running far ahead must not push
        # out the values an older pending date will be computed from (memory stays bounded by the
        # span of pending dates, which the grace period bounds in time).
        # Before the first clock date, any date may still come: a partition that starts ahead of
        # the clock's must keep its values (pruning them by their own newest date changed the
        # first vectors, and through the detector's baselines the index for months). Bounded still.
        if self.pending:
            horizon = self.pending[0].day
        elif self.state.last_date is not None:
            horizon = self.state.last_date
        else:
            del rows[: max(0, len(rows) - _HISTORY_BEFORE_CLOCK)]
            return
        cutoff = horizon - dt.timedelta(days=MAX_INPUT_AGE_DAYS + 1)
        stale = 0
        while stale < len(rows) - _HISTORY_FLOOR and rows[stale][1] < cutoff:
            stale += 1
        del rows[:stale]

    def drain(self, now_monotonic: float) -> Outcome:
        """Compute every pending date that is ready, oldest publication first."""
        outcome = Outcome()
        while self.pending:
            head = self.pending[0]
            behind = [
                p for p in self.feeding if p not in self.watermarks or self.watermarks[p] <= head.published_at
            ]
            ready = not behind
            if not ready:
                waited = now_monotonic - head.arrived_monotonic
                if waited < self.grace_seconds:
                    break
                # Past the grace period, pass over only partitions that are silent (idle in live
                # operation: a weekly source); one still sending is behind, and its inputs would
                # change the date (a replay at full speed skews partitions by seconds).
                silent = all(
                    now_monotonic - self._heard.get(p, -math.inf) >= self.grace_seconds for p in behind
                )
                if not silent and waited < self.max_wait_seconds:
                    break
            self.pending.pop(0)
            if self.state.last_date is not None and head.day <= self.state.last_date:
                # A late clock date behind one computed before it: dates are learned once, in date
                # order. Checked here, not only on arrival, so that whether it is computed does
                # not depend on whether the later date happened to be computed when it arrived.
                continue
            if not ready:
                self.released_by_grace += 1
            signal, alert = self._compute(head)
            if signal is not None:
                outcome.signals.append(signal)
            if alert is not None:
                outcome.alerts.append(alert)
        return outcome

    def _vector(self, head: _Pending) -> tuple[dict[str, float], dict[str, str]]:
        x: dict[str, float] = {}
        used: dict[str, str] = {}
        oldest = head.day - dt.timedelta(days=MAX_INPUT_AGE_DAYS)
        for signal_id, rows in self.history.items():
            if signal_id not in self.inputs:
                continue
            for published, day, value in reversed(rows):
                if published <= head.published_at and oldest <= day <= head.day:
                    x[signal_id] = value
                    used[signal_id] = day.isoformat()
                    break
        return x, used

    def _compute(self, head: _Pending) -> tuple[Signal | None, Alert | None]:
        x, used = self._vector(head)
        if not x:
            return None, None
        x = observation_at(head.day, x)
        contributions = getattr(self.state.detector, "contributions", None)
        explained: dict[str, float] = contributions(x) if callable(contributions) else {}
        probe = Signal(INDEX_SIGNAL, head.day, 0.0, "index", used, head.published_at, head.replay)
        changed = learn(self.state, probe, x)
        score = self.state.score
        signal = dataclasses.replace(probe, value=0.0 if math.isnan(score) else round(score, 9))
        self.signal = signal
        self.contributions = {k: float(v) for k, v in explained.items()}
        if not changed:
            return signal, None
        top = dict(sorted(self.contributions.items(), key=lambda kv: -kv[1])[:5])
        return signal, alert_for(self.state, signal, {"contributions": top, "inputs": used})

    # -- checkpoint ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """JSON-safe state (detector snapshot, history, watermarks, pending dates)."""
        return {
            "detector": self.state.to_json(),
            "history": {
                k: [[p.isoformat(), d.isoformat(), v] for p, d, v in rows] for k, rows in self.history.items()
            },
            "watermarks": {k: v.isoformat() for k, v in self.watermarks.items()},
            "pending": [[p.published_at.isoformat(), p.day.isoformat(), p.replay] for p in self.pending],
            "signal": self.signal.to_dict() if self.signal else None,
            "contributions": self.contributions,
        }

    def restore(self, data: dict[str, Any], now_monotonic: float) -> None:
        """Load :meth:`to_json` state; pending dates restart their grace period now."""
        self.state = DetectorState.from_json(self.state.spec, data["detector"])
        self.history = {
            k: [(dt.datetime.fromisoformat(p), dt.date.fromisoformat(d), float(v)) for p, d, v in rows]
            for k, rows in data["history"].items()
        }
        # Keys are prints partitions (JSON makes them strings); a checkpoint from before signals were
        # partitioned has group names, whose watermarks the next inputs set again.
        self.watermarks = {
            int(k): dt.datetime.fromisoformat(v) for k, v in data["watermarks"].items() if k.isdigit()
        }
        self.pending = [
            _Pending(dt.datetime.fromisoformat(p), dt.date.fromisoformat(d), now_monotonic, bool(r))
            for p, d, r in data["pending"]
        ]
        self.signal = Signal.from_json(data["signal"]) if data["signal"] else None
        self.contributions = data["contributions"]
        self._heard = dict.fromkeys(self.feeding, now_monotonic)
