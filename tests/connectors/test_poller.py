"""Publication-aware polling on a fake clock: when it polls, what it does on faults, that it stops."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from connectors.archive import Archive
from connectors.base import make_print
from connectors.clock import ManualClock, SystemClock
from connectors.poller import Poller, PollPolicy
from connectors.publisher import Publisher
from connectors.sources import SourceSet
from foundation.catalogue import published_at
from foundation.records import DeadLetter, Print
from foundation.settings import load_settings

SOFR_PATH = "/api/rates/secured/sofr/search.json"
UTC = dt.UTC


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Print] = []
        self.dead_letters: list[DeadLetter] = []

    def send(self, record: Print) -> Any:
        self.sent.append(record)
        return _Done()

    def send_dead_letter(self, record: DeadLetter) -> Any:
        self.dead_letters.append(record)
        return _Done()

    def flush(self, timeout_seconds: float = 30.0) -> None:
        pass

    def close(self) -> None:
        pass


class _Done:
    def get(self, timeout: float | None = None) -> None:
        return None


class SofrUpstream:
    """The NY Fed SOFR search as it behaves over time: a print appears some minutes after 08:00 New York
    on T+1, and a revision (if scripted) replaces the value at its revision time."""

    def __init__(self, clock: ManualClock, values: dict[dt.date, float], delay_minutes: float = 5.0) -> None:
        self.clock = clock
        self.values = values
        self.delay = dt.timedelta(minutes=delay_minutes)
        self.revisions: dict[dt.date, tuple[dt.datetime, float]] = {}
        self.polled_at: list[dt.datetime] = []
        self.faults: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.clock.now()
        self.polled_at.append(now)
        if self.faults:
            return self.faults.pop(0)
        start = dt.date.fromisoformat(request.url.params["startDate"])
        end = dt.date.fromisoformat(request.url.params["endDate"])
        records = []
        for day, value in sorted(self.values.items(), reverse=True):
            if not start <= day <= end or published_at("SOFR", day) + self.delay > now:
                continue
            revised = self.revisions.get(day)
            flag = ""
            if revised is not None and revised[0] <= now:
                value, flag = revised[1], "Y"
            records.append({"effectiveDate": day.isoformat(), "type": "SOFR", "percentRate": value,
                            "revisionIndicator": flag})  # fmt: skip
        return httpx.Response(200, json={"refRates": records})


def _poller(
    clock: ManualClock, handler: Callable[[httpx.Request], httpx.Response], archive: Archive, **policy: Any
) -> tuple[Poller, Recorder, list[str]]:
    settings = load_settings(env={}, source_min_interval_seconds="0", http_max_attempts="3")
    sources = SourceSet.from_settings(settings, httpx.Client(transport=httpx.MockTransport(handler)), clock)
    recorder = Recorder()
    said: list[str] = []
    publisher = Publisher(archive, lambda: recorder, say=said.append)
    poll_policy = PollPolicy(
        **{"retry_seconds": 300.0, "window_seconds": 6 * 3600.0, "lookback_days": 3, **policy}
    )
    poller = Poller(sources, publisher, clock, routes=sources.routes_for(["SOFR"]), policy=poll_policy)
    return poller, recorder, said


def _hhmm(moments: list[dt.datetime]) -> list[str]:
    return [m.strftime("%m-%d %H:%M") for m in moments]


def test_polls_at_release_retries_until_the_print_arrives_checks_for_revisions(
    clock: ManualClock, archive: Archive
) -> None:
    # 2019-09-18 07:00 New York; 09-16 already archived (as history), 09-17 due at 08:00.
    archive.store(make_print("SOFR", dt.date(2019, 9, 16), 2.43, source="nyfed", replay=True))
    upstream = SofrUpstream(
        clock, {dt.date(2019, 9, 16): 2.43, dt.date(2019, 9, 17): 5.25, dt.date(2019, 9, 18): 2.55}
    )
    upstream.revisions[dt.date(2019, 9, 17)] = (
        dt.datetime(2019, 9, 18, 18, 30, tzinfo=UTC),
        5.26,
    )  # 14:30 EDT
    poller, recorder, _ = _poller(clock, upstream, archive)

    started = time.monotonic()
    poller.run(until=dt.datetime(2019, 9, 19, 13, 0, tzinfo=UTC))
    assert time.monotonic() - started < 2.0  # a simulated day, no real sleeping

    assert _hhmm(upstream.polled_at) == [
        "09-18 11:00",  # start: catch up
        "09-18 12:00",  # 08:00 EDT release of 09-17: not there yet
        "09-18 12:05",  # retry after retry_seconds: arrived
        "09-18 19:00",  # 15:00 EDT same-day revision check: the revision is there
        "09-19 12:00",  # next release (09-18)
        "09-19 12:05",
    ]
    assert [(p.key, p.vintage, p.value) for p in recorder.sent] == [
        ("SOFR@2019-09-17", 1, 5.25),
        ("SOFR@2019-09-17", 2, 5.26),
        ("SOFR@2019-09-18", 1, 2.55),
    ]
    assert recorder.sent[0].published_at == dt.datetime(2019, 9, 18, 12, 0, tzinfo=UTC)
    assert recorder.sent[1].published_at == dt.datetime(2019, 9, 18, 19, 0, tzinfo=UTC)  # when it was seen
    assert not any(p.replay for p in recorder.sent)


def test_a_print_that_never_comes_is_reported_once_as_a_gap(
    archive: Archive, caplog: pytest.LogCaptureFixture
) -> None:
    # Good Friday 2026-04-03: the Fed is open, SIFMA recommends a close, so there is no SOFR for that day.
    clock = ManualClock(dt.datetime(2026, 4, 6, 11, 0, tzinfo=UTC))  # Monday 07:00 EDT
    archive.store(make_print("SOFR", dt.date(2026, 4, 2), 4.3, source="nyfed", replay=True))
    upstream = SofrUpstream(clock, {dt.date(2026, 4, 2): 4.3, dt.date(2026, 4, 6): 4.31})
    poller, recorder, _said = _poller(clock, upstream, archive, retry_seconds=3600.0)
    with caplog.at_level(logging.WARNING, logger="connectors.poller"):
        poller.run(until=dt.datetime(2026, 4, 7, 14, 0, tzinfo=UTC))
    gaps = [r for r in caplog.records if "no print for 2026-04-03" in r.getMessage()]
    assert len(gaps) == 1 and "treated as a gap" in gaps[0].getMessage()
    assert gaps[0].levelname == "WARNING" and getattr(gaps[0], "series", None) == "SOFR"
    assert _hhmm(upstream.polled_at) == [
        "04-06 11:00",  # start
        "04-06 12:00", "04-06 13:00", "04-06 14:00", "04-06 15:00", "04-06 16:00", "04-06 17:00",
        "04-06 18:00",  # 6 h after the 08:00 EDT release: a gap, stop waiting
        "04-06 19:00",  # same-day revision check
        "04-07 12:00",  # next release (04-06), 5 minutes early
        "04-07 13:00",  # retry: there it is
    ]  # fmt: skip
    assert [p.key for p in recorder.sent] == ["SOFR@2026-04-06"]


def test_429_with_a_long_retry_after_moves_the_next_poll(clock: ManualClock, archive: Archive) -> None:
    upstream = SofrUpstream(clock, {dt.date(2019, 9, 17): 5.25})
    upstream.faults = [httpx.Response(429, headers={"Retry-After": "7200"})]
    poller, recorder, _ = _poller(clock, upstream, archive)
    records = poller.run(until=dt.datetime(2019, 9, 18, 14, 0, tzinfo=UTC))
    assert "rate limited" in records[0].outcome
    # 11:00 refused for 2 h; the 08:00 EDT release waits for it (no request inside the window); then 13:00
    assert _hhmm(upstream.polled_at) == ["09-18 11:00", "09-18 13:00"]
    assert [p.key for p in recorder.sent] == ["SOFR@2019-09-17"]


def test_burst_of_500s_and_a_timeout_lose_nothing(clock: ManualClock, archive: Archive) -> None:
    clock.advance(3600 + 600)  # 12:10 UTC, 09-17 is published
    upstream = SofrUpstream(clock, {dt.date(2019, 9, 17): 5.25})
    upstream.faults = [httpx.Response(500), httpx.Response(502), httpx.Response(503)]
    poller, recorder, _ = _poller(clock, upstream, archive)
    poller.run(max_polls=2)
    # three attempts per poll: the first poll fails after backoff; the next (retry_seconds later) succeeds
    assert [r.outcome.split(",")[0] for r in poller.history] == ["failed", "ok"]
    assert [p.key for p in recorder.sent] == ["SOFR@2019-09-17"]


def test_truncated_json_is_dead_lettered_and_the_next_poll_gets_the_print(
    clock: ManualClock, archive: Archive
) -> None:
    clock.advance(3600 + 600)
    upstream = SofrUpstream(clock, {dt.date(2019, 9, 17): 5.25})
    upstream.faults = [httpx.Response(200, text='{"refRates": [{"effectiveDate": "2019-09-17", "ty')]
    poller, recorder, _ = _poller(clock, upstream, archive)
    poller.run(max_polls=2)
    assert "dead-lettered" in poller.history[0].outcome
    assert [d.reason for d in recorder.dead_letters] == ["not_json"]
    assert [d.record.reason for d in archive.dead_letters()] == ["not_json"]
    assert [p.key for p in recorder.sent] == ["SOFR@2019-09-17"]
    assert (poller.history[1].at - poller.history[0].at).total_seconds() == pytest.approx(300.0)


def test_policy_rates_are_checked_once_a_business_day(clock: ManualClock, archive: Archive) -> None:
    polled: list[dt.datetime] = []

    def fred(request: httpx.Request) -> httpx.Response:
        polled.append(clock.now())
        return httpx.Response(200, text="observation_date,IOER\n2019-09-18,2.10\n")

    settings = load_settings(env={}, source_min_interval_seconds="0")
    sources = SourceSet.from_settings(settings, httpx.Client(transport=httpx.MockTransport(fred)), clock)
    routes = sources.routes_for(["IOER"])
    poller = Poller(sources, Publisher(archive, None, say=lambda line: None), clock, routes=routes)
    poller.run(until=dt.datetime(2019, 9, 21, 12, 0, tzinfo=UTC))  # Wednesday 07:00 .. Saturday
    assert _hhmm(polled) == ["09-18 11:00", "09-18 21:00", "09-19 21:00", "09-20 21:00"]  # 17:00 EDT


def test_run_stops_promptly_when_asked(archive: Archive) -> None:
    stop = threading.Event()
    clock = SystemClock(stop)
    settings = load_settings(env={}, source_min_interval_seconds="0")
    handler = lambda request: httpx.Response(200, json={"refRates": []})  # noqa: E731
    sources = SourceSet.from_settings(settings, httpx.Client(transport=httpx.MockTransport(handler)), clock)
    poller = Poller(
        sources, Publisher(archive, None, say=lambda line: None), clock, routes=sources.routes_for(["SOFR"]),
        stop=stop,
    )  # fmt: skip
    # sqlite connections are per thread: the poller runs here, the stop comes from a timer thread
    timer = threading.Timer(0.3, poller.stop)
    timer.start()
    started = time.monotonic()
    poller.run()
    assert time.monotonic() - started < 2.0
    assert len(poller.history) >= 1
