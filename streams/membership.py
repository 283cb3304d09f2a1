"""The zombie fence: is this worker still a member of the group generation that assigned it its partitions?

A worker paused for longer than the session timeout (SIGSTOP, a frozen VM or container, a swap
storm) is evicted from the consumer group, and another worker takes its partitions and rebuilds
them from the topic. When it wakes, it still holds messages it fetched before the pause, and its
agent processes them before its own heartbeat has told it that it was evicted: measured on the
embedded broker (tests/faults/test_zombie.py), a worker stopped for about 20 s processed a stale batch and
sent its outputs 0.1 s after waking. Its offset commit is refused (the broker checks the generation
and member id of an OffsetCommit: ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID, measured on Tansu), but
its outputs went out. They are byte-identical repeats of what the new owner sent (the engines are
deterministic), yet late: a repeat of an older value can land after the new owner's correction of
the same key, and a composite index woken past its grace period would release dates early.

So before a batch's outputs leave its outbox, the worker asks the group coordinator, with one
Heartbeat request carrying the generation and member id of its last assignment, whether it is
still that member; if not (evicted, or the group is rebalancing), the records stay in the outbox:
the partition's next owner sends them (this worker, if it keeps the partition, at the assignment)
or re-sends their outputs after its rebuild. The check costs one round trip to the coordinator per
batch. It narrows, not closes, the window: a pause between the answer and the send still lets a
batch out (only Kafka transactions would close it; the outputs stay at-least-once and idempotent).
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.client import ConnectionGroup
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import HeartbeatRequest

__all__ = ["is_member"]

log = logging.getLogger(__name__)


async def _heartbeat(consumer: Any, generation: int) -> bool:
    """On the consumer's own thread: one Heartbeat of ``generation``; True if the coordinator accepts it."""
    coordinator = consumer._coordinator
    node = coordinator.coordinator_id
    if coordinator.generation != generation or node is None:
        return False  # evicted and reset, rejoining, or the coordinator is being looked up again
    request = HeartbeatRequest(coordinator.group_id, generation, coordinator.member_id)
    try:
        response = await consumer._client.send(node, request, group=ConnectionGroup.COORDINATION)
    except KafkaError as exc:
        log.warning("membership check failed: %s", exc)
        return False
    return int(response.error_code) == 0  # not ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS


async def is_member(app: Any, generation: int) -> bool:
    """Whether the coordinator still counts this worker's Faust consumer a member of ``generation``.

    Runs the request on the thread of Faust's aiokafka consumer, whose event loop owns its client.
    """
    thread = getattr(app.consumer, "_thread", None)
    if thread is None:
        return False
    return bool(await thread.call_thread(_heartbeat, thread._ensure_consumer(), generation))
