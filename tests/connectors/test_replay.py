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
from connectors.replay import Hold, ResumableReplay, plan_from_settings, run_replay
from foundation.records import Print
from foundation.settings import Settings, load_settings
from tests.backtest.test_backtest_and_replay_plan import FlakyProducer

START, END = dt.date(2019, 1, 1), dt.date(2019, 12, 31)


def _settings(tmp_path: Path, data_dir: Path) -> Settings:
    return load_settings(env={}, state_dir=tmp_path / "state", data_dir=data_dir)


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


# Pacing: holds keep a print's state in force for a while, on a fake clock (no broker, no waiting).


class FakeClock:
    """A clock that only moves when slept on, recording every pause."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


class TimedProducer(FlakyProducer):
    """Records the clock at every send."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.sent_at: list[float] = []

    def send(self, record: Print) -> None:
        super().send(record)
        self.sent_at.append(self.clock())


def _daily_sofr(days: int, first: dt.date = dt.date(2019, 9, 9)) -> list[Print]:
    published = dt.datetime(2019, 9, 10, 12, tzinfo=dt.UTC)
    return [
        make_print("SOFR", first + dt.timedelta(days=i), 2.0 + i / 100, source="nyfed",
                   published=published + dt.timedelta(days=i), replay=True)
        for i in range(days)
    ]  # fmt: skip


def _replay_timed(prints: list[Print], **options: Any) -> tuple[TimedProducer, FakeClock]:
    clock = FakeClock()
    producer = TimedProducer(clock)
    sent = run_replay(_producer(producer), prints, sleep=clock.sleep, clock=clock, **options)
    assert sent == len(prints) and producer.sent == prints
    return producer, clock


def test_without_a_hold_the_pace_is_the_publication_gap_over_speed_capped() -> None:
    _, clock = _replay_timed(_daily_sofr(4), speed=2 * 86400.0)
    assert clock.pauses == [0.5, 0.5, 0.5]
    _, clock = _replay_timed(_daily_sofr(3), speed=86400.0 / 4, max_pause_seconds=1.0)
    assert clock.pauses == [1.0, 1.0]


def test_a_held_print_stays_in_force_at_least_its_seconds_whatever_the_pace() -> None:
    prints = _daily_sofr(5)
    held = prints[1]
    producer, _ = _replay_timed(prints, speed=10 * 86400.0, hold=lambda p: Hold(4.0) if p == held else None)
    gaps = [round(b - a, 6) for a, b in zip(producer.sent_at, producer.sent_at[1:], strict=False)]
    assert gaps == [0.1, 4.0, 0.1, 0.1]
    # A hold shorter than the pace changes nothing; the pace is not capped by the hold.
    producer, _ = _replay_timed(prints, speed=86400.0, hold=lambda p: Hold(0.5) if p == held else None)
    gaps = [round(b - a, 6) for a, b in zip(producer.sent_at, producer.sent_at[1:], strict=False)]
    assert gaps == [1.0, 1.0, 1.0, 1.0]


def test_a_hold_waits_until_its_condition_or_its_maximum() -> None:
    prints = _daily_sofr(3)
    clock = FakeClock()
    producer = TimedProducer(clock)
    seen = Hold(2.0, until=lambda: clock() >= 6.3, max_seconds=10.0, poll_seconds=0.5)
    run_replay(_producer(producer), prints, speed=None, sleep=clock.sleep, clock=clock,
               hold=lambda p: seen if p == prints[0] else None)  # fmt: skip
    # Held from t=0: at least 2 s, then polled every 0.5 s until the condition holds (t >= 6.3).
    assert producer.sent_at == [0.0, 6.5, 6.5]

    never = Hold(1.0, until=lambda: False, max_seconds=3.0, poll_seconds=0.4)
    clock = FakeClock()
    assert never.wait(0.0, clock, clock.sleep) is False
    assert clock.now == pytest.approx(3.0)
    assert Hold(1.0, until=lambda: True).wait(0.0, clock, clock.sleep) is True
    producer, _ = _replay_timed(prints, speed=None, hold=lambda p: never if p == prints[1] else None)
    assert producer.sent_at == [0.0, 0.0, pytest.approx(3.0)]


def test_prints_published_with_the_held_one_go_at_once_and_a_final_hold_is_waited_out() -> None:
    sofr = _daily_sofr(2)
    iorb = make_print("IORB", sofr[0].observation_date, 2.1, source="fed", published=sofr[0].published_at,
                      replay=True)  # fmt: skip
    prints = [sofr[0], iorb, sofr[1]]
    producer, clock = _replay_timed(
        prints, speed=None, hold=lambda p: Hold(3.0) if p.series_id == "SOFR" else None
    )
    assert producer.sent_at == [0.0, 0.0, 3.0]
    assert clock.now == 6.0  # the last print's hold is over before run_replay returns
