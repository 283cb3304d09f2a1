"""Fault: time. Daylight-saving switches around release times, New York vs UTC day boundaries, and a
wall clock that is set back while the poller runs.

Every release time is New York time (foundation/catalogue.py), so its UTC moment moves by an hour
at each switch; the poller's schedule is computed in New York time and kept in UTC. The 2026
switches are Sunday 2026-03-08 (02:00 EST -> 03:00 EDT: 02:30 never happens) and Sunday 2026-11-01
(02:00 EDT -> 01:00 EST: 01:30 happens twice). Unit-level: the real schedule, poller, archive and
calendar on a simulated clock; the upstream is the scripted NY Fed stand-in of
tests/connectors/test_poller.py. No broker.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import httpx
import pytest

from connectors.archive import Archive
from connectors.base import make_print
from connectors.clock import ManualClock
from connectors.history import iter_publication_order, read_history
from connectors.schedule import POLICY_CHECK_TIME, expects_print, is_checked_daily, latest_due, next_release
from foundation.calendar import NEW_YORK, is_business_day, next_business_day
from foundation.catalogue import SERIES, expected_observation_date, published_at
from tests.connectors.test_poller import SofrUpstream, _poller

UTC = dt.UTC
SPRING = dt.date(2026, 3, 8)  # clocks go forward at 02:00 New York
AUTUMN = dt.date(2026, 11, 1)  # clocks go back at 02:00 New York


def ny(year: int, month: int, day: int, hour: int, minute: int = 0, *, fold: int = 0) -> dt.datetime:
    """A New York wall-clock time as an aware UTC moment (``fold=1``: the second of a repeated hour)."""
    return dt.datetime(year, month, day, hour, minute, fold=fold, tzinfo=NEW_YORK).astimezone(UTC)


def local(moments: list[dt.datetime]) -> list[str]:
    return [m.astimezone(NEW_YORK).strftime("%a %m-%d %H:%M %Z") for m in moments]


def sofr_values(first: dt.date, last: dt.date) -> dict[dt.date, float]:
    out, day = {}, first
    while day <= last:
        if is_business_day(day):
            out[day] = 3.60 + (day.toordinal() % 7) / 100
        day += dt.timedelta(days=1)
    return out


# -- release times ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # Thursday's SOFR on Friday 08:00 EST (13:00 UTC); Friday's on Monday 08:00 EDT (12:00 UTC)
        ((dt.date(2026, 3, 5), "2026-03-06T13:00:00+00:00"),
         (dt.date(2026, 3, 6), "2026-03-09T12:00:00+00:00")),
        ((dt.date(2026, 10, 29), "2026-10-30T12:00:00+00:00"),
         (dt.date(2026, 10, 30), "2026-11-02T13:00:00+00:00")),
    ],
)  # fmt: skip
def test_sofr_is_published_at_08_00_new_york_so_its_utc_time_moves_an_hour(
    before: tuple[dt.date, str], after: tuple[dt.date, str]
) -> None:
    for day, utc in (before, after):
        moment = published_at("SOFR", day)
        assert moment.isoformat() == utc
        assert moment.astimezone(NEW_YORK).time() == dt.time(8, 0)
    # the weekend across the switch is 71 h long in March and 73 h in November
    gap = (published_at("SOFR", after[0]) - published_at("SOFR", before[0])).total_seconds() / 3600
    assert gap == (71.0 if before[0].month == 3 else 73.0)


@pytest.mark.parametrize("start", [ny(2026, 3, 4, 0), ny(2026, 10, 28, 0)])
def test_every_release_across_a_switch_is_scheduled_once_at_its_new_york_time(start: dt.datetime) -> None:
    """For every live series, sweep ``now`` through nine days around a switch: the next release is
    always in the future, at the catalogue's New York time, and the releases it walks through are
    exactly the expected observation dates' publications (none skipped, none twice)."""
    end = start + dt.timedelta(days=9)
    for series_id, spec in SERIES.items():
        if not spec.live:
            continue
        want_time = POLICY_CHECK_TIME if is_checked_daily(series_id) else spec.release_time
        seen: list[dt.datetime] = []
        now = start
        while now < end:
            upcoming = next_release(series_id, now)
            assert upcoming > now, (series_id, now)
            assert upcoming.astimezone(NEW_YORK).time() == want_time, (series_id, now, upcoming)
            if not seen or upcoming != seen[-1]:
                seen.append(upcoming)
            if not is_checked_daily(series_id):
                due = latest_due(series_id, now)
                assert due == expected_observation_date(series_id, now), (series_id, now)
            now += dt.timedelta(minutes=30)
        if is_checked_daily(series_id):
            continue
        expected = sorted(
            {
                published_at(series_id, day)
                for day in (start.date() + dt.timedelta(days=n) for n in range(-14, 30))
                if expects_print(series_id, day)
            }
        )
        assert seen == [m for m in expected if seen[0] <= m <= seen[-1]], series_id


