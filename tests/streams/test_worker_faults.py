"""Real workers on the embedded broker: kill -9, scale-out, and bad input on the way.

The reference for "the same alerts" is the in-process run of the same prints through the same
engines (streams/inprocess.py), i.e. an uninterrupted run without Kafka.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from connectors.history import iter_publication_order, read_history
from connectors.producer import PrintProducer
from foundation.catalogue import signal_partitions
from foundation.records import Alert, Print
from foundation.settings import Settings
from plumbline import stack
from streams.config import detector_plan
from streams.inprocess import run_in_process
from tests.conftest import free_port, make_settings

pytestmark = pytest.mark.e2e

SERIES = (
    "SOFR",
    "SOFR99",
    "IOER",
    "IORB",
    "EFFR",
    "TGCR",
    "DFEDTARL",
    "DFEDTARU",
    "RRPONTSYD",
    "WRESBAL",
    "WDTGAL",
)
AlertKey = tuple[str, str, str, str]  # signal, detector, state, observation date


def window(data_dir: Path, start: str, end: str) -> list[Print]:
    prints: list[Print] = []
    for series_id in SERIES:
        prints += read_history(data_dir, series_id, dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    return list(iter_publication_order(prints))


def per_signal(alerts: list[Alert]) -> dict[str, list[AlertKey]]:
    """Alerts per signal in date order, repeats dropped (outputs are at-least-once).

    Alerts are keyed by fingerprint, so one signal's alerts spread over the alerts topic's
    partitions; a detector's own alerts are in observation-date order by construction.
    """
    out: dict[str, list[AlertKey]] = {}
    seen: set[AlertKey] = set()
    for alert in alerts:
        key = (alert.signal, alert.detector, alert.state, alert.observation_date.isoformat())
        if key not in seen:
            seen.add(key)
            out.setdefault(alert.signal, []).append(key)
    return {signal: sorted(keys, key=lambda k: k[3]) for signal, keys in out.items()}


def read_alerts(settings: Settings) -> list[Alert]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, consumer_timeout_ms=1500)
    partitions = [TopicPartition(settings.topic_alerts, p) for p in range(settings.topic_partitions)]
    consumer.assign(partitions)
    for partition in partitions:
        consumer.seek_to_beginning(partition)
    alerts = [Alert.from_json(message.value) for message in consumer]
    consumer.close()
    return alerts


def metric(settings: Settings, port: int, name: str, labels: str = "") -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return -1.0
    # Sum every sample of ``name`` whose labels contain ``labels``.
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line.split("}")[0]:
            total += float(line.split()[-1])
    return total


class WorkerProcess:
    """``plumbline worker`` as a real child process, with its own metrics port."""

    def __init__(self, settings: Settings, name: str, checkpoint_dir: Path | None = None) -> None:
        self.metrics_port = free_port()
        env = {key: value for key, value in settings.masked().items() if value}
        env.update(PLUMBLINE_METRICS_PORT=str(self.metrics_port), PATH=os.environ.get("PATH", ""))
        if checkpoint_dir is not None:  # a worker with its own disk, as on separate machines
            env.update(PLUMBLINE_CHECKPOINT_DIR=str(checkpoint_dir))
        self.log = settings.state_dir / f"{name}.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "plumbline", "worker", "--loglevel", "warn"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def records_in(self, settings: Settings) -> float:
        return metric(
            settings, self.metrics_port, "plumbline_records_in_total", f'topic="{settings.topic_prints}"'
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)


@contextlib.contextmanager
def broker_with_two_partitions(tmp_path: Path, index_grace_seconds: float) -> Iterator[Settings]:
    """The embedded broker with two-partition topics, on free ports; stopped afterwards."""
    settings = make_settings(tmp_path / "state", topic_partitions=2, index_grace_seconds=index_grace_seconds)
    stack.up(settings, components=["broker"], say=lambda line: None)
    try:
        yield settings
    finally:
        stack.down(settings, say=lambda line: None)


@pytest.fixture
def two_partition_broker(tmp_path: Path) -> Iterator[Settings]:
    with broker_with_two_partitions(tmp_path, index_grace_seconds=10.0) as settings:
        yield settings


def wait_for_alerts(settings: Settings, expected: dict[str, list[AlertKey]], timeout_seconds: float) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout_seconds
    got: dict[str, list[AlertKey]] = {}
    while time.monotonic() < deadline:
        got = per_signal(read_alerts(settings))
        if got == expected:
            break
        time.sleep(1.0)
    return got


def produce(settings: Settings, prints: list[Print]) -> None:
    with PrintProducer(settings) as producer:
        producer.send_all(prints)


def split_at(prints: list[Print], last_day: str) -> tuple[list[Print], list[Print]]:
    """Prints published on or before ``last_day``, and the rest, each in publication order."""
    cut = dt.date.fromisoformat(last_day)
    before = [p for p in prints if p.published_at.date() <= cut]
    return before, prints[len(before) :]


def committed(settings: Settings) -> list[int]:
    """Offsets the worker group has committed on the prints topic, per partition (0: none yet)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=settings.app_id,
                             enable_auto_commit=False)  # fmt: skip
    try:
        return [
            consumer.committed(TopicPartition(settings.topic_prints, p)) or 0
            for p in range(settings.topic_partitions)
        ]
    finally:
        consumer.close()


