"""A small US business-day calendar and the funding-market calendar effects on it.

detectors/ must not import plumbline, so this repeats the Federal Reserve holiday rules it needs.
A *calendar effect* is a date on which repo and funding rates move for known, harmless reasons:

* ``month_end`` / ``quarter_end`` / ``year_end``: the last business day of the period and the first
  business day after it (balance-sheet window dressing lifts repo rates over the turn);
* ``coupon_settlement``: the 15th of every month (or the next business day), when Treasury coupon
  securities settle and drain cash; the business day after is included because the settlement
  cash need often shows up in the next day's print;
* ``tax_date``: corporate tax payments on the 15th of March, June, September and December (or the
  next business day), which move cash from banks into the Treasury General Account.

>>> import datetime as dt
>>> sorted(calendar_effects(dt.date(2019, 9, 16)))   # the day before the 2019 repo spike
['coupon_settlement', 'tax_date']
>>> sorted(calendar_effects(dt.date(2025, 10, 31)))
['month_end']
>>> sorted(calendar_effects(dt.date(2021, 12, 31)))
['month_end', 'quarter_end', 'year_end']
>>> calendar_effects(dt.date(2021, 7, 8))
frozenset()
>>> business_days_between(dt.date(2019, 9, 13), dt.date(2019, 9, 17))
2
"""

from __future__ import annotations

import datetime as dt
import functools

__all__ = [
    "CALENDAR_EFFECTS",
    "business_days_between",
    "calendar_effects",
    "date_of_timestamp",
    "is_business_day",
    "next_business_day",
    "previous_business_day",
]

CALENDAR_EFFECTS = ("month_end", "quarter_end", "year_end", "coupon_settlement", "tax_date")

_EPOCH = dt.date(1970, 1, 1)


@functools.cache
def _holidays(year: int) -> frozenset[dt.date]:
    """Observed US federal holidays (the Federal Reserve's schedule) of one year."""

    def observed(day: dt.date) -> dt.date:
        if day.weekday() == 5:
            return day - dt.timedelta(days=1)
        if day.weekday() == 6:
            return day + dt.timedelta(days=1)
        return day

    def nth_weekday(month: int, weekday: int, n: int) -> dt.date:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))

    def last_weekday(month: int, weekday: int) -> dt.date:
        last = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
        return last - dt.timedelta(days=(last.weekday() - weekday) % 7)

    days = {
        observed(dt.date(year, 1, 1)),
        nth_weekday(1, 0, 3),
        nth_weekday(2, 0, 3),
        last_weekday(5, 0),
        observed(dt.date(year, 7, 4)),
        nth_weekday(9, 0, 1),
        nth_weekday(10, 0, 2),
        observed(dt.date(year, 11, 11)),
        nth_weekday(11, 3, 4),
        observed(dt.date(year, 12, 25)),
    }
    if year >= 2022:
        days.add(observed(dt.date(year, 6, 19)))
    # A Saturday New Year's Day is observed on Friday 31 December, but the Fed stays open that day.
    days.discard(dt.date(year, 12, 31))
    return frozenset(days)


def is_business_day(day: dt.date) -> bool:
    """True on weekdays that are not US federal holidays."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def next_business_day(day: dt.date) -> dt.date:
    """The first business day strictly after ``day``."""
    day += dt.timedelta(days=1)
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def previous_business_day(day: dt.date) -> dt.date:
    """The last business day strictly before ``day``."""
    day -= dt.timedelta(days=1)
    while not is_business_day(day):
        day -= dt.timedelta(days=1)
    return day


def _on_or_after(day: dt.date) -> dt.date:
    return day if is_business_day(day) else next_business_day(day)


def business_days_between(start: dt.date, end: dt.date) -> int:
    """Business days from ``start`` to ``end``: positive when ``end`` is later, 0 on the same day.

    Counts the business days in ``(start, end]`` (or minus those in ``(end, start]``).
    """
    if end == start:
        return 0
    sign = 1 if end > start else -1
    low, high = (start, end) if sign > 0 else (end, start)
    count = 0
    day = low + dt.timedelta(days=1)
    while day <= high:
        count += is_business_day(day)
        day += dt.timedelta(days=1)
    return sign * count


@functools.cache
def calendar_effects(day: dt.date) -> frozenset[str]:
    """The calendar effects (names in :data:`CALENDAR_EFFECTS`) that fall on ``day``."""
    effects: set[str] = set()
    month_start = day.replace(day=1)
    last_of_month = previous_business_day(dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1))
    first_of_month = _on_or_after(month_start)
    if day == last_of_month:
        period_end_month = day.month
    elif day == first_of_month:
        period_end_month = 12 if day.month == 1 else day.month - 1
    else:
        period_end_month = 0
    if period_end_month:
        effects.add("month_end")
        if period_end_month % 3 == 0:
            effects.add("quarter_end")
        if period_end_month == 12:
            effects.add("year_end")
    settlement = _on_or_after(day.replace(day=15))
    if day in (settlement, next_business_day(settlement)):
        effects.add("coupon_settlement")
        if day.month in (3, 6, 9, 12) and day == settlement:
            effects.add("tax_date")
    return frozenset(effects)


def date_of_timestamp(timestamp: float) -> dt.date:
    """The UTC calendar date of POSIX seconds (observations are stamped at UTC midnight)."""
    return _EPOCH + dt.timedelta(days=int(timestamp // 86400))
