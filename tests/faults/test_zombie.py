"""A zombie worker: paused past the session timeout while another worker takes its partitions, then resumed.

Two real workers with their own checkpoint directories share the prints partitions. The owner of the
busy partition is stopped (SIGSTOP) right after a burst of prints reaches it, so it holds fetched,
unprocessed and uncommitted messages; the group evicts it after the session timeout, and the survivor
takes its partitions and rebuilds them from the topic. More prints arrive, then the zombie resumes
(SIGCONT). What it must not do, measured here:

- send the outputs of a stale batch for a partition it no longer owns (the fence of
  streams/membership.py keeps them in its outbox: ``plumbline_outputs_held_total``, printed; a stale
  batch can have no outputs, so the count is not asserted); whatever reaches the output topics
  between its wake and the settled group is a byte-identical repeat of a record already there;
- move the group's committed offsets back over the new owner's (the broker refuses its commit);
- corrupt state: the checkpoints are local to each worker, and the final signals and alerts equal the
  uninterrupted in-process run (tests/faults/harness.py), also for prints produced after it rejoined;
- keep the partition: after the rebalance exactly one worker exports the busy partition's signals,
  and the zombie only if it took it back through a rebuild from the topic.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.catalogue import signal_partitions
from foundation.settings import Settings
from tests.faults.harness import Delivery, check_delivery, expected_run, read_topic, wait_for
from tests.streams.test_worker_faults import (
    WorkerProcess,
    broker_with_two_partitions,
    committed,
    metric,
    produce,
    split_at,
    window,
)

pytestmark = pytest.mark.e2e

BUSY_SIGNAL = "sofr_iorb_spread_bp"  # on the partition carrying the rates, the busiest


@pytest.fixture
def slow_grace_broker(tmp_path: Path) -> Iterator[Settings]:
    # As in tests/streams/test_takeover.py: the index grace outlasts a takeover.
    with broker_with_two_partitions(tmp_path, index_grace_seconds=60.0) as settings:
        yield settings


def exports_busy_signal(worker: WorkerProcess) -> bool:
    """Whether the worker's /metrics has a sample of the busy partition's key signal."""
    try:
        url = f"http://127.0.0.1:{worker.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return False
    return any(
        line.startswith("plumbline_signal_basis_points{") and f'signal="{BUSY_SIGNAL}"' in line
        for line in text.splitlines()
    )


def checkpoint(disk: Path, settings: Settings, partition: int) -> tuple[int | None, int]:
    """(input offset, outbox rows) of a worker's checkpoint of a prints partition, read from its disk."""
    path = disk / settings.app_id / f"{settings.topic_prints}-{partition}.sqlite"
    if not path.exists():
        return None, 0
    db = sqlite3.connect(path, timeout=30)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'input_offset'").fetchone()
        return (None if row is None else int(row[0])), int(
            db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        )
    finally:
        db.close()


def rebuilds(worker: WorkerProcess, settings: Settings) -> float:
    return metric(settings, worker.metrics_port, "plumbline_state_rebuild_seconds_count")


def held(worker: WorkerProcess, settings: Settings) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=2) as response:
            lines = response.read().decode().splitlines()
    except OSError:
        return -1.0
    return sum(float(line.split()[-1]) for line in lines if line.startswith("plumbline_outputs_held_total "))


