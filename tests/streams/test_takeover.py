"""Workers with their own disks: a partition's state follows it by rebuilding from the prints topic.

Each worker here has its own checkpoint directory, as on separate machines with a volume each. When
one dies, the survivor takes its partitions without their checkpoints and rebuilds their state
from the topic up to the group's committed offset before going on; a third worker that joins with
an empty disk does the same. The alerts must equal an uninterrupted in-process run.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.settings import Settings
from plumbline import stack
from streams.config import detector_plan
from streams.inprocess import run_in_process
from tests.conftest import make_settings
from tests.streams.test_worker_faults import (
    WorkerProcess,
    committed,
    metric,
    per_signal,
    produce,
    read_alerts,
    wait_for_alerts,
    window,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def slow_grace_broker(tmp_path: Path) -> Iterator[Settings]:
    # The composite index waits for every partition group's watermark, or for the grace period; a
    # takeover (session timeout, rebalance, rebuild) takes seconds, so the grace must outlast it for
    # the index to equal the uninterrupted run (docs/architecture.md).
    settings = make_settings(tmp_path / "state", topic_partitions=2, index_grace_seconds=60.0)
    stack.up(settings, components=["broker"], say=lambda line: None)
    try:
        yield settings
    finally:
        stack.down(settings, say=lambda line: None)


def _rebuilds(worker: WorkerProcess, settings: Settings) -> float:
    return metric(settings, worker.metrics_port, "plumbline_state_rebuild_seconds_count")


def test_survivor_rebuilds_a_dead_workers_partition_from_the_topic(
    data_dir: Path, slow_grace_broker: Settings, tmp_path: Path
) -> None:
    settings = slow_grace_broker
    prints = window(data_dir, "2019-01-01", "2020-06-30")
    expected = per_signal(run_in_process(prints, detector_plan(settings)).alerts)
    assert sum(len(v) for v in expected.values()) >= 10
    workers = [
        WorkerProcess(settings, "worker-a", tmp_path / "disk-a"),
        WorkerProcess(settings, "worker-b", tmp_path / "disk-b"),
    ]
    third: WorkerProcess | None = None
    try:
        time.sleep(8)  # both join before any data: each owns one partition
        produce(settings, prints)
        deadline = time.monotonic() + 90
        while committed(settings) < len(prints) / 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        # Kill the owner of the busy partition (the rates), mid-stream.
        victim, survivor = sorted(workers, key=lambda w: -w.records_in(settings))
        victim.kill(signal.SIGKILL)
        assert committed(settings) < len(prints), "the kill must land mid-stream"
        deadline = time.monotonic() + 60
        while _rebuilds(survivor, settings) < 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _rebuilds(survivor, settings) >= 1, "the survivor did not rebuild the partition it took"
        assert wait_for_alerts(settings, expected, 180) == expected

        # A new worker with an empty disk joins: it takes a partition, rebuilds it, alerts unchanged.
        third = WorkerProcess(settings, "worker-c", tmp_path / "disk-c")
        deadline = time.monotonic() + 60
        while _rebuilds(third, settings) < 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _rebuilds(third, settings) >= 1, "the new worker took no partition"
        time.sleep(3)
        assert per_signal(read_alerts(settings)) == expected
    finally:
        for worker in [*workers, third]:
            if worker is not None:
                worker.kill(signal.SIGTERM)
