"""Produce prints onto the prints topic with kafka-python.

Keys are the print's idempotency key (series and observation date), so a repeat of the same print
lands on the same partition and downstream can treat it as a no-op. ``send`` returns the kafka-python
future, so a caller that must know a print reached the broker (the archive's ``produced_at``) can wait
on exactly that print. Dead letters go to the dead-letter topic, keyed by their reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any

from kafka import KafkaProducer

from foundation.catalogue import print_partitions
from foundation.kafka_security import kafka_python_options
from foundation.records import DeadLetter, Print
from foundation.settings import Settings

__all__ = ["AllCopies", "PrintProducer", "print_partitions_of"]


def print_partitions_of(series_id: str, partitions: set[int] | None) -> tuple[int, ...]:
    """The partitions a print goes to: one per partition computing a signal it feeds.

    >>> print_partitions_of("SOFR", {0}), print_partitions_of("WALCL", None)
    ((0,), (0,))
    """
    ordered = sorted(partitions or {0})  # no metadata yet: the only partition there surely is
    return tuple(ordered[p] for p in print_partitions(series_id, len(ordered)))


class AllCopies:
    """The send futures of one print's copies, acknowledged together (``get`` as kafka-python's)."""

    def __init__(self, futures: list[Any]) -> None:
        self.futures = futures

    def get(self, timeout: float | None = None) -> list[Any]:
        """Every copy's record metadata; raises the first copy's error."""
        return [future.get(timeout=timeout) for future in self.futures]


class PrintProducer:
    """A thin, explicit wrapper over :class:`kafka.KafkaProducer` for :class:`Print` records."""

    def __init__(
        self, settings: Settings, producer: KafkaProducer | None = None, max_block_ms: int = 10000
    ) -> None:
        self.topic = settings.topic_prints
        self.dead_letter_topic = settings.topic_dead_letter
        options: dict[str, Any] = {}
        if "bootstrap_timeout_ms" in KafkaProducer.DEFAULT_CONFIG:
            # kafka-python 3 otherwise spends 30 s bootstrapping from a broker that is not there.
            options["bootstrap_timeout_ms"] = max_block_ms
        self._producer = producer or KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            retries=5,
            client_id="plumbline-connector",
            max_block_ms=max_block_ms,  # a missing broker fails in seconds, not kafka-python's 60 s
            **options,
            **kafka_python_options(settings),  # TLS and SASL (docs/security.md)
        )

    def send(self, record: Print) -> Any:
        """Queue one print; :meth:`flush` waits until the broker has it. Returns the send future.

        The print goes to every partition computing a signal it feeds (prints are small; copies
        let N workers share the signals). The returned future resolves once every copy is acknowledged.
        """
        # Explicit partitions (not a partitioner): the custom-partitioner API differs between
        # kafka-python 2 and 3, and the metadata lookup is cached after the first send.
        key, value = record.key.encode(), record.to_json()
        partitions = print_partitions_of(record.series_id, self._producer.partitions_for(self.topic))
        return AllCopies(
            [self._producer.send(self.topic, key=key, value=value, partition=p) for p in partitions]
        )

    def send_dead_letter(self, record: DeadLetter) -> Any:
        """Queue one dead letter on the dead-letter topic. Returns the send future."""
        return self._producer.send(self.dead_letter_topic, key=record.reason.encode(), value=record.to_json())

    def send_all(self, records: Iterable[Print]) -> int:
        """Queue and flush many prints; returns how many were sent."""
        count = 0
        for record in records:
            self.send(record)
            count += 1
        self.flush()
        return count

    def flush(self, timeout_seconds: float = 30.0) -> None:
        """Block until every queued print is acknowledged (raises on failure)."""
        self._producer.flush(timeout=timeout_seconds)

    def close(self) -> None:
        """Flush what is queued (up to 5 s) and disconnect."""
        self._producer.close(timeout=5)

    def __enter__(self) -> PrintProducer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
