"""The one calendar: US bond-market business days, publication times and funding calendar effects.

Business days are those of the SIFMA-recommended US bond-market schedule (the ``XSIF`` financial
calendar of the maintained ``holidays`` package): SOFR, TGCR and BGCR are published for each
"U.S. Government Securities Business Day", which is that schedule. It differs from the Federal
Reserve's own holidays on Good Friday (a full close in most years) and on a Friday before a
Saturday holiday. On the three Good Fridays with only an early close since 2018 (2021-04-02,
2023-04-07, 2026-04-03) the market was open yet no SOFR was published: the pipeline sees a gap there,
not a holiday. ``tests/test_calendar.py`` checks every SOFR print date of the data against it.

A *calendar effect* is a date on which repo and funding rates move for known, harmless reasons:

* ``month_end`` / ``quarter_end`` / ``year_end``: the last business day of the period and the first
  business day after it (balance-sheet window dressing lifts repo rates over the turn);
* ``coupon_settlement``: the 15th of every month (or the next business day), when Treasury coupon
  securities settle and drain cash; the business day after is included because the settlement
  cash need often shows up in the next day's print;
* ``tax_date``: corporate tax payments on the 15th of March, June, September and December (or the
  next business day), which move cash from banks into the Treasury General Account.

Detectors never import this module: the pipeline hands the effects of each date in as features
(:func:`calendar_features`, keys ``calendar_<effect>``), so ``detectors/`` stays usable anywhere.

>>> next_business_day(dt.date(2019, 9, 13))   # Friday -> Monday
datetime.date(2019, 9, 16)
>>> next_business_day(dt.date(2025, 12, 24))  # Christmas is skipped
datetime.date(2025, 12, 26)
>>> is_business_day(dt.date(2026, 7, 3))      # Independence Day observed
False
>>> is_business_day(dt.date(2019, 4, 19))     # Good Friday: the bond market is closed
False
>>> sorted(calendar_effects(dt.date(2019, 9, 16)))   # the day before the 2019 repo spike
['coupon_settlement', 'tax_date']
>>> sorted(calendar_effects(dt.date(2021, 12, 31)))
['month_end', 'quarter_end', 'year_end']
>>> calendar_features(dt.date(2025, 10, 31))
{'calendar_month_end': 1.0}
>>> business_days_between(dt.date(2019, 9, 13), dt.date(2019, 9, 17))
2
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "CALENDAR_EFFECTS",
    "CALENDAR_FEATURE_PREFIX",
    "NEW_YORK",
    "business_days_between",
    "calendar_effects",
    "calendar_features",
    "date_of_timestamp",
    "is_business_day",
    "next_business_day",
    "observation_at",
    "previous_business_day",
    "timestamp_of_date",
]

NEW_YORK = ZoneInfo("America/New_York")
CALENDAR_EFFECTS = ("month_end", "quarter_end", "year_end", "coupon_settlement", "tax_date")
#: Detectors read calendar effects from observation keys with this prefix (``detectors/base.py``).
CALENDAR_FEATURE_PREFIX = "calendar_"

_EPOCH = dt.date(1970, 1, 1)
# SIFMA: full closes only; early closes are business days.
_BOND_MARKET_CLOSES = holidays.financial_holidays("XSIF")


def is_business_day(day: dt.date) -> bool:
    """True on weekdays the US bond market is open (SIFMA's recommended schedule)."""
    return day.weekday() < 5 and day not in _BOND_MARKET_CLOSES


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


# Bounded: the soak found this the only structure growing with every new date (about 290 bytes a
# date); 8,192 dates are 30 years of days, far more than a detector's windows ever look back.
@functools.lru_cache(maxsize=8192)
def calendar_effects(day: dt.date) -> frozenset[str]:
    """The calendar effects (names in :data:`CALENDAR_EFFECTS`) that fall on ``day``."""
    effects: set[str] = set()
    last_of_month = previous_business_day(dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1))
    first_of_month = _on_or_after(day.replace(day=1))
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


def calendar_features(day: dt.date) -> dict[str, float]:
    """The calendar effects of ``day`` as detector features: ``{"calendar_<effect>": 1.0, ...}``."""
    effects = calendar_effects(day)
    return {CALENDAR_FEATURE_PREFIX + name: 1.0 for name in CALENDAR_EFFECTS if name in effects}


def observation_at(day: dt.date, values: dict[str, float]) -> dict[str, float]:
    """What a detector reads for an observation dated ``day``: the values, the timestamp, the
    calendar features. The worker, the composite index and every backtest build it here.

    >>> observation_at(dt.date(2025, 10, 31), {"value": 32.0})
    {'value': 32.0, 'timestamp': 1761868800.0, 'calendar_month_end': 1.0}
    """
    return {**values, "timestamp": timestamp_of_date(day), **calendar_features(day)}


def timestamp_of_date(day: dt.date) -> float:
    """POSIX seconds of UTC midnight of ``day``: the ``timestamp`` of an observation dated ``day``."""
    return float((day - _EPOCH).days * 86400)


def date_of_timestamp(timestamp: float) -> dt.date:
    """The UTC calendar date of POSIX seconds (the inverse of :func:`timestamp_of_date`)."""
    return _EPOCH + dt.timedelta(days=int(timestamp // 86400))