def test_replay_orders_history_by_new_york_release_across_the_march_2019_switch(data_dir: Path) -> None:
    """Replay sends each print at its catalogue time: IOER at 00:00, SOFR 08:00, EFFR 09:00, the
    reverse repo 13:30, H.4.1 Thursday 16:30, all New York time before and after 2019-03-10."""
    prints = []
    for series_id in ("SOFR", "EFFR", "RRPONTSYD", "IOER", "WRESBAL"):
        prints += read_history(data_dir, series_id, dt.date(2019, 3, 6), dt.date(2019, 3, 12))
    ordered = list(iter_publication_order(prints))
    local_times = {
        "SOFR": dt.time(8), "EFFR": dt.time(9), "RRPONTSYD": dt.time(13, 30), "IOER": dt.time(0),
        "WRESBAL": dt.time(16, 30),
    }  # fmt: skip
    for record in ordered:
        assert record.published_at.astimezone(NEW_YORK).time() == local_times[record.series_id], record.key
    sofr = [p for p in ordered if p.series_id == "SOFR"]
    assert [(p.observation_date.day, p.published_at.hour) for p in sofr] == [
        (6, 13), (7, 13), (8, 12), (11, 12), (12, 12)  # Friday's print comes Monday 08:00 EDT = 12:00 UTC
    ]  # fmt: skip
    # on each day the New York order holds in UTC too: IOER, SOFR, EFFR, reverse repo, H.4.1
    for day in {p.published_at.astimezone(NEW_YORK).date() for p in ordered}:
        that_day = [p.series_id for p in ordered if p.published_at.astimezone(NEW_YORK).date() == day]
        rank = ["IOER", "SOFR", "EFFR", "RRPONTSYD", "WRESBAL"]
        assert that_day == sorted(that_day, key=rank.index), day


# -- the poller across a switch --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "until", "expected"),
    [
        (  # started at 02:30 on 2026-03-08, a time that does not exist (read as 03:30 EDT)
            ny(2026, 3, 8, 2, 30),
            ny(2026, 3, 10, 9),
            ["Sun 03-08 03:30 EDT", "Mon 03-09 08:00 EDT", "Mon 03-09 08:05 EDT", "Mon 03-09 15:00 EDT",
             "Tue 03-10 08:00 EDT", "Tue 03-10 08:05 EDT"],
        ),
        (  # started in the first 01:30 of 2026-11-01
            ny(2026, 11, 1, 1, 30),
            ny(2026, 11, 3, 9),
            ["Sun 11-01 01:30 EDT", "Mon 11-02 08:00 EST", "Mon 11-02 08:05 EST", "Mon 11-02 15:00 EST",
             "Tue 11-03 08:00 EST", "Tue 11-03 08:05 EST"],
        ),
        (  # started in the second 01:30 of 2026-11-01
            ny(2026, 11, 1, 1, 30, fold=1),
            ny(2026, 11, 3, 9),
            ["Sun 11-01 01:30 EST", "Mon 11-02 08:00 EST", "Mon 11-02 08:05 EST", "Mon 11-02 15:00 EST",
             "Tue 11-03 08:00 EST", "Tue 11-03 08:05 EST"],
        ),
    ],
)  # fmt: skip
def test_poller_started_in_a_missing_or_repeated_hour_neither_skips_nor_doubles_a_release(
    tmp_path: Path, start: dt.datetime, until: dt.datetime, expected: list[str]
) -> None:
    clock = ManualClock(start)
    archive = Archive(tmp_path / "archive.sqlite3")
    upstream = SofrUpstream(clock, sofr_values(start.date() - dt.timedelta(days=7), until.date()))
    poller, recorder, _ = _poller(clock, upstream, archive)
    poller.run(until=until)
    assert local(upstream.polled_at) == expected
    # every print published by the end arrives once, the first poll catching up the days before
    assert [p.key for p in recorder.sent] == [
        f"SOFR@{day}"
        for day in sorted(upstream.values)
        if published_at("SOFR", day) + upstream.delay <= until
    ][-len(recorder.sent) :]
    assert recorder.sent[-1].observation_date == dt.date(until.year, until.month, until.day - 1)


