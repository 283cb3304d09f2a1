"""The Faust application: one app, two thin agents, logic in plain classes.

- ``process-prints`` reads the prints topic; each partition has its own :class:`FundingEngine`
  and checkpoint file. It writes signals, alerts, dead letters, and every signal again to the
  single-partition index-inputs topic.
- ``process-index`` reads index-inputs and feeds the composite funding-stress index
  (:class:`IndexEngine`); a 1-second timer releases dates whose grace period has passed.

Every topic carries raw JSON bytes validated by :mod:`foundation.records`, so a poison message
becomes a dead-letter record with a reason instead of an exception in Faust's deserializer. State
and outputs are committed together before a message is acknowledged (streams/checkpoint.py).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from foundation.catalogue import INDEX_SIGNAL
from foundation.records import RecordError, Signal
from foundation.settings import Settings
from streams.checkpoint import CheckpointStore, OutboxRecord
from streams.config import DetectorSpec, detector_plan
from streams.engine import FundingEngine, Outcome, dead_letter
from streams.index import IndexEngine
from streams.metrics import PipelineMetrics

__all__ = ["Worker", "create_app"]

log = logging.getLogger(__name__)
_INDEX_KEY = "index"


def checkpoint_dir(settings: Settings) -> Path:
    """Where partition checkpoints live (shared by the workers of one group)."""
    return settings.checkpoint_dir or settings.state_dir / "checkpoints"


class Worker:
    """A Faust app wired to per-partition engines, checkpoints and metrics."""

    def __init__(self, app: faust.App, settings: Settings, registry: CollectorRegistry) -> None:
        self.app = app
        self.settings = settings
        self.plan: dict[str, list[DetectorSpec]] = detector_plan(settings)
        self.engines: dict[int, FundingEngine] = {}
        self.stores: dict[int, CheckpointStore] = {}
        self.index: IndexEngine | None = None
        self.index_store: CheckpointStore | None = None
        self.metrics = PipelineMetrics(registry, self)
        self.topics: dict[str, Any] = {}

    # -- partitions ------------------------------------------------------------------------------

    def _path(self, topic: str, partition: int) -> Path:
        return checkpoint_dir(self.settings) / self.settings.app_id / f"{topic}-{partition}.sqlite"

    async def engine_for(self, partition: int) -> tuple[FundingEngine, CheckpointStore]:
        """The engine of a prints partition, loaded from its checkpoint on first use."""
        if partition not in self.engines:
            store = CheckpointStore(self._path(self.settings.topic_prints, partition))
            engine = FundingEngine(self.plan, topic=self.settings.topic_prints)
            store.load_engine(engine)
            self.engines[partition], self.stores[partition] = engine, store
            log.info("partition %d: state loaded from %s", partition, store.path)
            await self._resend(store)
        return self.engines[partition], self.stores[partition]

    async def index_engine(self) -> tuple[IndexEngine, CheckpointStore]:
        """The composite index engine, loaded from its checkpoint on first use."""
        if self.index is None or self.index_store is None:
            store = CheckpointStore(self._path(self.settings.topic_index_inputs, 0))
            index = IndexEngine(self.plan[INDEX_SIGNAL][0], grace_seconds=self.settings.index_grace_seconds)
            saved = store.load_blob(_INDEX_KEY)
            if saved is not None:
                index.restore(saved, time.monotonic())
            self.index, self.index_store = index, store
            await self._resend(store)
        return self.index, self.index_store

    def release(self, topic: str, partitions: set[int]) -> None:
        """Forget the state of revoked partitions: another worker may change it meanwhile."""
        if topic == self.settings.topic_prints:
            for partition in partitions:
                self.engines.pop(partition, None)
                store = self.stores.pop(partition, None)
                if store is not None:
                    store.close()
        elif topic == self.settings.topic_index_inputs and 0 in partitions and self.index_store is not None:
            self.index_store.close()
            self.index, self.index_store = None, None

    # -- output ----------------------------------------------------------------------------------

    def outputs(self, outcome: Outcome, forward_to_index: bool) -> list[OutboxRecord]:
        """The records an outcome sends, in order."""
        s = self.settings
        records: list[OutboxRecord] = []
        for record in outcome.dead_letters:
            records.append((s.topic_dead_letter, record.reason.encode(), record.to_json()))
        for signal in outcome.signals:
            key = f"{signal.signal_id}@{signal.observation_date.isoformat()}".encode()
            value = signal.to_json()
            records.append((s.topic_signals, key, value))
            if forward_to_index:
                records.append((s.topic_index_inputs, key, value))
        for alert in outcome.alerts:
            log.info(
                "alert %s %s/%s on %s: value %.2f",
                alert.state, alert.signal, alert.detector, alert.observation_date, alert.value,
            )  # fmt: skip
            records.append((s.topic_alerts, alert.fingerprint.encode(), alert.to_json()))
        return records

    async def send(self, store: CheckpointStore, ids: Sequence[int], records: Sequence[OutboxRecord]) -> None:
        """Send committed outbox records; each leaves the outbox when the broker acknowledges it."""
        for outbox_id, (topic, key, value) in zip(ids, records, strict=True):
            await self.topics[topic].send(
                key=key, value=value, callback=functools.partial(_delivered, store, outbox_id)
            )
            self.metrics.records_out.labels(topic).inc()
            if topic == self.settings.topic_dead_letter:
                self.metrics.dead_lettered.labels(*_dead_letter_labels(value)).inc()

    async def _resend(self, store: CheckpointStore) -> None:
        pending = store.outbox()
        if pending:
            log.warning("re-sending %d records left in the outbox of %s", len(pending), store.path)
        for outbox_id, topic, key, value in pending:
            await self.topics[topic].send(
                key=key, value=value, callback=functools.partial(_delivered, store, outbox_id)
            )


def _delivered(store: CheckpointStore, outbox_id: int, _future: Any) -> None:
    try:
        store.delivered(outbox_id)
    except Exception:  # the store was closed by a rebalance: the next owner re-sends (at least once)
        log.debug("outbox %d of %s not cleared", outbox_id, store.path)


def _dead_letter_labels(value: bytes) -> tuple[str, str]:
    import json

    body = json.loads(value)
    return str(body["topic"]), str(body["reason"])


def _raw_topic(app: faust.App, name: str, partitions: int) -> Any:
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        partitions=partitions,
    )  # fmt: skip


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> Worker:
    """Build the Faust app for ``settings``; metrics go on ``registry`` (a fresh one by default)."""
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        store="memory://",
        web_enabled=False,
        web_bind=settings.bind_host,
        web_host=settings.bind_host,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.heartbeat_interval_seconds,
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.topic_partitions,
        topic_allow_declare=False,  # topics are created explicitly by `plumbline stack up`
        datadir=str(settings.state_dir / "faust"),
    )
    worker = Worker(app, settings, registry if registry is not None else CollectorRegistry())
    s = settings
    for name, partitions in (
        (s.topic_prints, s.topic_partitions),
        (s.topic_signals, s.topic_partitions),
        (s.topic_alerts, s.topic_partitions),
        (s.topic_dead_letter, s.topic_partitions),
        (s.topic_index_inputs, 1),
    ):
        worker.topics[name] = _raw_topic(app, name, partitions)
    metrics = worker.metrics

    @app.agent(worker.topics[s.topic_prints], name="process-prints")
    async def process_prints(stream: Any) -> Any:
        async for event in stream.events():
            metrics.records_in.labels(s.topic_prints).inc()
            engine, store = await worker.engine_for(event.message.partition)
            outcome = engine.handle_print_bytes(event.value)
            records = worker.outputs(outcome, forward_to_index=True)
            ids = store.commit(engine, records)
            await worker.send(store, ids, records)
            _observe_lag(metrics, event)
            yield outcome

    @app.agent(worker.topics[s.topic_index_inputs], name="process-index")
    async def process_index(stream: Any) -> Any:
        async for event in stream.events():
            metrics.records_in.labels(s.topic_index_inputs).inc()
            index, store = await worker.index_engine()
            outcome = Outcome()
            try:
                index.add(Signal.from_json(event.value), time.monotonic())
            except RecordError as exc:
                outcome.dead_letters.append(dead_letter(s.topic_index_inputs, event.value, exc))
            drained = index.drain(time.monotonic())
            outcome.signals += drained.signals
            outcome.alerts += drained.alerts
            records = worker.outputs(outcome, forward_to_index=False)
            ids = store.commit_blob(_INDEX_KEY, index.to_json(), records)
            await worker.send(store, ids, records)
            _observe_lag(metrics, event)
            yield outcome

    @app.timer(1.0)
    async def release_index_dates() -> None:
        # Dates wait for every partition group's watermark; in live operation the weekly groups are
        # idle for days, so a grace period releases them.
        if worker.index is None or worker.index_store is None or not worker.index.pending:
            return
        outcome = worker.index.drain(time.monotonic())
        if outcome.signals or outcome.alerts:
            records = worker.outputs(outcome, forward_to_index=False)
            ids = worker.index_store.commit_blob(_INDEX_KEY, worker.index.to_json(), records)
            await worker.send(worker.index_store, ids, records)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        by_topic: dict[str, set[int]] = {}
        for tp in revoked:
            by_topic.setdefault(tp.topic, set()).add(tp.partition)
        for topic, partitions in by_topic.items():
            worker.release(topic, partitions)

    return worker


def _observe_lag(metrics: PipelineMetrics, event: Any) -> None:
    timestamp = getattr(event.message, "timestamp", None)
    if timestamp:
        metrics.processing_lag.set(max(0.0, time.time() - float(timestamp)))
