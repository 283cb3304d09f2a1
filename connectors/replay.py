"""Replay history onto the prints topic in publication order, at an accelerated pace.

Each print is sent when it became known (``published_at`` from the catalogue: SOFR for day T on
T+1 at 08:00 New York, the rate on reserves at the start of its effective date), with the replay
flag set, so its alerts page nobody. ``speed`` is historic seconds per wall-clock second; ``None``
sends as fast as the broker takes them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from connectors.history import iter_publication_order, read_history
from connectors.producer import PrintProducer
from plumbline.records import Print

__all__ = ["ReplayPlan", "plan_replay", "run_replay"]

# Policy rates are step series: send a week before the window so the rate in force on its first day is known.
_POLICY_LEAD_DAYS = 7
_POLICY_SERIES = frozenset({"IORB", "IOER", "DFEDTARL", "DFEDTARU"})


@dataclasses.dataclass(frozen=True)
class ReplayPlan:
    """The prints of a replay, in the order they will be sent."""

    start: dt.date
    end: dt.date
    prints: tuple[Print, ...]


def plan_replay(data_dir: Path | None, series: Sequence[str], start: dt.date, end: dt.date) -> ReplayPlan:
    """Read the window's prints of ``series`` from the data directory, in publication order."""
    collected: list[Print] = []
    for series_id in series:
        first = start - dt.timedelta(days=_POLICY_LEAD_DAYS) if series_id in _POLICY_SERIES else start
        collected.extend(read_history(data_dir, series_id, first, end, replay=True))
    return ReplayPlan(start, end, tuple(iter_publication_order(collected)))


def run_replay(
    producer: PrintProducer,
    prints: Iterable[Print],
    speed: float | None,
    max_pause_seconds: float = 1.0,
    on_sent: Callable[[Print], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send ``prints`` (already in publication order), pausing by their publication gaps / ``speed``.

    Each print is flushed before the next pause, so the broker has it when ``on_sent`` is called.
    Returns the number of prints sent.
    """
    sent = 0
    previous: dt.datetime | None = None
    for record in prints:
        if speed is not None and previous is not None:
            gap_seconds = (record.published_at - previous).total_seconds() / speed
            if gap_seconds > 0:
                producer.flush()
                sleep(min(gap_seconds, max_pause_seconds))
        producer.send(record)
        previous = record.published_at
        sent += 1
        if on_sent is not None:
            producer.flush()
            on_sent(record)
    producer.flush()
    return sent