@pytest.mark.parametrize(("first", "last"), [(dt.date(2026, 3, 4), dt.date(2026, 3, 11)),
                                             (dt.date(2026, 10, 28), dt.date(2026, 11, 4))])  # fmt: skip
def test_a_week_of_polling_across_a_switch_polls_each_release_at_08_00_new_york(
    tmp_path: Path, first: dt.date, last: dt.date
) -> None:
    clock = ManualClock(ny(first.year, first.month, first.day, 7))
    archive = Archive(tmp_path / "archive.sqlite3")
    upstream = SofrUpstream(clock, sofr_values(first - dt.timedelta(days=7), last))
    poller, recorder, _ = _poller(clock, upstream, archive)
    poller.run(until=ny(last.year, last.month, last.day, 7))
    polls = [m.astimezone(NEW_YORK) for m in upstream.polled_at[1:]]  # after the start-up poll
    by_day: dict[dt.date, list[str]] = {}
    for moment in polls:
        by_day.setdefault(moment.date(), []).append(moment.strftime("%H:%M"))
    week = (first + dt.timedelta(days=n) for n in range((last - first).days))
    business = [day for day in week if is_business_day(day)]
    # each business day: the 08:00 release, the retry 5 minutes later that finds it, the 15:00 check
    assert by_day == {day: ["08:00", "08:05", "15:00"] for day in business}
    utc_hours = {m.date(): m.astimezone(UTC).hour for m in polls if m.strftime("%H:%M") == "08:00"}
    assert sorted(set(utc_hours.values())) == [12, 13]  # the UTC hour did move
    sent = [p.observation_date for p in recorder.sent]
    assert sorted(sent) == sent and len(sent) == len(set(sent))
    assert set(business[:-1]) <= set(sent)  # every release of the week, the switch weekend included


# -- New York vs UTC day boundaries ----------------------------------------------------------------


def test_late_evening_in_new_york_is_still_that_day_though_utc_is_the_next(tmp_path: Path) -> None:
    # Friday 2026-03-06 22:30 EST is Saturday 03:30 UTC; Saturday 2026-10-31 21:30 EDT is Sunday 01:30 UTC
    friday_night = ny(2026, 3, 6, 22, 30)
    assert friday_night.date() == dt.date(2026, 3, 7)
    assert latest_due("SOFR", friday_night) == dt.date(2026, 3, 5)  # Friday's print comes Monday
    assert next_release("SOFR", friday_night) == ny(2026, 3, 9, 8)
    # a policy rate is in force from midnight New York: Saturday's is not due yet at 22:30 Friday
    assert expected_observation_date("IORB", friday_night) == dt.date(2026, 3, 6)
    assert expected_observation_date("IORB", ny(2026, 3, 7, 0)) == dt.date(2026, 3, 7)
    assert next_release("IORB", friday_night) == ny(2026, 3, 9, 17)  # next business day's 17:00 check
    saturday_night = ny(2026, 10, 31, 21, 30)
    assert saturday_night.date() == dt.date(2026, 11, 1)
    assert expected_observation_date("IORB", saturday_night) == dt.date(2026, 10, 31)
    # the poller asks the source for New York's today, not UTC's tomorrow
    clock = ManualClock(friday_night)
    archive = Archive(tmp_path / "archive.sqlite3")
    upstream = SofrUpstream(clock, sofr_values(dt.date(2026, 2, 23), dt.date(2026, 3, 6)))
    requested: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(request.url.params["endDate"])
        return upstream(request)

    poller, recorder, _ = _poller(clock, handler, archive)
    poller.run(max_polls=1)
    assert requested == ["2026-03-06"]
    assert recorder.sent[-1].key == "SOFR@2026-03-05"
    assert next_business_day(dt.date(2026, 3, 6)) == dt.date(2026, 3, 9)


# -- the wall clock set back ------------------------------------------------------------------------