def test_worker_kill_9_loses_no_detector_state(data_dir: Path, two_partition_broker: Settings) -> None:
    settings = two_partition_broker
    prints = window(data_dir, "2018-04-01", "2021-06-30")
    expected = per_signal(run_in_process(prints, detector_plan(settings)).alerts)
    assert sum(len(v) for v in expected.values()) >= 10
    # The kill lands mid-stream by construction: the second part (with March 2020) is produced only
    # after it. Racing a kill against the consumed offsets does not work here: the broker's offsets
    # are not contiguous, and a print has one copy per partition that needs it.
    before, after = split_at(prints, "2019-12-31")
    produce(settings, before)

    first = WorkerProcess(settings, "worker-1")
    deadline = time.monotonic() + 90
    # Kill only once the group has committed offsets: the restart then resumes from them, and only the
    # checkpointed state can give the same alerts as an uninterrupted run.
    while time.monotonic() < deadline and (
        first.records_in(settings) < len(before) / 2 or not all(committed(settings))
    ):
        time.sleep(0.1)
    first.kill(signal.SIGKILL)
    assert all(committed(settings)), "the kill must land after a commit on every partition"
    produce(settings, after)

    second = WorkerProcess(settings, "worker-2")
    try:
        got = wait_for_alerts(settings, expected, 120)
    finally:
        second.kill(signal.SIGTERM)
    assert got == expected


def test_two_workers_split_the_partitions_and_produce_the_same_alerts(
    data_dir: Path, two_partition_broker: Settings
) -> None:
    settings = two_partition_broker
    prints = window(data_dir, "2019-06-01", "2019-12-31")
    expected = per_signal(run_in_process(prints, detector_plan(settings)).alerts)
    workers = [WorkerProcess(settings, "worker-a"), WorkerProcess(settings, "worker-b")]
    try:
        time.sleep(8)  # both join before any data, so the group splits the partitions between them
        produce(settings, prints)
        got = wait_for_alerts(settings, expected, 120)
        counts = [w.records_in(settings) for w in workers]
    finally:
        for worker in workers:
            worker.kill(signal.SIGTERM)
    assert got == expected
    assert all(count > 0 for count in counts), f"each worker must own a partition: {counts}"
    assert sum(counts) >= len(prints)


def test_bad_prints_go_to_the_dead_letter_topic_and_the_worker_goes_on(
    data_dir: Path, two_partition_broker: Settings
) -> None:
    settings = two_partition_broker
    prints = window(data_dir, "2019-08-15", "2019-09-30")
    good = [p for p in prints if p.series_id in ("SOFR", "IOER")]
    poison = [
        b"not json at all",
        b'{"schema_version": 99, "series_id": "SOFR"}',
        good[0].to_json().replace(b'"SOFR"', b'"BITCOIN"').replace(b'"IOER"', b'"BITCOIN"'),
        good[0].to_json().replace(b'"value":', b'"value":NaN,"x":'),
    ]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    # The partition computing the SOFR-IORB spread, where its inputs go; the poison goes there too.
    target = signal_partitions(settings.topic_partitions)["sofr_iorb_spread_bp"]
    poison_sent = 0
    for index, record in enumerate(good):
        producer.send(
            settings.topic_prints, key=record.key.encode(), value=record.to_json(), partition=target
        )
        if index % 10 == 0:
            payload = poison[poison_sent % len(poison)]
            producer.send(settings.topic_prints, key=b"poison", value=payload, partition=target)
            poison_sent += 1
    # Late, revised and repeated prints: the 2019-09-17 SOFR again (no-op) and revised (vintage 2).
    spike = next(p for p in good if p.series_id == "SOFR" and p.observation_date == dt.date(2019, 9, 17))
    revised = Print(**{**spike.__dict__, "value": 5.30, "vintage": 2})
    for record in (spike, revised, revised):
        producer.send(
            settings.topic_prints, key=record.key.encode(), value=record.to_json(), partition=target
        )
    producer.flush()
    producer.close()

    worker = WorkerProcess(settings, "worker")
    try:
        deadline = time.monotonic() + 60
        while worker.records_in(settings) < len(good) + poison_sent + 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        dead = metric(
            settings, worker.metrics_port, "plumbline_dead_letter_total", f'topic="{settings.topic_prints}"'
        )
        spread = metric(
            settings, worker.metrics_port, "plumbline_signal_basis_points", 'signal="sofr_iorb_spread_bp"'
        )
    finally:
        worker.kill(signal.SIGTERM)
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, consumer_timeout_ms=1500)
    partitions = [TopicPartition(settings.topic_dead_letter, p) for p in range(settings.topic_partitions)]
    consumer.assign(partitions)
    for partition in partitions:
        consumer.seek_to_beginning(partition)
    reasons = sorted({__import__("json").loads(m.value)["reason"] for m in consumer})
    consumer.close()
    assert reasons == ["not_finite", "not_json", "schema_version", "unknown_series"]
    assert dead == poison_sent
    assert spread == 55.0  # the last print of the window was processed after all the poison
    signals = read_signals(settings)
    corrected = [s for s in signals if s == ("sofr_iorb_spread_bp", "2019-09-17")]
    assert len(corrected) == 2  # the first print and the revision; the exact repeat emitted nothing


def read_signals(settings: Settings) -> list[tuple[str, str]]:
    import json

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, consumer_timeout_ms=1500)
    partitions = [TopicPartition(settings.topic_signals, p) for p in range(settings.topic_partitions)]
    consumer.assign(partitions)
    for partition in partitions:
        consumer.seek_to_beginning(partition)
    out = [(json.loads(m.value)["signal_id"], json.loads(m.value)["observation_date"]) for m in consumer]
    consumer.close()
    return out
