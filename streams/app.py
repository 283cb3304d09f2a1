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

import asyncio
import collections
import functools
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from foundation.catalogue import INDEX_SIGNAL, partition_signals
from foundation.kafka_security import aiokafka_options, uses_sasl
from foundation.records import REASONS, RecordError, Signal, check_size
from foundation.settings import Settings
from streams.checkpoint import CheckpointStore, OutboxRecord
from streams.config import DetectorSpec, detector_plan
from streams.engine import FundingEngine, Outcome, dead_letter
from streams.index import IndexEngine
from streams.membership import is_member
from streams.metrics import PipelineMetrics
from streams.rebuild import committed_offsets, quiet_client_logs, read_partition, topic_ids

__all__ = ["Worker", "broker_credentials", "create_app"]

log = logging.getLogger(__name__)
_INDEX_KEY = "index"
#: A rebuild sends again the outputs of this many of the last messages before the committed offset.
#: The previous owner may have died with them unsent in an outbox on its own disk; that outbox can
#: only hold records of messages it processed within its last offset-commit interval (seconds), so
#: this bound is generous, and older outputs are not sent a second time. Outputs stay at-least-once.
RESEND_TAIL_MESSAGES = 10_000


def checkpoint_dir(settings: Settings) -> Path:
    """Where this worker's partition checkpoints live (local to it; the input topics rebuild them)."""
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
        # Partitions being made current by an assignment. Faust resumes fetching from a separate
        # task as soon as the assignment handler first awaits (stream_recovery_delay is 0), so an
        # agent can receive a taken partition's first message while its state is still being
        # rebuilt; the agent waits on this instead of starting from an empty engine.
        self._loading: dict[tuple[str, int], asyncio.Future[None]] = {}
        # Checkpoints loaded at start whose outbox (outputs a killed process committed but may not
        # have sent) is re-sent when the partition is first assigned.
        self._outbox_unsent: set[tuple[str, int]] = set()
        # Whether the group assigned this worker the index (not merely a checkpoint loaded at start).
        self.index_assigned = False
        # The group generation of the last assignment and what it assigned: outputs leave the outbox
        # only while the coordinator still counts this worker a member of it (send_committed).
        self.generation: int | None = None
        self.assigned: set[tuple[str, int]] = set()
        # The broker's id of each input topic, read at each assignment: a checkpoint offset taken on
        # a topic the broker has since lost (and created again) refers to nothing (_follow_topic).
        self._topic_ids: dict[str, str] = {}

    # -- partitions ------------------------------------------------------------------------------

    def _path(self, topic: str, partition: int) -> Path:
        return checkpoint_dir(self.settings) / self.settings.app_id / f"{topic}-{partition}.sqlite"

    def _engine_from(self, store: CheckpointStore, partition: int) -> FundingEngine:
        """The engine of prints partition ``partition``, holding what ``store`` checkpointed."""
        signals = partition_signals(partition, self.settings.topic_partitions)
        engine = FundingEngine(self.plan, topic=self.settings.topic_prints, signals=signals)
        store.load_engine(engine)
        return engine

    def _index_from(self, store: CheckpointStore) -> IndexEngine:
        """The composite index engine holding what ``store`` checkpointed."""
        index = IndexEngine(
            self.plan[INDEX_SIGNAL][0],
            grace_seconds=self.settings.index_grace_seconds,
            partitions=self.settings.topic_partitions,
        )
        saved = store.load_blob(_INDEX_KEY)
        if saved is not None:
            index.restore(saved, time.monotonic())
        return index

    async def take(self, assigned: set[tuple[str, int]]) -> None:
        """Make the state of every assigned partition current and exported, before any message.

        Called on each assignment. A partition no longer assigned is released (another worker owns
        it now); one kept through a rebalance keeps its engine and stays exported throughout. Any
        other is loaded from its local checkpoint, then brought up to the group's committed offset
        from its input topic (streams/rebuild.py) if the checkpoint is missing or behind.
        """
        s = self.settings
        self.generation, self.assigned = int(getattr(self.app, "consumer_generation_id", 0)), set(assigned)
        prints = {partition for topic, partition in assigned if topic == s.topic_prints}
        index = (s.topic_index_inputs, 0) in assigned
        loop = asyncio.get_running_loop()
        keys = [(s.topic_prints, p) for p in sorted(prints)] + ([(s.topic_index_inputs, 0)] if index else [])
        for key in keys:  # before the first await: see ``_loading``
            self._loading[key] = loop.create_future()
        try:
            self.release(s.topic_prints, set(self.engines) - prints)
            if not index:
                self.release(s.topic_index_inputs, {0})
            committed = await committed_offsets(s, assigned)
            self._topic_ids = await topic_ids(s, {topic for topic, _ in assigned})
            for partition in sorted(prints):
                await self._load_prints(partition, committed.get((s.topic_prints, partition)))
                self._loaded((s.topic_prints, partition))
            if index:
                await self._load_index(committed.get((s.topic_index_inputs, 0)))
                assert self.index is not None
                # Every partition stalls through a rebalance; the grace period counts from now.
                self.index.restart_grace(time.monotonic())
                self.index_assigned = True
        finally:
            for key in keys:  # also on failure, so no agent waits forever (the worker crashes)
                self._loaded(key)

    @property
    def index_loading(self) -> bool:
        """Whether an assignment is making the composite index current right now."""
        return (self.settings.topic_index_inputs, 0) in self._loading

    def _loaded(self, key: tuple[str, int]) -> None:
        future = self._loading.pop(key, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def _until_loaded(self, key: tuple[str, int]) -> None:
        future = self._loading.get(key)
        if future is not None:
            await asyncio.shield(future)

    async def _load_prints(self, partition: int, committed: int | None) -> None:
        topic = self.settings.topic_prints
        kept = self.stores.get(partition)
        self._follow_topic(kept, topic, partition)
        if kept is not None and partition in self.engines and not _behind(kept.offset(), committed):
            # Owned through the rebalance and nobody processed it meanwhile: the engine in memory
            # is its checkpoint (both change together between awaits), so it stays as it is.
            if (topic, partition) in self._outbox_unsent:
                self._outbox_unsent.discard((topic, partition))
                await self._resend(kept)
            return
        store = kept or CheckpointStore(self._path(topic, partition))
        self._follow_topic(store, topic, partition)
        engine = self._engine_from(store, partition)
        # What the outbox holds goes out before anything the rebuild sends (it is older: sent after
        # the rebuild's outputs, a stale repeat would be the last record of its key).
        self._outbox_unsent.discard((topic, partition))
        await self._resend(store)
        behind = _behind(store.offset(), committed)
        if behind:
            started = time.perf_counter()
            tail: collections.deque[list[OutboxRecord]] = collections.deque(maxlen=RESEND_TAIL_MESSAGES)

            def feed(_offset: int, value: bytes) -> None:
                tail.append(self.outputs(self.handle_print(engine, value), forward_to_index=True))

            count = await read_partition(self.settings, topic, partition, behind[0], behind[1], feed)
            records = [record for outputs in tail for record in outputs]
            ids = store.commit(engine, records, offset=behind[1] - 1)
            await self.send(store, ids, records)
            self.metrics.rebuild_seconds.labels(topic).observe(time.perf_counter() - started)
            log.info(
                "partition %d: rebuilt from %s offsets %d..%d (%d prints) in %.1f s",
                partition, topic, behind[0], behind[1] - 1, count, time.perf_counter() - started,
            )  # fmt: skip
        # Swapped in whole: a scrape sees the old state or the new one, never none.
        self.engines[partition], self.stores[partition] = engine, store
        log.info("partition %d: state loaded from %s (offset %s)", partition, store.path, store.offset())

    async def _load_index(self, committed: int | None) -> None:
        topic = self.settings.topic_index_inputs
        kept = self.index_store
        self._follow_topic(kept, topic, 0)
        if kept is not None and self.index is not None and not _behind(kept.offset(), committed):
            # Kept through the rebalance; it also keeps the arrival times its grace period uses.
            if (topic, 0) in self._outbox_unsent:
                self._outbox_unsent.discard((topic, 0))
                await self._resend(kept)
            return
        store = kept or CheckpointStore(self._path(topic, 0))
        self._follow_topic(store, topic, 0)
        index = self._index_from(store)
        self._outbox_unsent.discard((topic, 0))
        await self._resend(store)  # before the rebuild's outputs, as in _load_prints
        behind = _behind(store.offset(), committed)
        if behind:
            started = time.perf_counter()

            tail: collections.deque[list[OutboxRecord]] = collections.deque(maxlen=RESEND_TAIL_MESSAGES)

            def feed(_offset: int, value: bytes) -> None:
                try:
                    index.add(self.read_index_input(value), time.monotonic())
                except RecordError:
                    return  # the previous owner dead-lettered it
                tail.append(self.outputs(index.drain(time.monotonic()), forward_to_index=False))

            await read_partition(self.settings, topic, 0, behind[0], behind[1], feed)
            records = [record for outputs in tail for record in outputs]
            ids = store.commit_blob(_INDEX_KEY, index.to_json(), records, offset=behind[1] - 1)
            await self.send(store, ids, records)
            self.metrics.rebuild_seconds.labels(topic).observe(time.perf_counter() - started)
        self.index, self.index_store = index, store

    def _follow_topic(self, store: CheckpointStore | None, topic: str, partition: int) -> None:
        """Point a checkpoint at the input topic the broker has now (streams/rebuild.py).

        After a broker lost its data, the topic is new (offsets from 0, no committed offsets) and
        so are the output topics: the checkpoint is emptied (CheckpointStore.follow_topic) and the
        engine in memory dropped, so the partition is derived again from the new topic's start and
        every output reaches the new topics.
        """
        current = self._topic_ids.get(topic)
        if store is None or current is None:
            return
        offset = store.offset()
        if store.follow_topic(current):
            if topic == self.settings.topic_prints:
                self.engines.pop(partition, None)
            else:
                self.index = None
            self._outbox_unsent.discard((topic, partition))
            self.metrics.topics_recreated.labels(topic).inc()
            log.warning(
                "%s[%d] is a new topic (the broker lost its data): the checkpoint at offset %s belongs to "
                "the lost one; deriving the partition again from the new topic's start",
                topic, partition, offset,
            )  # fmt: skip

    async def engine_for(self, partition: int) -> tuple[FundingEngine, CheckpointStore]:
        """The engine of a prints partition (loaded on assignment; here only if that was missed)."""
        topic = self.settings.topic_prints
        await self._until_loaded((topic, partition))
        if partition not in self.engines:
            committed = await committed_offsets(self.settings, [(topic, partition)])
            await self._load_prints(partition, committed.get((topic, partition)))
        return self.engines[partition], self.stores[partition]

    async def index_engine(self) -> tuple[IndexEngine, CheckpointStore]:
        """The composite index engine (loaded on assignment; here only if that was missed)."""
        topic = self.settings.topic_index_inputs
        await self._until_loaded((topic, 0))
        if self.index is None or self.index_store is None:
            committed = await committed_offsets(self.settings, [(topic, 0)])
            await self._load_index(committed.get((topic, 0)))
        assert self.index is not None and self.index_store is not None
        return self.index, self.index_store

    def preload(self) -> None:
        """Export the local checkpoints at start, before the group assigns anything.

        After a restart the group join waits for the old member's session to expire, which can take
        longer than a scrape or two; the state this worker held is on its disk and is exported now,
        so no series disappears. The first assignment then keeps what is assigned (bringing it up to
        the committed offset) and releases the rest. Nothing is processed or sent before it.
        """
        s = self.settings
        directory = checkpoint_dir(s) / s.app_id
        for path in sorted(directory.glob(f"{s.topic_prints}-*.sqlite")):
            suffix = path.stem.rsplit("-", 1)[-1]
            if not suffix.isdigit():
                continue
            store = CheckpointStore(path)
            self.engines[int(suffix)], self.stores[int(suffix)] = self._engine_from(store, int(suffix)), store
            self._outbox_unsent.add((s.topic_prints, int(suffix)))
        index_path = self._path(s.topic_index_inputs, 0)
        if index_path.exists():
            store = CheckpointStore(index_path)
            self.index, self.index_store = self._index_from(store), store
            self._outbox_unsent.add((s.topic_index_inputs, 0))
        if self.engines or self.index is not None:
            log.info(
                "exporting the checkpoints of partitions %s until the group assigns", sorted(self.engines)
            )

    def release(self, topic: str, partitions: set[int]) -> None:
        """Forget the state of partitions another worker now owns (it may change them meanwhile)."""
        if topic == self.settings.topic_prints:
            for partition in partitions:
                self.engines.pop(partition, None)
                store = self.stores.pop(partition, None)
                if store is not None:
                    store.close()
        elif topic == self.settings.topic_index_inputs and 0 in partitions and self.index_store is not None:
            self.index_store.close()
            self.index, self.index_store = None, None
            self.index_assigned = False

    def read_index_input(self, value: bytes) -> Signal:
        """One message of the index-inputs topic: refused unread if over the size limit (RecordError)."""
        check_size(value, self.settings.max_record_bytes)
        return Signal.from_json(value)

    def handle_print(self, engine: FundingEngine, value: bytes) -> Outcome:
        """One message of the prints topic: refused unread if over the size limit, else the engine's."""
        try:
            check_size(value, self.settings.max_record_bytes)
        except RecordError as exc:
            log.warning("dead-lettered a message on %s: %s", self.settings.topic_prints, exc)
            return Outcome(dead_letters=[dead_letter(self.settings.topic_prints, value, exc)])
        return engine.handle_print_bytes(value)

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

    async def send_committed(
        self,
        key: tuple[str, int],
        store: CheckpointStore,
        ids: Sequence[int],
        records: Sequence[OutboxRecord],
    ) -> None:
        """Send a batch's committed outputs of partition ``key``, if this worker still owns it.

        The zombie fence (streams/membership.py): after a pause longer than the session timeout,
        another worker owns the partition and has sent these outputs or will; they stay in the
        outbox, and the next assignment decides (kept here: sent then; moved: the new owner sends).
        """
        if not records and key not in self._outbox_unsent:
            return  # nothing to send: no round trip
        generation = self.generation  # None: no group assignment (an agent's test context)
        if generation is not None and not (key in self.assigned and await is_member(self.app, generation)):
            self._outbox_unsent.add(key)
            self.metrics.outputs_held.inc(len(records))
            log.warning(
                "%s[%d]: kept %d records in the outbox: no longer a member of group generation %d",
                key[0], key[1], len(records), generation,
            )  # fmt: skip
            return
        if key in self._outbox_unsent:  # held before (or left at start): the whole outbox, in order
            self._outbox_unsent.discard(key)
            await self._resend(store)
            return
        await self.send(store, ids, records)

    async def _resend(self, store: CheckpointStore) -> None:
        pending = store.outbox()
        if pending:
            log.warning("re-sending %d records left in the outbox of %s", len(pending), store.path)
        for outbox_id, topic, key, value in pending:
            await self.topics[topic].send(
                key=key, value=value, callback=functools.partial(_delivered, store, outbox_id)
            )


def _behind(checkpoint: int | None, committed: int | None) -> tuple[int, int] | None:
    """The offsets ``[start, stop)`` a checkpoint misses of what the group committed, if any."""
    start = -1 if checkpoint is None else checkpoint
    if committed is None or start + 1 >= committed:
        return None
    return start + 1, committed


def _delivered(store: CheckpointStore, outbox_id: int, _future: Any) -> None:
    try:
        store.delivered(outbox_id)
    except Exception:  # the store was closed by a rebalance: the next owner re-sends (at least once)
        log.debug("outbox %d of %s not cleared", outbox_id, store.path)


def _dead_letter_labels(value: bytes) -> tuple[str, str]:
    import json

    body = json.loads(value)
    # Both come from this worker (its topic names, RecordError's fixed reasons); checked anyway, so
    # the label set stays bounded whatever a dead letter says.
    reason = str(body["reason"])
    return str(body["topic"]), reason if reason in REASONS else "other"


def _raw_topic(app: faust.App, name: str, partitions: int) -> Any:
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        partitions=partitions,
    )  # fmt: skip


