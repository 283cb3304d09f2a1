"""The archive is the source of truth: idempotent, revisions as vintages, stored before produced."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from connectors.archive import Archive, ArchiveWriteError
from connectors.base import FetchResult, dead_letter, make_print
from connectors.history import read_history
from connectors.publisher import Publisher
from connectors.telemetry import ConnectorTelemetry
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


def _fill(archive: Archive) -> None:
    """SQLite's own SQLITE_FULL: the database may not grow by a page (tests/faults fills a real disk)."""
    pages = archive._db.execute("PRAGMA page_count").fetchone()[0]
    archive._db.execute(f"PRAGMA max_page_count = {pages}")


def _make_room(archive: Archive) -> None:
    archive._db.execute("PRAGMA max_page_count = 1073741823")


def _month() -> list[Print]:
    return [sofr(2.0 + day / 100, dt.date(2019, 8, day)) for day in range(1, 32)]


def _years() -> list[Print]:
    """Two thousand days: more rows than the archive's last page holds."""
    return [sofr(2.0, dt.date(2010, 1, 1) + dt.timedelta(days=n)) for n in range(2000)]


def test_a_failed_write_is_one_line_stores_nothing_and_the_archive_works_afterwards(tmp_path: Path) -> None:
    with Archive(tmp_path / "archive.sqlite3") as archive:
        archive.store(sofr(5.25))
        _fill(archive)
        with pytest.raises(ArchiveWriteError) as failed:
            archive.store_many(_years())
        assert failed.value.reason == "disk_full"
        assert str(failed.value) == (
            f"archive {tmp_path / 'archive.sqlite3'} cannot be written: the disk is full "
            "(database or disk is full)"
        )
        assert archive.total_vintages() == 1 and not archive._db.in_transaction  # all rolled back
        _make_room(archive)
        assert len(archive.store_many(_month())) == 31 and archive.total_vintages() == 32


def test_an_archive_that_cannot_be_opened_for_writing_says_why(tmp_path: Path) -> None:
    occupied = tmp_path / "a-file"
    occupied.write_text("")
    with pytest.raises(ArchiveWriteError, match="cannot be written: the write failed") as failed:
        Archive(occupied / "archive.sqlite3")  # its folder is a file
    assert failed.value.reason == "io_error" and "\n" not in str(failed.value)


def test_nothing_is_produced_when_the_archive_cannot_be_written(tmp_path: Path) -> None:
    telemetry = ConnectorTelemetry()
    with Archive(tmp_path / "archive.sqlite3") as archive:
        producer = FakeProducer(archive)
        said: list[str] = []
        publisher = Publisher(archive, lambda: producer, say=said.append, telemetry=telemetry)
        publisher.ingest(FetchResult(prints=[sofr(5.25)]))
        _fill(archive)
        with pytest.raises(ArchiveWriteError):
            publisher.ingest(FetchResult(prints=_years()))
        assert [p.key for p in producer.sent] == ["SOFR@2019-09-17"]  # nothing of the failed ingest
        assert said == []  # the poller says it, in its own line
        snap = telemetry.snapshot()
        assert snap.archive_errors == {"disk_full": 1} and snap.archive_failure is not None
        assert "the disk is full" in snap.archive_failure
        publisher.ingest(FetchResult(prints=[sofr(5.25)]))  # a repeat writes nothing: still failing
        assert telemetry.archive_failure() is not None
        _make_room(archive)
        report = publisher.ingest(FetchResult(prints=_month()))
        assert (report.new, report.produced) == (31, 31) and telemetry.archive_failure() is None
        assert len(producer.sent) == len({(p.key, p.vintage) for p in producer.sent}) == 32


def test_acknowledged_prints_that_cannot_be_marked_are_not_produced_again(tmp_path: Path) -> None:
    telemetry = ConnectorTelemetry()
    with Archive(tmp_path / "archive.sqlite3") as archive:
        producer = FakeProducer(archive)
        said: list[str] = []
        broker_up = False

        def factory() -> FakeProducer:
            if not broker_up:
                raise ConnectionError("NoBrokersAvailable")
            return producer

        publisher = Publisher(archive, factory, say=said.append, telemetry=telemetry)
        assert publisher.ingest(FetchResult(prints=[sofr(5.25)])).pending == 1
        archive._db.execute("PRAGMA query_only = ON")  # SQLite refuses every write: SQLITE_READONLY
        broker_up = True
        assert publisher.flush_pending() == (1, 0)  # produced, acknowledged, but not marked
        assert "read-only" in said[-1] and "marked produced at the next flush" in said[-1]
        assert telemetry.snapshot().archive_errors == {"read_only": 1}
        assert publisher.flush_pending() == (0, 0)  # still unmarked: not produced a second time
        archive._db.execute("PRAGMA query_only = OFF")
        assert publisher.flush_pending() == (0, 0)
        assert archive.pending() == [] and telemetry.archive_failure() is None
        assert [p.key for p in producer.sent] == ["SOFR@2019-09-17"]
