"""US business days and publication times, for point-in-time replay and staleness.

The NY Fed and the Board publish on US federal business days; SIFMA bond-market closes that are not
federal holidays (e.g. Good Friday) show up as missing prints, which the pipeline treats as a gap,
not as a holiday.

The same holiday rules are in ``detectors/_calendar.py``: detectors/ may import nothing of the
rest and connectors may not import detectors, so the two packages cannot share one module.

>>> next_business_day(dt.date(2019, 9, 13))   # Friday -> Monday
datetime.date(2019, 9, 16)
>>> next_business_day(dt.date(2025, 12, 24))  # Christmas is skipped
datetime.date(2025, 12, 26)
>>> is_business_day(dt.date(2026, 7, 3))      # Independence Day observed
False
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

__all__ = ["NEW_YORK", "is_business_day", "next_business_day", "us_federal_holidays"]

NEW_YORK = ZoneInfo("America/New_York")


@functools.cache
def us_federal_holidays(year: int) -> frozenset[dt.date]:
    """Observed US federal holidays of one year (the Federal Reserve's holiday schedule)."""

    def observed(day: dt.date) -> dt.date:
        if day.weekday() == 5:
            return day - dt.timedelta(days=1)
        if day.weekday() == 6:
            return day + dt.timedelta(days=1)
        return day

    def nth_weekday(month: int, weekday: int, n: int) -> dt.date:
        first = dt.date(year, month, 1)
        offset = (weekday - first.weekday()) % 7
        return first + dt.timedelta(days=offset + 7 * (n - 1))

    def last_weekday(month: int, weekday: int) -> dt.date:
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        last = nxt - dt.timedelta(days=1)
        return last - dt.timedelta(days=(last.weekday() - weekday) % 7)

    days = {
        observed(dt.date(year, 1, 1)),
        nth_weekday(1, 0, 3),  # Martin Luther King Jr. Day
        nth_weekday(2, 0, 3),  # Washington's Birthday
        last_weekday(5, 0),  # Memorial Day
        observed(dt.date(year, 7, 4)),
        nth_weekday(9, 0, 1),  # Labor Day
        nth_weekday(10, 0, 2),  # Columbus Day
        observed(dt.date(year, 11, 11)),
        nth_weekday(11, 3, 4),  # Thanksgiving
        observed(dt.date(year, 12, 25)),
    }
    if year >= 2022:
        days.add(observed(dt.date(year, 6, 19)))  # Juneteenth, a federal holiday from 2021-06-17
    # The Fed does not close on a Saturday holiday observed on Friday 31 December of the prior year.
    days.discard(dt.date(year, 12, 31))
    return frozenset(days)


def is_business_day(day: dt.date) -> bool:
    """True on weekdays that are not US federal holidays."""
    return day.weekday() < 5 and day not in us_federal_holidays(day.year)


def next_business_day(day: dt.date) -> dt.date:
    """The first business day strictly after ``day``."""
    nxt = day + dt.timedelta(days=1)
    while not is_business_day(nxt):
        nxt += dt.timedelta(days=1)
    return nxt
