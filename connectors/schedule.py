"""When to poll: each series' expected observation dates and publication times, from the catalogue.

Daily series expect a print for every US business day, weekly H.4.1 / H.8 series for every
Wednesday; :func:`foundation.catalogue.published_at` says when each becomes public (SOFR for day T at
08:00 New York on T+1, H.4.1 on Thursday 16:30, ...). Policy rates (``in_force``) have no release of
their own (they change on FOMC decisions and FRED posts them later), so they are checked once a
business day at :data:`POLICY_CHECK_TIME`.

>>> now = dt.datetime(2019, 9, 18, 11, 0, tzinfo=dt.UTC)            # 07:00 New York
>>> latest_due("SOFR", now), next_release("SOFR", now).isoformat()   # 09-16 is out, 09-17 comes at 08:00
(datetime.date(2019, 9, 16), '2019-09-18T12:00:00+00:00')
>>> next_release("WRESBAL", now).isoformat()                         # Thursday 16:30 EDT
'2019-09-19T20:30:00+00:00'
>>> next_release("IORB", now).isoformat()                            # daily check, 17:00 EDT
'2019-09-18T21:00:00+00:00'
"""

from __future__ import annotations

import datetime as dt

from foundation.calendar import NEW_YORK, is_business_day
from foundation.catalogue import get_series, published_at

__all__ = [
    "POLICY_CHECK_TIME",
    "expects_print",
    "is_checked_daily",
    "latest_due",
    "next_at_time",
    "next_release",
]

POLICY_CHECK_TIME = dt.time(17, 0)
# Publication lags are at most ~9 days (H.8), so a three-week search window always finds the answer.
_SEARCH_DAYS = 21


def expects_print(series_id: str, day: dt.date) -> bool:
    """Whether ``series_id`` normally has an observation dated ``day``."""
    spec = get_series(series_id)
    if spec.frequency == "weekly":
        return day.weekday() == 2  # H.4.1 and H.8 are dated Wednesday, even on a holiday
    if spec.frequency == "daily_7day":
        return True
    return is_business_day(day)


def is_checked_daily(series_id: str) -> bool:
    """Policy rates: no publication time of their own, one check per business day."""
    return get_series(series_id).release == "in_force"


def latest_due(series_id: str, now: dt.datetime) -> dt.date | None:
    """The newest observation date whose print should be public at ``now`` (``None`` for policy rates)."""
    if is_checked_daily(series_id):
        return None
    today = now.astimezone(NEW_YORK).date()
    for back in range(_SEARCH_DAYS):
        day = today - dt.timedelta(days=back)
        if expects_print(series_id, day) and published_at(series_id, day) <= now:
            return day
    return None


def next_at_time(now: dt.datetime, at: dt.time) -> dt.datetime:
    """The first business-day moment at New York time ``at`` strictly after ``now`` (in UTC)."""
    day = now.astimezone(NEW_YORK).date()
    for ahead in range(_SEARCH_DAYS):
        candidate_day = day + dt.timedelta(days=ahead)
        if not is_business_day(candidate_day):
            continue
        moment = dt.datetime.combine(candidate_day, at, tzinfo=NEW_YORK).astimezone(dt.UTC)
        if moment > now:
            return moment
    raise AssertionError("no business day in three weeks")  # pragma: no cover - calendar invariant


def next_release(series_id: str, now: dt.datetime) -> dt.datetime:
    """The first publication of a new print strictly after ``now`` (UTC)."""
    if is_checked_daily(series_id):
        return next_at_time(now, POLICY_CHECK_TIME)
    today = now.astimezone(NEW_YORK).date()
    releases = [
        published_at(series_id, day)
        for day in (today + dt.timedelta(days=offset) for offset in range(-_SEARCH_DAYS, _SEARCH_DAYS))
        if expects_print(series_id, day)
    ]
    return min(moment for moment in releases if moment > now)
