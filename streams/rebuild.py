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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from foundation.kafka_security import aiokafka_options
from foundation.settings import Settings

__all__ = ["RebuildError", "committed_offsets", "read_partition"]

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
