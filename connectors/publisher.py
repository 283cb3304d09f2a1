"""Archive first, then produce: the path every connector print takes to the prints topic.

:meth:`Publisher.ingest` stores a fetch result in the archive (prints as new vintages or no-op
repeats, dead letters once each) and then produces what the broker has not acknowledged yet.
If the broker is down, nothing is lost: prints stay pending in the archive and the next
:meth:`Publisher.flush_pending` (every poll) sends them. :meth:`Publisher.republish` re-sends
archived prints regardless of ``produced_at``, for a broker that lost its topics.

Every send of a given vintage carries the same key and bytes, so downstream treats repeats as no-ops.

What it does is logged (logger ``connectors.publisher``) and counted in a
:class:`connectors.telemetry.ConnectorTelemetry`: rows archived, records produced, producer errors,
and the backlog of archived records the broker has not acknowledged yet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from connectors.archive import Archive
from connectors.base import FetchResult
from connectors.telemetry import ConnectorTelemetry
from foundation.records import DeadLetter, Print
from foundation.settings import Settings

__all__ = ["IngestReport", "ProducerLike", "Publisher", "kafka_producer_factory"]

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
    ) -> None:
        self.archive = archive
        self._factory = producer_factory
        self._producer: ProducerLike | None = None
        self._say = say
        self.telemetry = telemetry or ConnectorTelemetry()
        self._ack_timeout_seconds = ack_timeout_seconds
        self._broker_down_reported = False

    def ingest(
        self, result: FetchResult, *, known_at: dt.datetime | None = None, replay: bool = False
    ) -> IngestReport:
        """Store ``result`` in the archive, then produce everything pending."""
        report = IngestReport()
        for letter in result.dead_letters:
            if self.archive.store_dead_letter(letter):
                report.dead_letters += 1
                self.telemetry.archived_dead_letter(letter.topic, letter.reason)
                self._tell(
                    logging.WARNING,
                    f"dead letter ({letter.reason}) from {letter.topic}: {letter.error}",
                    source=letter.topic,
                    reason=letter.reason,
                )
        records = [dataclasses.replace(p, replay=True) if replay else p for p in result.prints]
        for stored in self.archive.store_many(records, known_at=known_at):
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
        pending = self.archive.pending()
        letters = self.archive.dead_letters(pending_only=True)
        if self._factory is None:
            return 0, len(pending)
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
        self.archive.mark_produced(acknowledged)
        self.archive.mark_dead_letters_produced(done_letters)
        self.telemetry.produced_records("print", len(acknowledged))
        self.telemetry.produced_records("dead_letter", len(done_letters))
        return len(acknowledged), len(done_letters)

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
