"""SOFR minus the rate paid on reserves, in basis points, from prints as they arrive.

IORB replaced IOER on 2021-07-29; the rate in force on a date is IORB from then on and IOER
before. Prints can arrive in any order: a SOFR print whose policy rate is not known yet waits
until it is. An exact repeat is a no-op; a revised value (a new vintage) emits a corrected signal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from plumbline.records import Print, Signal

__all__ = ["IORB_START", "SIGNAL_ID", "SofrPolicySpread"]

SIGNAL_ID = "sofr_iorb_spread_bp"
IORB_START = dt.date(2021, 7, 29)
# Policy-rate series are "daily, 7-day": a missing day may borrow the setting of the days before.
_POLICY_LOOKBACK_DAYS = 7
# Memory bound: state older than this (relative to the newest SOFR date) is dropped.
_RETAIN_DAYS = 400


@dataclasses.dataclass
class _Sofr:
    value: float
    vintage: int
    replay: bool
    published_at: dt.datetime


class SofrPolicySpread:
    """Derive ``sofr_iorb_spread_bp`` signals from SOFR, IORB and IOER prints.

    >>> from plumbline.catalogue import published_at
    >>> def p(series, day, value):
    ...     d = dt.date.fromisoformat(day)
    ...     return Print(series, d, value, "percent", "test", published_at(series, d))
    >>> spread = SofrPolicySpread()
    >>> spread.on_print(p("SOFR", "2019-09-17", 5.25))  # policy rate not known yet: waits
    []
    >>> [(s.observation_date.isoformat(), s.value) for s in spread.on_print(p("IOER", "2019-09-17", 2.10))]
    [('2019-09-17', 315.0)]
    >>> spread.on_print(p("SOFR", "2019-09-17", 5.25))  # exact repeat: no-op
    []
    """

    signal_id = SIGNAL_ID
    inputs = frozenset({"SOFR", "IORB", "IOER"})

    def __init__(self) -> None:
        self._policy: dict[dt.date, float] = {}
        self._sofr: dict[dt.date, _Sofr] = {}
        self._emitted: dict[dt.date, float] = {}

    def on_print(self, record: Print) -> list[Signal]:
        """Feed one print; return the signals it completes or corrects (oldest first)."""
        if record.series_id == "SOFR":
            known = self._sofr.get(record.observation_date)
            if known is not None and known.value == record.value:
                return []
            if known is not None and record.vintage < known.vintage:
                return []  # an older vintage arriving late never overrides a newer one
            self._sofr[record.observation_date] = _Sofr(
                record.value, record.vintage, record.replay, record.published_at
            )
            self._prune(record.observation_date)
            signal = self._signal_for(record.observation_date)
            return [signal] if signal else []
        if record.series_id in ("IORB", "IOER"):
            if (record.series_id == "IORB") != (record.observation_date >= IORB_START):
                return []  # IOER after the switch or IORB before it is not the rate in force
            if self._policy.get(record.observation_date) == record.value:
                return []
            self._policy[record.observation_date] = record.value
            # A policy print can complete (or correct) the spread of this date and the next days.
            out: list[Signal] = []
            for offset in range(_POLICY_LOOKBACK_DAYS + 1):
                day = record.observation_date + dt.timedelta(days=offset)
                if day in self._sofr:
                    signal = self._signal_for(day)
                    if signal:
                        out.append(signal)
            return out
        return []

    def policy_rate(self, day: dt.date) -> float | None:
        """The rate on reserves in force on ``day``, if a print for it (or a recent day) arrived."""
        for offset in range(_POLICY_LOOKBACK_DAYS + 1):
            rate = self._policy.get(day - dt.timedelta(days=offset))
            if rate is not None:
                return rate
        return None

    def _signal_for(self, day: dt.date) -> Signal | None:
        sofr = self._sofr[day]
        rate = self.policy_rate(day)
        if rate is None:
            return None
        spread_bp = round((sofr.value - rate) * 100.0, 6)
        if self._emitted.get(day) == spread_bp:
            return None
        self._emitted[day] = spread_bp
        return Signal(
            signal_id=SIGNAL_ID,
            observation_date=day,
            value=spread_bp,
            unit="bp",
            inputs={"SOFR": day.isoformat(), "IORB" if day >= IORB_START else "IOER": day.isoformat()},
            published_at=sofr.published_at,
            replay=sofr.replay,
        )

    def _prune(self, newest: dt.date) -> None:
        if len(self._sofr) <= _RETAIN_DAYS:
            return
        cutoff = newest - dt.timedelta(days=_RETAIN_DAYS)
        for table in (self._sofr, self._emitted, self._policy):
            for day in [d for d in table if d < cutoff]:
                del table[day]
