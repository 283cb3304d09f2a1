"""Archive first, then produce: the path every connector print takes to the prints topic.

:meth:`Publisher.ingest` stores a fetch result in the archive (prints as new vintages or no-op
repeats, dead letters once each) and then produces what the broker has not acknowledged yet.
If the broker is down, nothing is lost: prints stay pending in the archive and the next
:meth:`Publisher.flush_pending` (every poll) sends them. :meth:`Publisher.republish` re-sends
archived prints regardless of ``produced_at``, for a broker that lost its topics. Given ``topic_id``
(:func:`prints_topic_id`), the publisher notices that itself: when the prints topic's id changes
(the broker lost its data and the topic was created again, empty), the next flush re-sends every
live print of the archive, logged as one line.

Every send of a given vintage carries the same key and bytes, so downstream treats repeats as no-ops.

If the archive cannot be written (a full disk, a read-only volume), :meth:`Publisher.ingest` raises
:class:`connectors.archive.ArchiveWriteError` before producing anything: nothing reaches the topic
that is not archived, and the poller fetches the same prints again at its next poll. If only marking
acknowledged records fails, they are remembered here and marked at the next flush instead of being
produced a second time.

What it does is logged (logger ``connectors.publisher``) and counted in a
:class:`connectors.telemetry.ConnectorTelemetry`: rows archived, records produced, producer errors,
and the backlog of archived records the broker has not acknowledged yet.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from connectors.archive import Archive, ArchiveWriteError
from connectors.base import FetchResult
from connectors.telemetry import ConnectorTelemetry
from foundation.records import DeadLetter, Print
from foundation.settings import Settings

__all__ = ["IngestReport", "ProducerLike", "Publisher", "kafka_producer_factory", "prints_topic_id"]

log = logging.getLogger(__name__)

# How long to wait for the broker to acknowledge one batch before leaving it pending for the next poll.
_ACK_TIMEOUT_SECONDS = 30.0


class ProducerLike(Protocol):
    """What the publisher needs of :class:`connectors.producer.PrintProducer`."""

    def send(self, record: Print) -> Any:
        """Queue a print; return a future with ``get(timeout=...)``."""
        ...

    def send_dead_letter(self, record: DeadLetter) -> Any:
        """Queue a dead letter; return a future with ``get(timeout=...)``."""
        ...

    def flush(self, timeout_seconds: float = 30.0) -> None:
        """Wait for queued records."""
        ...

    def close(self) -> None:
        """Disconnect."""
        ...


def kafka_producer_factory(settings: Settings, max_block_ms: int = 10000) -> Callable[[], ProducerLike]:
    """A factory for :class:`PrintProducer` that gives up on a missing broker within ``max_block_ms``.

    kafka-python blocks 60 s by default when the broker is gone; the poller would stop polling
    every other source for that long.
    """

    def make() -> ProducerLike:
        from connectors.producer import PrintProducer

        return PrintProducer(settings, max_block_ms=max_block_ms)

    return make


_NO_TOPIC_ID = "00000000-0000-0000-0000-000000000000"


def prints_topic_id(settings: Settings, timeout_ms: int = 5000) -> str | None:
    """The broker's id of the prints topic; None when there is no broker, no topic, or no ids.

    Kafka (2.8+) and the embedded broker give each topic an id when they create it, so a topic
    created again after the broker lost its data (the embedded broker keeps topics in memory) has
    a new id, while its name and partitions are the same.
    """
    from kafka import KafkaAdminClient

    from foundation.kafka_security import kafka_python_options

    options: dict[str, Any] = {}
    if "bootstrap_timeout_ms" in KafkaAdminClient.DEFAULT_CONFIG:
        options["bootstrap_timeout_ms"] = timeout_ms
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers, client_id="plumbline-topic-id",
            request_timeout_ms=timeout_ms, **options, **kafka_python_options(settings),
        )  # fmt: skip
    except Exception:
        return None
    try:
        for topic in admin.describe_topics([settings.topic_prints]):
            topic_id = str(topic.get("topic_id") or "")
            if topic.get("error_code") == 0 and topic_id and topic_id != _NO_TOPIC_ID:
                return topic_id
        return None
    except Exception:
        return None
    finally:
        admin.close()


@dataclasses.dataclass
class IngestReport:
    """Counts of one ingest: what was new, revised, repeated, rejected and produced."""

    new: int = 0
    revised: int = 0
    repeats: int = 0
    dead_letters: int = 0
    produced: int = 0
    pending: int = 0

    def add(self, other: IngestReport) -> None:
        """Sum another report into this one."""
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def summary(self) -> str:
        """One line for the operator."""
        return (
            f"{self.new} new, {self.revised} revised, {self.repeats} repeats, "
            f"{self.dead_letters} dead letters, "
            f"{self.produced} produced, {self.pending} pending"
        )


class Publisher:
    """Archive, then produce. ``producer_factory`` is ``None`` to only archive (``plumbline fetch``).

    Messages (dead letters, revisions, broker trouble) are logged; a command that wants them for its
    own one-line answer passes ``say``, which then receives them instead of the log.
    """

    def __init__(
        self,
        archive: Archive,
        producer_factory: Callable[[], ProducerLike] | None = None,
        *,
        say: Callable[[str], None] | None = None,
        ack_timeout_seconds: float = _ACK_TIMEOUT_SECONDS,
        telemetry: ConnectorTelemetry | None = None,
        topic_id: Callable[[], str | None] | None = None,
    ) -> None:
        self.archive = archive
        self._factory = producer_factory
        self._producer: ProducerLike | None = None
        self._say = say
        self.telemetry = telemetry or ConnectorTelemetry()
        self._ack_timeout_seconds = ack_timeout_seconds
        self._broker_down_reported = False
        # Acknowledged by the broker, not yet marked in the archive (a write that failed): neither
        # produced again nor forgotten.
        self._unmarked: dict[tuple[str, dt.date, int], Print] = {}
        self._unmarked_letters: set[int] = set()
        # The prints topic's id when last seen; a new one means the broker lost the topic.
        # Kept beside the archive, so a connectors process started after the loss notices it too.
        self._topic_id = topic_id
        self._topic_id_file = (
            None if str(archive.path) == ":memory:" else Path(f"{archive.path}.prints-topic-id")
        )
        self._topic_id_seen: str | None = None
        if self._topic_id_file is not None and self._topic_id_file.is_file():
            self._topic_id_seen = self._topic_id_file.read_text().strip() or None

    def ingest(
        self, result: FetchResult, *, known_at: dt.datetime | None = None, replay: bool = False
    ) -> IngestReport:
        """Store ``result`` in the archive, then produce everything pending.

        Raises :class:`ArchiveWriteError` (counted, not logged: the caller says it in its own line)
        when the archive cannot be written; then nothing is produced.
        """
        report = IngestReport()
        records = [dataclasses.replace(p, replay=True) if replay else p for p in result.prints]
        try:
            letters = [letter for letter in result.dead_letters if self.archive.store_dead_letter(letter)]
            stored_all = self.archive.store_many(records, known_at=known_at)
        except ArchiveWriteError as exc:
            self.telemetry.archive_error(exc.reason, str(exc))
            raise
        if letters or any(stored.outcome != "repeat" for stored in stored_all):
            self.telemetry.archive_written()
        for letter in letters:
            report.dead_letters += 1
            self.telemetry.archived_dead_letter(letter.topic, letter.reason)
            self._tell(
                logging.WARNING,
                f"dead letter ({letter.reason}) from {letter.topic}: {letter.error}",
                source=letter.topic,
                reason=letter.reason,
            )
        for stored in stored_all:
            if stored.outcome == "new":
                report.new += 1
                self.telemetry.archived_print(stored.print.series_id, "new")
            elif stored.outcome == "revision":
                report.revised += 1
                self.telemetry.archived_print(stored.print.series_id, "revision")
                self._tell(
                    logging.INFO,
                    f"revision: {stored.print.key} is now {stored.print.value:g} {stored.print.unit} "
                    f"(vintage {stored.print.vintage})",
                    series=stored.print.series_id,
                )
            else:
                report.repeats += 1
        produced, pending = self.flush_pending()
        report.produced, report.pending = produced, pending
        return report

    def ingest_dead_letters(self, letters: Iterable[DeadLetter]) -> IngestReport:
        """Archive dead letters that are not part of a fetch result (a whole response was unreadable)."""
        return self.ingest(FetchResult(dead_letters=list(letters)))

    def flush_pending(self) -> tuple[int, int]:
        """Produce archived prints and dead letters not yet acknowledged: (produced, still pending)."""
        self._mark(list(self._unmarked.values()), sorted(self._unmarked_letters))
        pending = [p for p in self.archive.pending() if _identity(p) not in self._unmarked]
        letters = [
            letter
            for letter in self.archive.dead_letters(pending_only=True)
            if letter.id not in self._unmarked_letters
        ]
        if self._factory is None:
            return 0, len(pending)
        self._follow_topic()
        acknowledged, letters_acknowledged = self._send(pending, letters) if (pending or letters) else (0, 0)
        self.telemetry.backlog_now(len(pending) - acknowledged, len(letters) - letters_acknowledged)
        return acknowledged, len(pending) - acknowledged

    def republish(
        self, series: Iterable[str] | None = None, since: dt.date | None = None, *, replay: bool | None = None
    ) -> int:
        """Re-send every archived vintage (publication order); returns how many the broker acknowledged.

        ``replay`` forces the replay flag (``True`` so re-sent history pages nobody); ``None`` keeps
        each print's own flag, so the bytes are identical to the first send.
        """
        records = list(self.archive.iter_prints(series, since))
        if replay is not None:
            records = [dataclasses.replace(p, replay=replay) for p in records]
        return self._send(records, [])[0]

    def _follow_topic(self) -> None:
        """After the broker lost the prints topic (it has a new id), re-send every live print archived.

        Live prints are what the connectors produced (or still hold pending); history imported by
        ``plumbline fetch`` reaches the topic only through ``plumbline republish`` or a replay, which
        the operator runs again. Until every print is acknowledged the old id is kept, so the next
        flush tries again.
        """
        if self._topic_id is None or self._connect() is None:
            return
        current = self._topic_id()
        if current is None or current == self._topic_id_seen:
            return
        if self._topic_id_seen is not None:
            records = [p for p in self.archive.iter_prints() if not p.replay]
            self._tell(
                logging.WARNING,
                f"broker: the prints topic was created again (the broker lost its data); re-sending the "
                f"{len(records)} live prints of the archive (repeats are no-ops downstream)",
            )
            if self._send(records, [])[0] < len(records):
                return
        self._topic_id_seen = current
        if self._topic_id_file is not None:
            with contextlib.suppress(OSError):  # unwritable: the archive's own checks say so
                self._topic_id_file.write_text(current + "\n")

    def close(self) -> None:
        """Close the producer (not the archive)."""
        if self._producer is not None:
            self._producer.close()
            self._producer = None

    def _tell(self, level: int, message: str, **extra: str) -> None:
        if self._say is not None:
            self._say(message)
        else:
            log.log(level, message, extra=extra)

    def _send(self, records: list[Print], letters: list[Any]) -> tuple[int, int]:
        """Produce and wait for acknowledgements: (prints, dead letters) acknowledged."""
        producer = self._connect()
        if producer is None:
            return 0, 0
        acknowledged: list[Print] = []
        done_letters: list[int] = []
        try:
            futures = [(record, producer.send(record)) for record in records]
            letter_futures = [(letter.id, producer.send_dead_letter(letter.record)) for letter in letters]
            producer.flush(self._ack_timeout_seconds)
            for record, future in futures:
                future.get(timeout=self._ack_timeout_seconds)
                acknowledged.append(record)
            for letter_id, future in letter_futures:
                future.get(timeout=self._ack_timeout_seconds)
                done_letters.append(letter_id)
        except Exception as exc:
            # Whatever was not acknowledged stays pending in the archive; the next poll sends it again.
            self.telemetry.producer_error("send")
            self._tell(
                logging.ERROR,
                f"broker: could not produce ({type(exc).__name__}: {exc}); "
                "prints stay pending in the archive",
            )
            self.close()
        else:
            self._broker_down_reported = False
        self.telemetry.produced_records("print", len(acknowledged))
        self.telemetry.produced_records("dead_letter", len(done_letters))
        self._unmarked.update((_identity(p), p) for p in acknowledged)
        self._unmarked_letters.update(done_letters)
        self._mark(acknowledged, done_letters)
        return len(acknowledged), len(done_letters)

    def _mark(self, records: list[Print], letter_ids: list[int]) -> None:
        """Mark acknowledged records produced; on a failed write keep them for the next flush."""
        if not records and not letter_ids:
            return
        try:
            self.archive.mark_produced(records)
            self.archive.mark_dead_letters_produced(letter_ids)
        except ArchiveWriteError as exc:
            self.telemetry.archive_error(exc.reason, str(exc))
            self._tell(
                logging.ERROR,
                f"{exc}; {len(self._unmarked) + len(self._unmarked_letters)} acknowledged record(s) "
                "will be marked produced at the next flush",
                reason=exc.reason,
            )
            return
        self.telemetry.archive_written()
        for record in records:
            self._unmarked.pop(_identity(record), None)
        self._unmarked_letters.difference_update(letter_ids)

    def _connect(self) -> ProducerLike | None:
        if self._producer is None and self._factory is not None:
            try:
                self._producer = self._factory()
            except Exception as exc:
                self.telemetry.producer_error("connect")
                if not self._broker_down_reported:
                    self._tell(
                        logging.ERROR,
                        f"broker: unavailable ({type(exc).__name__}: {exc}); archiving only until it is back",
                    )
                    self._broker_down_reported = True
                return None
        return self._producer


def _identity(record: Print) -> tuple[str, dt.date, int]:
    return record.series_id, record.observation_date, record.vintage