def test_a_zombie_worker_sends_nothing_stale_and_gives_its_partition_up(
    data_dir: Path, slow_grace_broker: Settings, tmp_path: Path
) -> None:
    settings = slow_grace_broker
    prints = window(data_dir, "2019-01-01", "2020-06-30")
    reference = expected_run(settings, prints)
    first, rest = split_at(prints, "2019-08-31")
    burst, rest = split_at(rest, "2019-12-31")
    while_stopped, after_rejoin = split_at(rest, "2020-03-31")
    busy = signal_partitions(settings.topic_partitions)[BUSY_SIGNAL]
    disks = {"worker-a": tmp_path / "disk-a", "worker-b": tmp_path / "disk-b"}
    workers = {name: WorkerProcess(settings, name, disk) for name, disk in disks.items()}
    try:
        time.sleep(8)  # both join before any data: each owns one prints partition
        produce(settings, first)
        idle: list[list[int]] = []

        def all_committed() -> bool:  # committed on every partition, and unchanged for 2 s: idle
            idle.append(committed(settings))
            return all(idle[-1]) and len(idle) > 4 and idle[-1] == idle[-5]

        assert wait_for(all_committed, 90), f"the workers did not commit the first part: {idle[-1:]}"
        owners = [name for name, w in workers.items() if exports_busy_signal(w)]
        assert len(owners) == 1, f"the busy partition must have one owner, not {owners}"
        zombie_name = owners[0]
        survivor_name = next(name for name in workers if name != zombie_name)
        zombie, survivor = workers[zombie_name], workers[survivor_name]

        # Stop the owner as soon as the burst reaches it: the rest is in its fetch buffers.
        baseline = zombie.records_in(settings)
        sender = threading.Thread(target=produce, args=(settings, burst))
        sender.start()
        wait_for(
            lambda: zombie.records_in(settings) > baseline or not sender.is_alive(), 30, every_seconds=0.005
        )
        in_at_stop = zombie.records_in(settings)
        os.killpg(zombie.process.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        sender.join()
        at_stop = checkpoint(disks[zombie_name], settings, busy)
        commits_at_stop = committed(settings)

        assert wait_for(lambda: rebuilds(survivor, settings) >= 1, 60), "the survivor did not take over"
        assert exports_busy_signal(survivor)
        produce(settings, while_stopped)
        quiet: list[list[int]] = []

        def survivor_done() -> bool:  # committed offsets unchanged for 2 s: everything processed
            quiet.append(committed(settings))
            return len(quiet) > 4 and quiet[-1] == quiet[-5] and quiet[-1] != commits_at_stop

        assert wait_for(survivor_done, 60), "the survivor did not finish the prints produced meanwhile"
        topics = (settings.topic_alerts, settings.topic_signals, settings.topic_index_inputs)
        before_wake = {topic: read_topic(settings, topic) for topic in topics}
        commits_before_wake = committed(settings)

        # Wake the zombie; watch the committed offsets until the group has settled again.
        history: list[list[int]] = []
        watching = threading.Event()
        watching.set()

        def watch() -> None:
            while watching.is_set():
                history.append(committed(settings))
                time.sleep(0.1)

        watcher = threading.Thread(target=watch)
        watcher.start()
        os.killpg(zombie.process.pid, signal.SIGCONT)
        stopped_seconds = time.monotonic() - stopped_at
        exporters: list[int] = []

        def settled() -> bool:  # one exporter of the busy partition for 3 s in a row
            exporters.append(sum(exports_busy_signal(w) for w in workers.values()))
            return len(exporters) > 6 and exporters[-6:] == [1] * 6

        try:
            assert wait_for(settled, 60), f"the busy partition's exporters after the wake: {exporters[-10:]}"
        finally:
            watching.clear()
            watcher.join()
        zombie_in = zombie.records_in(settings)
        zombie_held = held(zombie, settings)
        zombie_rebuilds = rebuilds(zombie, settings)
        zombie_owns = exports_busy_signal(zombie)
        after_wake = {topic: read_topic(settings, topic) for topic in topics}

        produce(settings, after_rejoin)  # the group works on after the zombie came back
        delivery: list[Delivery] = []

        def delivered() -> bool:
            delivery[:] = [check_delivery(settings, reference, with_index=False)]
            return delivery[0].ok

        wait_for(delivered, 90, every_seconds=2)
    finally:
        for worker in workers.values():
            if worker.process.poll() is None:
                os.killpg(worker.process.pid, signal.SIGCONT)
            worker.kill(signal.SIGTERM)

    # Nothing stale went out: every record the topics got between the wake and the settled group
    # repeats, byte for byte, one already there (what the zombie held, or the rebuild's re-sends).
    new_content = {
        topic: sum((Counter(after_wake[topic]) - Counter(before_wake[topic])).values()) for topic in topics
    }
    not_repeats = {
        topic: [
            r
            for r in (Counter(after_wake[topic]) - Counter(before_wake[topic]))
            if r not in set(before_wake[topic])
        ]
        for topic in topics
    }
    stale_messages = zombie_in - in_at_stop
    print(
        f"zombie {zombie_name} stopped {stopped_seconds:.1f} s at checkpoint offset {at_stop[0]} "
        f"({at_stop[1]} outbox rows), group committed {commits_at_stop}; after waking it processed "
        f"{stale_messages:.0f} messages and held {zombie_held:.0f} records; it "
        f"{'took the partition back by a rebuild' if zombie_owns else 'gave the partition up'} "
        f"(rebuilds {zombie_rebuilds:.0f}); records after the wake: {new_content}; "
        f"committed offsets seen after the wake: {sorted({tuple(c) for c in history})}; "
        f"delivery: {delivery[0]}; with the index: {check_delivery(settings, reference).ok}"
    )
    assert all(not records for records in not_repeats.values()), (
        f"stale outputs after the wake: {not_repeats}"
    )
    for partition in range(settings.topic_partitions):
        seen = [c[partition] for c in history]
        assert seen == sorted(seen), (
            f"partition {partition}: committed offsets went back after the wake: {seen}"
        )
        assert seen[0] >= commits_before_wake[partition]
    assert not zombie_owns or zombie_rebuilds >= 1, "the zombie kept the busy partition without a rebuild"
    assert delivery[0].ok, f"after the zombie: {delivery[0]}"