def test_wall_clock_set_back_a_day_replans_the_polls_instead_of_stalling(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """NTP or an operator sets the wall clock back a day while the poller sleeps until the next
    release. The polls follow the new wall clock (what a fresh start would plan), not the old
    plan a day in its future; nothing spins."""
    clock = ManualClock(dt.datetime(2019, 9, 18, 11, 0, tzinfo=UTC))  # 07:00 EDT
    archive = Archive(tmp_path / "archive.sqlite3")
    archive.store(make_print("SOFR", dt.date(2019, 9, 16), 2.43, source="nyfed", replay=True))
    upstream = SofrUpstream(clock, {dt.date(2019, 9, d): 2.0 + d / 100 for d in range(16, 21)})
    poller, recorder, _ = _poller(clock, upstream, archive)
    step_at = dt.datetime(2019, 9, 18, 20, 0, tzinfo=UTC)  # after the 15:00 EDT check
    poller.run(until=step_at)
    assert poller.next_poll_at() == dt.datetime(2019, 9, 19, 12, 0, tzinfo=UTC)
    clock.step(-86400.0)  # now 2019-09-17 20:00 UTC by the wall clock
    sleeps_before = len(clock.slept_seconds)
    with caplog.at_level(logging.WARNING, logger="connectors.poller"):
        poller.run(until=dt.datetime(2019, 9, 19, 13, 0, tzinfo=UTC))
    assert any("wall clock moved back 86400 s" in r.getMessage() for r in caplog.records)
    assert local(upstream.polled_at[4:]) == [
        "Wed 09-18 08:00 EDT",  # by the new clock, the next release (the old plan waited for 09-19)
        "Wed 09-18 15:00 EDT",
        "Thu 09-19 08:00 EDT",
        "Thu 09-19 08:05 EDT",
    ]
    # 41 simulated hours in sleeps of at most 60 s: no zero-length sleeps, no busy loop
    sleeps = clock.slept_seconds[sleeps_before:]
    assert all(seconds > 0 for seconds in sleeps)
    assert len(sleeps) <= 41 * 60 + 10
    assert [p.key for p in recorder.sent][-1] == "SOFR@2019-09-18"
    assert len({(p.key, p.vintage) for p in recorder.sent}) == len(recorder.sent)


def test_wall_clock_set_back_during_a_backoff_keeps_the_rest_of_the_backoff(tmp_path: Path) -> None:
    clock = ManualClock(dt.datetime(2019, 9, 18, 12, 10, tzinfo=UTC))  # 09-17 is due and missing
    archive = Archive(tmp_path / "archive.sqlite3")
    upstream = SofrUpstream(clock, {dt.date(2019, 9, 17): 5.25})
    upstream.faults = [httpx.Response(500)] * 3  # the first poll fails (three attempts), then backs off
    poller, recorder, _ = _poller(clock, upstream, archive)
    poller.run(max_polls=1)
    failed_at = poller.history[0].at
    wait = (poller.next_poll_at() - failed_at).total_seconds()
    assert wait == pytest.approx(300.0)
    clock.sleep(60.0)
    clock.step(-3600.0)
    poller.run(until=dt.datetime(2019, 9, 18, 12, 30, tzinfo=UTC))
    # the retry comes after the rest of the 300 s backoff on the new clock, not 300 s + the hour
    assert (poller.history[1].at - failed_at).total_seconds() == pytest.approx(wait - 3600.0)
    assert [p.key for p in recorder.sent] == ["SOFR@2019-09-17"]


def test_wall_clock_jumping_forward_polls_once_and_does_not_spin(tmp_path: Path) -> None:
    clock = ManualClock(dt.datetime(2019, 9, 18, 11, 0, tzinfo=UTC))
    archive = Archive(tmp_path / "archive.sqlite3")
    upstream = SofrUpstream(clock, {dt.date(2019, 9, d): 2.0 + d / 100 for d in range(16, 21)})
    poller, _, _ = _poller(clock, upstream, archive)
    poller.run(until=dt.datetime(2019, 9, 18, 11, 30, tzinfo=UTC))
    clock.step(2 * 86400.0)  # Friday 07:30 EDT: Wednesday's and Thursday's releases were slept through
    poller.run(until=dt.datetime(2019, 9, 20, 12, 30, tzinfo=UTC))
    assert local(upstream.polled_at) == [
        "Wed 09-18 07:00 EDT",
        "Fri 09-20 07:30 EDT",  # once, at once: it catches up both days (lookback)
        "Fri 09-20 08:00 EDT",  # Thursday's release
        "Fri 09-20 08:05 EDT",
    ]