def broker_credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """Faust's credentials for the Kafka security settings (None: PLAINTEXT).

    Faust hands them to every aiokafka client it makes (consumer, producer, topic admin) through
    ``credentials_to_aiokafka_auth``, which turns them back into :func:`aiokafka_options`.
    """
    options = aiokafka_options(settings)
    if uses_sasl(options["security_protocol"]):
        # With an SSL context the credentials' protocol is SASL_SSL, without one SASL_PLAINTEXT.
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            mechanism=options["sasl_mechanism"],
            ssl_context=options.get("ssl_context"),
        )
    if "ssl_context" in options:
        return faust.SSLCredentials(options["ssl_context"])
    return None


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> Worker:
    """Build the Faust app for ``settings``; metrics go on ``registry`` (a fresh one by default)."""
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        broker_credentials=broker_credentials(settings),
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

    # Both agents take batches: per message, a checkpoint transaction, a round of sends and (for
    # the index) a state snapshot cost far more than the engine's work. A batch's state and outputs
    # are committed in one transaction per partition, with the batch's last offset, so the
    # guarantees of docs/architecture.md hold per batch as they held per message.
    @app.agent(worker.topics[s.topic_prints], name="process-prints")
    async def process_prints(stream: Any) -> Any:
        async for events in stream.take_events(s.batch_max_messages, within=s.batch_max_wait_seconds):
            metrics.records_in.labels(s.topic_prints).inc(len(events))
            outcomes: dict[int, Outcome] = {}  # by position in the batch
            for partition, group in _by_partition(events):
                engine, store = await worker.engine_for(partition)
                records: list[OutboxRecord] = []
                for position, event in group:
                    outcome = outcomes[position] = worker.handle_print(engine, event.value)
                    records += worker.outputs(outcome, forward_to_index=True)
                ids = store.commit(engine, records, offset=group[-1][1].message.offset)
                await worker.send_committed((s.topic_prints, partition), store, ids, records)
            _observe_lag(metrics, events[-1])
            for position in range(len(events)):
                yield outcomes[position]

    @app.agent(worker.topics[s.topic_index_inputs], name="process-index")
    async def process_index(stream: Any) -> Any:
        async for events in stream.take_events(s.batch_max_messages, within=s.batch_max_wait_seconds):
            metrics.records_in.labels(s.topic_index_inputs).inc(len(events))
            index, store = await worker.index_engine()
            outcomes = []
            for event in events:
                outcome = Outcome()
                try:
                    index.add(worker.read_index_input(event.value), time.monotonic())
                except RecordError as exc:
                    log.warning("dead-lettered a message on %s: %s", s.topic_index_inputs, exc)
                    outcome.dead_letters.append(dead_letter(s.topic_index_inputs, event.value, exc))
                # Drained per message, as unbatched: which dates are ready depends on the order.
                drained = index.drain(time.monotonic())
                outcome.signals += drained.signals
                outcome.alerts += drained.alerts
                outcomes.append(outcome)
            records = [r for outcome in outcomes for r in worker.outputs(outcome, forward_to_index=False)]
            ids = store.commit_blob(_INDEX_KEY, index.to_json(), records, offset=events[-1].message.offset)
            await worker.send_committed((s.topic_index_inputs, 0), store, ids, records)
            _observe_lag(metrics, events[-1])
            for outcome in outcomes:
                yield outcome

    @app.timer(1.0)
    async def release_index_dates() -> None:
        # Dates wait for every prints partition's watermark; in live operation a partition can be
        # idle for days, so a grace period releases them.
        if worker.index is None or worker.index_store is None or not worker.index.pending:
            return
        # Not before the group assigns the index: a checkpoint loaded at start waits for its inputs
        # (a restarted worker first waits out the old member's session); nor during a rebuild.
        if not worker.index_assigned or worker.index_loading:
            return
        outcome = worker.index.drain(time.monotonic())
        if outcome.signals or outcome.alerts:
            records = worker.outputs(outcome, forward_to_index=False)
            ids = worker.index_store.commit_blob(_INDEX_KEY, worker.index.to_json(), records)
            await worker.send_committed((s.topic_index_inputs, 0), worker.index_store, ids, records)

    # Revocation keeps the state exported: in Faust's eager rebalance every partition is revoked and
    # most come straight back, and a gap in the exported series would resolve every firing alert.
    # The assignment that follows releases exactly what another worker now owns.
    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        await worker.take({(tp.topic, tp.partition) for tp in assigned})

    quiet_client_logs()  # a broker outage: a few lines a minute, not aiokafka's dozens a second
    worker.preload()
    return worker


def _by_partition(events: Sequence[Any]) -> list[tuple[int, list[tuple[int, Any]]]]:
    """A batch's events with their positions, grouped by partition, each group in offset order."""
    groups: dict[int, list[tuple[int, Any]]] = {}
    for position, event in enumerate(events):
        groups.setdefault(event.message.partition, []).append((position, event))
    return sorted(groups.items())


def _observe_lag(metrics: PipelineMetrics, event: Any) -> None:
    timestamp = getattr(event.message, "timestamp", None)
    if timestamp:
        metrics.processing_lag.set(max(0.0, time.time() - float(timestamp)))
