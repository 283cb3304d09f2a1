"""The composite index equals the in-process run whatever the order its partitions' signals arrive in.

Each prints partition computes its own signals (foundation.catalogue.signal_partitions), and the
index agent receives them interleaved in any order across partitions: here the two extremes, one
partition's whole stream before the other's, and the round-robin in between.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest

from connectors.history import iter_publication_order, read_history
from foundation.catalogue import INDEX_SIGNAL, partition_signals, print_partitions
from foundation.catalogue import signal_partitions as signal_partitions_of
from foundation.records import Print, Signal
from foundation.settings import Settings
from streams.config import detector_plan
from streams.engine import FundingEngine
from streams.index import IndexEngine
from streams.inprocess import run_in_process

SERIES = ("SOFR", "SOFR99", "IOER", "IORB", "EFFR", "TGCR", "DFEDTARL", "DFEDTARU", "RRPONTSYD", "WRESBAL",
          "WDTGAL")  # fmt: skip


def _prints(data_dir: Path) -> list[Print]:
    prints: list[Print] = []
    for series_id in SERIES:
        prints += read_history(data_dir, series_id, dt.date(2019, 6, 1), dt.date(2020, 4, 30))
    return list(iter_publication_order(prints))


def _partition_streams(prints: list[Print], partitions: int) -> list[list[Signal]]:
    plan = detector_plan(Settings())
    out = []
    for partition in range(partitions):
        engine = FundingEngine(plan, signals=partition_signals(partition, partitions))
        signals: list[Signal] = []
        for record in prints:
            if partition in print_partitions(record.series_id, partitions):
                signals += engine.handle_print(record).signals
        out.append(signals)
    return out


def _round_robin(streams: list[list[Signal]]) -> list[Signal]:
    merged = itertools.zip_longest(*streams)
    return [signal for group in merged for signal in group if signal is not None]


@pytest.mark.parametrize("partitions", [2, 3])
def test_index_is_the_same_whatever_the_interleaving_of_partitions(data_dir: Path, partitions: int) -> None:
    prints = _prints(data_dir)
    plan = detector_plan(Settings())
    expected = [
        (a.state, a.observation_date) for a in run_in_process(prints, plan).alerts if a.signal == INDEX_SIGNAL
    ]
    assert len(expected) >= 4  # a real comparison: 2019-09 and 2020-03 fire and resolve
    streams = _partition_streams(prints, partitions)
    orders = {
        "in partition order": [s for stream in streams for s in stream],
        "in reverse partition order": [s for stream in reversed(streams) for s in stream],
        "round robin": _round_robin(streams),
    }
    for name, arrivals in orders.items():
        # No grace release: only the watermarks decide (a replay arrives within seconds).
        index = IndexEngine(plan[INDEX_SIGNAL][0], grace_seconds=float("inf"), partitions=partitions)
        alerts = []
        for signal in arrivals:
            index.add(signal, 0.0)
            alerts += index.drain(0.0).alerts
        alerts += index.drain(float("inf")).alerts
        assert [(a.state, a.observation_date) for a in alerts] == expected, name


def _signal(signal_id: str, day: str, hour: int) -> Signal:
    when = dt.date.fromisoformat(day)
    published = dt.datetime(when.year, when.month, when.day, hour, tzinfo=dt.UTC) + dt.timedelta(days=1)
    return Signal(signal_id, when, 1.0, "bp", {}, published)


def test_after_the_grace_period_only_silent_partitions_are_passed_over() -> None:
    plan = detector_plan(Settings())
    placed = signal_partitions_of(2)
    clock = "sofr_iorb_spread_bp"
    inputs = IndexEngine(plan[INDEX_SIGNAL][0], partitions=2).inputs
    other = sorted(s for s in inputs if placed[s] != placed[clock])[0]

    def index_with_one_date() -> IndexEngine:
        index = IndexEngine(plan[INDEX_SIGNAL][0], grace_seconds=3.0, partitions=2)
        index.add(_signal(other, "2019-09-13", 8), 0.0)  # the other partition, behind the clock
        index.add(_signal(clock, "2019-09-16", 8), 0.0)  # the clock's date, published later
        return index

    # The other partition keeps sending (older dates, still behind): the date waits past the grace.
    busy = index_with_one_date()
    busy.add(_signal(other, "2019-09-14", 8), 2.5)
    assert busy.drain(4.0).signals == []
    # Silent for the grace period (live: a weekly source): the date is computed without it.
    idle = index_with_one_date()
    assert idle.drain(2.9).signals == []
    assert [s.observation_date for s in idle.drain(3.0).signals] == [dt.date(2019, 9, 16)]
    assert idle.released_by_grace == 1
    # Still sending but behind for longer than max_wait_seconds: released all the same.
    assert [s.observation_date for s in busy.drain(busy.max_wait_seconds).signals] == [dt.date(2019, 9, 16)]
