"""What `plumbline replay` calls: the plan from the settings (archive, else data directory) and the
resumable replay with its progress callback, on a fake producer (no broker needed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, cast

import pytest

from connectors.archive import Archive
from connectors.base import make_print
from connectors.producer import PrintProducer
from connectors.replay import ResumableReplay, plan_from_settings
from foundation.records import Print
from foundation.settings import Settings, load_settings

START, END = dt.date(2019, 1, 1), dt.date(2019, 12, 31)


def _settings(tmp_path: Path, data_dir: Path) -> Settings:
    return load_settings(env={}, state_dir=tmp_path / "state", data_dir=data_dir)


class FlakyProducer:
    """Takes prints until ``fail_after`` sends, then raises like a broker that went away."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[Print] = []
        self.fail_after = fail_after

    def send(self, record: Print) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError("broker gone")
        self.sent.append(record)

    def flush(self) -> None:
        pass


def _producer(fake: FlakyProducer) -> PrintProducer:
    return cast(PrintProducer, fake)


def test_the_plan_reads_the_archive_when_there_is_one_else_the_data_directory(
    tmp_path: Path, data_dir: Path
) -> None:
    settings = _settings(tmp_path, data_dir)
    plan = plan_from_settings(settings, ["SOFR", "TLAACBW027SBOG"], START, END, skip_missing=True)
    assert plan.sources == {"SOFR": "data_dir", "TLAACBW027SBOG": "missing"}
    assert plan.found == ["SOFR"] and plan.missing == ["TLAACBW027SBOG"] and plan.origins == ["data_dir"]
    with Archive.open(settings) as archive:
        archive.store(make_print("SOFR", dt.date(2019, 9, 17), 5.25, source="nyfed"))
    plan = plan_from_settings(settings, ["SOFR", "IORB"], START, END)
    assert plan.sources == {"SOFR": "archive", "IORB": "data_dir"} and plan.origins == ["archive", "data_dir"]
    assert [p.value for p in plan.prints if p.series_id == "SOFR"] == [5.25]


def test_an_interrupted_replay_resumes_and_reports_progress_counting_earlier_runs(
    tmp_path: Path, data_dir: Path
) -> None:
    settings = _settings(tmp_path, data_dir)
    plan = plan_from_settings(settings, ["SOFR", "IOER"], START, END)
    assert len(plan.prints) > 500
    first = FlakyProducer(fail_after=600)
    with pytest.raises(ConnectionError):
        ResumableReplay(settings, plan).run(None, producer=_producer(first))

    replay = ResumableReplay(settings, plan)
    assert replay.already_sent == 500 and not replay.complete  # only flushed batches count as sent
    shown: list[tuple[int, Any]] = []
    second = FlakyProducer()
    sent = replay.run(
        None, on_progress=lambda done, latest: shown.append((done, latest)), producer=_producer(second)
    )
    assert sent == len(plan.prints) - 500
    assert first.sent[:500] + second.sent == list(plan.prints)
    assert shown[-1] == (len(plan.prints), plan.prints[-1])
    assert all(done > 500 for done, _ in shown)

    assert ResumableReplay(settings, plan).complete
    again = ResumableReplay(settings, plan, restart=True)
    assert not again.complete and again.already_sent == 0
