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
