"""The archive is the source of truth: idempotent, revisions as vintages, stored before produced."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from connectors.archive import Archive
from connectors.base import FetchResult, dead_letter, make_print
from connectors.history import read_history
from connectors.publisher import Publisher
from foundation.records import DeadLetter, Print, RecordError

D17 = dt.date(2019, 9, 17)
SEEN = dt.datetime(2019, 9, 18, 19, 0, tzinfo=dt.UTC)


def sofr(value: float, day: dt.date = D17) -> Print:
    return make_print("SOFR", day, value, source="nyfed")


class Future:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> None:
        if self.error is not None:
            raise self.error


class FakeProducer:
    """Records what was sent, and checks every print was archived before it was sent."""

    def __init__(self, archive: Archive, fail_with: Exception | None = None) -> None:
        self.archive = archive
        self.fail_with = fail_with
        self.sent: list[Print] = []
        self.dead_letters: list[DeadLetter] = []
        self.closed = False

    def send(self, record: Print) -> Future:
        archived = self.archive.vintages(record.series_id, record.observation_date)
        assert record in archived, f"{record.key} v{record.vintage} sent before it was archived"
        if self.fail_with is None:
            self.sent.append(record)
        return Future(self.fail_with)

    def send_dead_letter(self, record: DeadLetter) -> Future:
        self.dead_letters.append(record)
        return Future(self.fail_with)

    def flush(self, timeout_seconds: float = 30.0) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_exact_repeat_is_a_no_op_and_a_revision_is_a_new_vintage(archive: Archive) -> None:
    assert archive.store(sofr(5.25)).outcome == "new"
    assert archive.store(sofr(5.25)).outcome == "repeat"
    revised = archive.store(sofr(5.26), known_at=SEEN)
    assert (revised.outcome, revised.print.vintage) == ("revision", 2)
    assert revised.print.published_at == SEEN  # known when seen, not when the first vintage was
    assert [(p.vintage, p.value) for p in archive.vintages("SOFR", D17)] == [(1, 5.25), (2, 5.26)]
    assert archive.total_vintages() == 2  # nothing overwritten


def test_a_stale_source_repeating_an_old_vintage_does_not_flip_the_value(archive: Archive) -> None:
    archive.store(sofr(5.25))
    archive.store(sofr(5.26))
    assert archive.store(sofr(5.25)).outcome == "repeat"
    assert len(archive.vintages("SOFR", D17)) == 2


def test_the_same_balance_in_billions_and_millions_is_a_repeat(archive: Archive) -> None:
    billions = make_print("WRESBAL", dt.date(2009, 1, 7), 877.820, source="fred", multiplier=1e9)
    millions = make_print("WRESBAL", dt.date(2009, 1, 7), 877820.0, source="fred", multiplier=1e6)
    assert archive.store(billions).outcome == "new"
    assert archive.store(millions).outcome == "repeat"


def test_nothing_wrong_reaches_the_archive(archive: Archive) -> None:
    bad = dataclasses.replace(sofr(5.25), value=525.0)
    with pytest.raises(RecordError, match="out_of_range"):
        archive.store_many([sofr(2.43, dt.date(2019, 9, 16)), bad])
    assert archive.total_vintages() == 0  # the batch is all or nothing
    with pytest.raises(RecordError, match="unit_mismatch"):
        archive.store(dataclasses.replace(sofr(5.25), unit="bp"))


def test_archive_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state" / "archive.sqlite3"
    with Archive(path) as first:
        first.store(sofr(5.25))
        first.store(sofr(5.26))
    with Archive(path) as second:
        assert [p.value for p in second.vintages("SOFR", D17)] == [5.25, 5.26]
        assert second.store(sofr(5.26)).outcome == "repeat"


def test_dead_letters_are_stored_once(archive: Archive) -> None:
    letter = dead_letter("nyfed", "not_json", "SOFR: truncated", "{", SEEN)
    assert archive.store_dead_letter(letter)
    assert not archive.store_dead_letter(
        dataclasses.replace(letter, received_at=SEEN + dt.timedelta(hours=1))
    )
    assert [d.record.reason for d in archive.dead_letters()] == ["not_json"]


def test_history_import_keeps_every_print_of_the_file(archive: Archive, data_dir: Path) -> None:
    prints = read_history(data_dir, "RRPONTSYD", replay=True)
    outcomes = [s.outcome for s in archive.store_many(prints)]
    assert outcomes.count("new") == len(prints) == archive.counts()["RRPONTSYD"]
    peak = archive.vintages("RRPONTSYD", dt.date(2022, 12, 30))[0]
    assert peak.value == 2_553_716_000_000.0  # 2553.716 bn, rounded to the dollar at the edge
    # the NY Fed operation total for the same day is the same print, not a revision
    live = make_print("RRPONTSYD", dt.date(2022, 12, 30), 2553716000000, source="nyfed")
    assert archive.store(live).outcome == "repeat"


def test_publisher_archives_before_producing_and_produces_each_vintage_once(archive: Archive) -> None:
    producer = FakeProducer(archive)
    publisher = Publisher(archive, lambda: producer, say=lambda line: None)
    first = publisher.ingest(FetchResult(prints=[sofr(5.25), sofr(2.43, dt.date(2019, 9, 16))]))
    again = publisher.ingest(FetchResult(prints=[sofr(5.25)]))
    revised = publisher.ingest(FetchResult(prints=[sofr(5.26)]), known_at=SEEN)
    assert (first.new, first.produced, again.repeats, again.produced) == (2, 2, 1, 0)
    assert (revised.revised, revised.produced) == (1, 1)
    assert [(p.key, p.vintage) for p in producer.sent] == [
        ("SOFR@2019-09-16", 1), ("SOFR@2019-09-17", 1), ("SOFR@2019-09-17", 2),
    ]  # fmt: skip
    assert archive.pending() == []


def test_broker_down_leaves_prints_pending_and_the_next_flush_sends_them(archive: Archive) -> None:
    producer = FakeProducer(archive)
    attempts: list[int] = []
    messages: list[str] = []

    def factory() -> FakeProducer:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("NoBrokersAvailable")
        return producer

    publisher = Publisher(archive, factory, say=messages.append)
    report = publisher.ingest(FetchResult(prints=[sofr(5.25)]))
    assert (report.new, report.produced, report.pending) == (1, 0, 1)
    assert any("archiving only" in line for line in messages)
    assert publisher.flush_pending() == (1, 0)
    assert [p.key for p in producer.sent] == ["SOFR@2019-09-17"]


def test_failed_acknowledgement_keeps_the_print_pending(archive: Archive) -> None:
    failing = FakeProducer(archive, fail_with=TimeoutError("no ack"))
    publisher = Publisher(archive, lambda: failing, say=lambda line: None)
    report = publisher.ingest(FetchResult(prints=[sofr(5.25)]))
    assert (report.produced, report.pending) == (0, 1)
    assert failing.closed


def test_history_is_not_produced_unless_republished(archive: Archive) -> None:
    producer = FakeProducer(archive)
    publisher = Publisher(archive, lambda: producer, say=lambda line: None)
    publisher.ingest(FetchResult(prints=[sofr(5.25)]), replay=True)
    assert producer.sent == []
    assert publisher.republish() == 1
    assert producer.sent[0].replay is True


def test_dead_letters_are_archived_and_produced_to_the_dead_letter_topic(archive: Archive) -> None:
    producer = FakeProducer(archive)
    publisher = Publisher(archive, lambda: producer, say=lambda line: None)
    result = FetchResult()
    result.accept(sofr(525.0), raw={"percentRate": 525.0})
    report = publisher.ingest(result)
    assert report.dead_letters == 1 and report.new == 0
    assert [d.reason for d in producer.dead_letters] == ["out_of_range"]
    assert archive.dead_letters(pending_only=True) == []


def test_replay_flag_and_bytes_of_a_republished_vintage_are_unchanged(archive: Archive) -> None:
    producer = FakeProducer(archive)
    publisher = Publisher(archive, lambda: producer, say=lambda line: None)
    publisher.ingest(FetchResult(prints=[sofr(5.25)]))
    publisher.republish()
    first, second = producer.sent
    assert first.to_json() == second.to_json()
