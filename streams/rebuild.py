"""Rebuild a partition's state from its input topic, up to the consumer group's committed offset.

The input topics are the source of truth: the prints and index-inputs topics are kept forever and
not compacted (``plumbline stack up`` and deploy/ create them so: compaction would move a re-sent
print to its latest position), so they serve as the changelog of every partition's state. A
worker's checkpoint is local to it (its own directory, its own volume). When a worker is assigned
a partition whose local checkpoint is missing, or older than what the group has committed (another
worker processed it meanwhile), it re-reads the partition from just after its checkpoint up to the
committed offset, feeding the same engine, before it processes anything new.

The read stops at the committed offset, never at an end offset: the embedded broker under-reports
end offsets, and the committed offset is exactly what the group has processed.

Offsets mean something only within one incarnation of a topic. A broker that loses its data (the
embedded one keeps topics in memory) comes back with the topics recreated, empty, offsets from 0,
and no committed group offsets. :func:`topic_ids` reads each topic's id (Kafka's topic UUID, which
Tansu sets anew when it creates a topic): a checkpoint records the id its offset refers to, and one
taken on another incarnation reads the new topic from its start (its prints are idempotent: the
republished ones are no-ops, the new ones are processed). :func:`quiet_client_logs` keeps a broker
outage to a few lines a minute instead of aiokafka's dozens a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from foundation.kafka_security import aiokafka_options, kafka_python_options
from foundation.settings import Settings

__all__ = ["RebuildError", "committed_offsets", "quiet_client_logs", "read_partition", "topic_ids"]

log = logging.getLogger(__name__)


class RebuildError(RuntimeError):
    """The partition could not be read up to the committed offset (the message says why)."""


def _client_options(settings: Settings) -> dict[str, object]:
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "request_timeout_ms": 30_000,
        **aiokafka_options(settings),  # TLS and SASL, as the worker's own Faust clients have them
    }


async def committed_offsets(
    settings: Settings, partitions: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The group's committed offset (the next offset to read) of each partition that has one.

    Reads the offsets without joining the group (no subscription), so it never causes a rebalance.
    """
    wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
    if not wanted:
        return {}
    consumer = AIOKafkaConsumer(group_id=settings.app_id, **_client_options(settings))  # type: ignore[arg-type]
    await consumer.start()
    try:
        out = {}
        for tp in wanted:
            offset = await consumer.committed(tp)
            if offset is not None and offset >= 0:
                out[(tp.topic, tp.partition)] = int(offset)
        return out
    finally:
        await consumer.stop()


async def read_partition(
    settings: Settings,
    topic: str,
    partition: int,
    start: int,
    stop: int,
    handle: Callable[[int, bytes], None],
    *,
    idle_timeout_seconds: float = 30.0,
) -> int:
    """Feed ``handle(offset, value)`` every message of ``topic[partition]`` in ``[start, stop)``.

    Returns how many messages were read (offsets need not be contiguous).
    Raises :class:`RebuildError` when no message arrives for ``idle_timeout_seconds`` before ``stop``.
    """
    if start >= stop:
        return 0
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(group_id=None, **_client_options(settings))  # type: ignore[arg-type]
    await consumer.start()
    count = 0
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        last_progress = time.monotonic()
        position = start
        while position < stop:
            batches: Mapping[TopicPartition, list] = await consumer.getmany(
                tp, timeout_ms=500, max_records=5000
            )
            for message in batches.get(tp, []):
                if message.offset >= stop:
                    position = stop
                    break
                if message.value is not None:  # a tombstone carries no print
                    handle(message.offset, message.value)
                    count += 1
                position = message.offset + 1
                last_progress = time.monotonic()
            else:
                position = max(position, await consumer.position(tp))
            if time.monotonic() - last_progress > idle_timeout_seconds:
                raise RebuildError(
                    f"{topic}[{partition}]: read up to offset {position} of {stop} and then nothing for "
                    f"{idle_timeout_seconds:.0f} s; is the topic's retention shorter than the history?"
                )
        return count
    finally:
        await consumer.stop()


_NO_TOPIC_ID = "00000000-0000-0000-0000-000000000000"


def _topic_ids_now(settings: Settings, topics: list[str]) -> dict[str, str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, client_id=f"{settings.app_id}-topic-ids",
        request_timeout_ms=10_000, **kafka_python_options(settings),
    )  # fmt: skip
    try:
        out = {}
        for topic in admin.describe_topics(topics):
            topic_id = str(topic.get("topic_id") or "")
            if topic.get("error_code") == 0 and topic_id and topic_id != _NO_TOPIC_ID:
                out[str(topic["name"])] = topic_id
        return out
    finally:
        admin.close()


async def topic_ids(settings: Settings, topics: Iterable[str]) -> dict[str, str]:
    """The broker's id of each topic that has one (Kafka >= 2.8 and Tansu do; empty if unknown).

    A topic deleted and created again (or a broker that lost its data) gets a new id, so a
    checkpoint offset recorded under another id belongs to a topic that no longer exists.
    """
    wanted = sorted(set(topics))
    try:
        return await asyncio.to_thread(_topic_ids_now, settings, wanted)
    except Exception as exc:  # an old broker, or none: offsets are then trusted as before
        log.warning("could not read the ids of topics %s (%s: %s)", wanted, type(exc).__name__, exc)
        return {}


class _OncePerInterval(logging.Filter):
    """Lets each distinct message of a logger through once per ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[tuple[str, object], float] = {}
        self._suppressed: dict[tuple[str, object], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.msg)
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            record.msg = f"{record.msg} (and {suppressed} more like it in the last {self.interval:.0f} s)"
        return True


#: The Kafka client loggers that repeat themselves many times a second while the broker is away.
_CLIENT_LOGGERS = (
    "aiokafka", "aiokafka.conn", "aiokafka.cluster", "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator", "aiokafka.producer.sender", "aiokafka.producer.producer",
    "faust.topics", "kafka", "kafka.conn", "kafka.client",
)  # fmt: skip


def quiet_client_logs(interval_seconds: float = 30.0) -> None:
    """While the broker is away, each Kafka client warning is logged once per ``interval_seconds``.

    aiokafka logs every failed connection, fetch, heartbeat and metadata request, about fifty lines
    a second; they stay in the log, but as one line per kind (with the count left out) per interval.
    Idempotent.
    """
    for name in _CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OncePerInterval) for f in logger.filters):
            logger.addFilter(_OncePerInterval(interval_seconds))
