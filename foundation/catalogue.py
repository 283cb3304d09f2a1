"""The series catalogue: every series plumbline knows, and every signal it derives.

Metric label values and topic keys come only from here, so a print of an unknown series is
rejected (to the dead-letter topic) instead of creating a new time series in Prometheus.

Units are normalised once, at the edge: rates are ``percent``, balances ``usd``. ``file_multiplier``
converts the unit of the ``date,value`` history files (FRED-style codes, PROVENANCE.md) into it.

>>> SERIES["SOFR"].unit, SERIES["WRESBAL"].unit, SERIES["WRESBAL"].file_multiplier
('percent', 'usd', 1000000.0)
>>> published_at("SOFR", dt.date(2019, 9, 17)).isoformat()  # next business day, 08:00 New York
'2019-09-18T12:00:00+00:00'
>>> published_at("WRESBAL", dt.date(2025, 10, 29)).isoformat()  # H.4.1: Thursday 16:30
'2025-10-30T20:30:00+00:00'
>>> get_series("NOPE")
Traceback (most recent call last):
...
foundation.catalogue.UnknownSeriesError: unknown series 'NOPE': not in the plumbline catalogue
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import zlib
from collections.abc import Callable
from typing import Literal

from foundation.calendar import NEW_YORK, is_business_day, next_business_day

__all__ = [
    "DERIVED_SIGNALS",
    "INDEX_SIGNAL",
    "IORB_START",
    "RESERVES_RATE",
    "SERIES",
    "SIGNALS",
    "Input",
    "SeriesSpec",
    "SignalSpec",
    "StressProfile",
    "UnknownSeriesError",
    "expected_observation_date",
    "get_series",
    "partition_signals",
    "print_partitions",
    "published_at",
    "reserves_rate_in_force",
    "signal_partitions",
]

Unit = Literal["percent", "usd", "jpy_per_usd", "bp", "ratio", "usd_bn", "index"]
INDEX_SIGNAL = "funding_stress_index"
#: IORB replaced IOER as the rate paid on reserves on this date.
IORB_START = dt.date(2021, 7, 29)
Release = Literal["next_business_day", "same_day", "in_force", "h41_thursday", "h8_friday"]


class UnknownSeriesError(KeyError):
    """A series id that is not in the catalogue."""

    def __str__(self) -> str:
        return f"unknown series {self.args[0]!r}: not in the plumbline catalogue"


@dataclasses.dataclass(frozen=True)
class SeriesSpec:
    """One upstream series.

    ``release`` and ``release_time`` say when a print for observation date T becomes public
    (America/New_York): that is the order a point-in-time replay must follow.
    ``min_value`` and ``max_value`` bound plausible prints in the canonical unit; anything outside
    is rejected as impossible (a negative reserve balance, a 500% repo rate).
    ``live`` is False for a series no live source publishes new prints of (no connector route, or
    discontinued): it has no expected publication, so it is never reported stale.
    """

    id: str
    description: str
    unit: Unit
    frequency: Literal["daily", "daily_7day", "weekly"]
    source: str
    release: Release
    release_time: dt.time
    min_value: float
    max_value: float
    file_multiplier: float = 1.0
    live: bool = True

    @property
    def publication_lag(self) -> str:
        """Human-readable publication lag, for docs and `plumbline config`."""
        return f"{self.release.replace('_', ' ')} {self.release_time:%H:%M} ET"


def _rate(series_id: str, description: str, source: str, release_hhmm: str = "08:00") -> SeriesSpec:
    return SeriesSpec(
        series_id,
        description,
        "percent",
        "daily",
        source,
        "next_business_day",
        dt.time.fromisoformat(release_hhmm),
        min_value=-5.0,
        max_value=50.0,
    )


def _volume_bn(series_id: str, description: str) -> SeriesSpec:
    return SeriesSpec(
        series_id, description, "usd", "daily", "nyfed", "next_business_day", dt.time(8, 0),
        min_value=0.0, max_value=1e13, file_multiplier=1e9,
    )  # fmt: skip


def _h41(series_id: str, description: str) -> SeriesSpec:
    return SeriesSpec(
        series_id, description, "usd", "weekly", "fed_h41", "h41_thursday", dt.time(16, 30),
        min_value=0.0, max_value=5e13, file_multiplier=1e6,
    )  # fmt: skip


def _policy(series_id: str, description: str, *, live: bool = True) -> SeriesSpec:
    # Policy settings are announced before they take effect, so a print is known at the start of its date.
    return SeriesSpec(
        series_id, description, "percent", "daily_7day", "fed_board", "in_force", dt.time(0, 0),
        min_value=-1.0, max_value=25.0, live=live,
    )  # fmt: skip


_ALL_SERIES = (
    _rate("SOFR", "Secured Overnight Financing Rate", "nyfed"),
    _rate("SOFR1", "SOFR 1st percentile", "nyfed"),
    _rate("SOFR25", "SOFR 25th percentile", "nyfed"),
    _rate("SOFR75", "SOFR 75th percentile", "nyfed"),
    _rate("SOFR99", "SOFR 99th percentile", "nyfed"),
    _volume_bn("SOFRVOL", "SOFR underlying volume"),
    _rate("TGCR", "Tri-Party General Collateral Rate", "nyfed"),
    _volume_bn("TGCRVOL", "TGCR underlying volume"),
    _rate("BGCR", "Broad General Collateral Rate", "nyfed"),
    _volume_bn("BGCRVOL", "BGCR underlying volume"),
    _rate("EFFR", "Effective Federal Funds Rate", "nyfed", "09:00"),
    _rate("EFFR1", "EFFR 1st percentile", "nyfed", "09:00"),
    _rate("EFFR99", "EFFR 99th percentile", "nyfed", "09:00"),
    _volume_bn("EFFRVOL", "EFFR underlying volume"),
    _rate("OBFR", "Overnight Bank Funding Rate", "nyfed", "09:00"),
    _volume_bn("OBFRVOL", "OBFR underlying volume"),
    _policy("IORB", f"Interest rate on reserve balances (from {IORB_START})"),
    # Discontinued when IORB replaced it: FRED still serves its history, nothing new will come.
    _policy("IOER", f"Interest rate on excess reserves (before {IORB_START})", live=False),
    _policy("DFEDTARL", "FOMC target range, lower limit"),
    _policy("DFEDTARU", "FOMC target range, upper limit"),
    SeriesSpec(
        "RRPONTSYD", "Overnight reverse repo, Treasury securities sold, total accepted", "usd", "daily",
        "nyfed", "same_day", dt.time(13, 30), min_value=0.0, max_value=1e13, file_multiplier=1e9,
    ),
    SeriesSpec(
        "RPONTTLD", "Repo operations accepted (standing repo facility since 2021)", "usd", "daily",
        "nyfed", "same_day", dt.time(14, 0), min_value=0.0, max_value=1e13, file_multiplier=1e9,
    ),
    SeriesSpec(
        "RRPONTSYAWARD", "Overnight reverse repo award rate (ON RRP offering rate)", "percent", "daily",
        "nyfed", "same_day", dt.time(13, 30), min_value=-1.0, max_value=25.0,
    ),
    _h41("WRESBAL", "Reserve balances with Federal Reserve Banks, week average"),
    _h41("WALCL", "Federal Reserve total assets, Wednesday level"),
    _h41("TREAST", "Treasury securities held outright by the Fed, Wednesday level"),
    _h41("WDTGAL", "Treasury General Account, Wednesday level"),
    _h41("WTREGEN", "Treasury General Account, week average"),
    SeriesSpec(
        "USGSEC", "Treasury and agency securities, all commercial banks (H.8)", "usd", "weekly",
        "fed_h8", "h8_friday", dt.time(16, 15), min_value=0.0, max_value=5e13, file_multiplier=1e6,
    ),
    SeriesSpec(
        "TLAACBW027SBOG", "Total assets, all commercial banks (H.8)", "usd", "weekly",
        "fed_h8", "h8_friday", dt.time(16, 15), min_value=0.0, max_value=1e14, file_multiplier=1e9,
    ),
    SeriesSpec(
        "TGA_DTS_CLOSE", "TGA closing balance, Daily Treasury Statement", "usd", "daily",
        "treasury_dts", "next_business_day", dt.time(16, 0), min_value=0.0, max_value=1e13,
        file_multiplier=1e6,
    ),
    SeriesSpec(
        "TGA_DTS_OPEN", "TGA opening balance, Daily Treasury Statement", "usd", "daily",
        "treasury_dts", "next_business_day", dt.time(16, 0), min_value=0.0, max_value=1e13,
        file_multiplier=1e6,
    ),
    _rate("DGS10", "10-year Treasury constant maturity yield (H.15)", "fed_h15", "16:15"),
    _rate("DGS3MO", "3-month Treasury constant maturity yield (H.15)", "fed_h15", "16:15"),
    SeriesSpec(
        "DEXJPUS", "Japanese yen per US dollar, noon buying rate (H.10)", "jpy_per_usd", "daily",
        "fred", "next_business_day", dt.time(16, 15), min_value=1.0, max_value=1000.0,
    ),
    SeriesSpec(
        "JP_POLICY", "Bank of Japan policy rate (BIS)", "percent", "daily", "bis", "next_business_day",
        dt.time(8, 0), min_value=-5.0, max_value=25.0, live=False,  # no live connector: imported files only
    ),
)  # fmt: skip

SERIES: dict[str, SeriesSpec] = {spec.id: spec for spec in _ALL_SERIES}


#: A virtual series: the rate paid on reserves in force, IOER before :data:`IORB_START`, IORB from it.
RESERVES_RATE = "RESERVES_RATE"
_BN = 1e9  # canonical USD to billions, the unit of every *_usd_bn signal


def reserves_rate_in_force(series_id: str, observation_date: dt.date) -> bool:
    """True when a print of ``series_id`` is the rate on reserves in force on its date.

    >>> reserves_rate_in_force("IOER", dt.date(2021, 7, 28)), reserves_rate_in_force("IOER", IORB_START)
    (True, False)
    """
    if series_id == "IORB":
        return observation_date >= IORB_START
    return series_id == "IOER" and observation_date < IORB_START


@dataclasses.dataclass(frozen=True)
class Input:
    """One joined input: ``series`` as of ``date - lag_days``, at most ``max_age_days`` older."""

    series: str
    max_age_days: int = 0
    lag_days: int = 0


@dataclasses.dataclass(frozen=True)
class StressProfile:
    """What stress looks like on one signal, in its own units (detectors are set from it).

    ``min_scale`` is the smallest meaningful move (1 bp ticks, $10bn, ...); ``persistence_levels``
    the (enter, exit) levels a persistence detector is tried with, where a level means something.
    """

    side: Literal["up", "down"]
    min_scale: float
    persistence_levels: tuple[float, float] | None = None


@dataclasses.dataclass(frozen=True)
class SignalSpec:
    """One signal: what it means, its unit, how it is built and what stress looks like on it.

    A derived signal has one value per observation date of its ``driver`` series: each of ``joins``
    is joined *as of* that date (the newest observation at or before ``date - lag_days`` and no older
    than ``max_age_days`` beyond that, among the prints received so far, so in publication order only
    what was published by then), and ``compute(driver_value, *joined_values)`` gives the value. The
    composite index has no driver (``""``): it is computed from the other signals.
    """

    id: str
    description: str
    unit: Unit
    driver: str = ""
    joins: tuple[Input, ...] = ()
    compute: Callable[..., float] | None = dataclasses.field(default=None, compare=False, repr=False)
    stress: StressProfile | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """The catalogue series the signal is built from (the rate on reserves: IORB and IOER)."""
        out: list[str] = []
        for series_id in (self.driver, *(joined.series for joined in self.joins)):
            if series_id == RESERVES_RATE:
                out += ["IORB", "IOER"]
            elif series_id and series_id not in out:
                out.append(series_id)
        return tuple(out)


def _spread_bp(rate: float, reference: float) -> float:
    return round((rate - reference) * 100.0, 6)


def _reserves_spread(
    signal_id: str, driver: str, description: str, stress: StressProfile | None = None
) -> SignalSpec:
    # The rate on reserves is a "daily, 7-day" step series: a week of look-back covers any gap.
    joins = (Input(RESERVES_RATE, max_age_days=7),)
    return SignalSpec(signal_id, description, "bp", driver, joins, _spread_bp, stress)


def _billions(
    signal_id: str, driver: str, description: str, stress: StressProfile | None = None
) -> SignalSpec:
    return SignalSpec(signal_id, description, "usd_bn", driver, (), lambda value: value / _BN, stress)


def _change_bn(
    signal_id: str, driver: str, lag_days: int, description: str, stress: StressProfile | None = None
) -> SignalSpec:
    return SignalSpec(
        signal_id,
        description,
        "usd_bn",
        driver,
        (Input(driver, max_age_days=3, lag_days=lag_days),),
        lambda value, earlier: (value - earlier) / _BN,
        stress,
    )


_UP_BP = StressProfile("up", 2.0)

#: Every signal, derived or composite. Adding a signal means adding it here (docs/metrics.md lists
#: them; a default detector for it goes in ``streams/config.py``).
SIGNALS: dict[str, SignalSpec] = {
    spec.id: spec
    for spec in (
        _reserves_spread("sofr_iorb_spread_bp", "SOFR",
                         f"SOFR minus the rate paid on reserves (IORB; IOER before {IORB_START}), bp",
                         StressProfile("up", 2.0, (5.0, 2.0))),
        _reserves_spread("sofr1_iorb_spread_bp", "SOFR1", "SOFR 1st percentile minus IORB, bp"),
        _reserves_spread("sofr25_iorb_spread_bp", "SOFR25", "SOFR 25th percentile minus IORB, bp"),
        _reserves_spread("sofr75_iorb_spread_bp", "SOFR75", "SOFR 75th percentile minus IORB, bp"),
        _reserves_spread("sofr99_iorb_spread_bp", "SOFR99", "SOFR 99th percentile minus IORB, bp",
                         StressProfile("up", 2.0, (25.0, 15.0))),
        _reserves_spread("effr_iorb_spread_bp", "EFFR", "EFFR minus IORB, bp",
                         StressProfile("up", 1.0, (0.0, -2.0))),
        _reserves_spread("tgcr_iorb_spread_bp", "TGCR", "TGCR minus IORB, bp",
                         StressProfile("up", 2.0, (5.0, 2.0))),
        _reserves_spread("bgcr_iorb_spread_bp", "BGCR", "BGCR minus IORB, bp"),
        SignalSpec("tgcr_onrrp_spread_bp", "TGCR minus the ON RRP award rate, bp", "bp",
                   "TGCR", (Input("RRPONTSYAWARD", max_age_days=3),), _spread_bp),
        SignalSpec("sofr_range_position_ratio",
                   "SOFR position in the target range: 0 at the floor, 1 at the ceiling", "ratio",
                   "SOFR", (Input("DFEDTARL", max_age_days=7), Input("DFEDTARU", max_age_days=7)),
                   lambda sofr, low, high: round((sofr - low) / (high - low), 9),
                   StressProfile("up", 0.04, (0.8, 0.7))),
        _billions("sofr_volume_usd_bn", "SOFRVOL", "SOFR underlying volume, billions of USD"),
        _billions("onrrp_usd_bn", "RRPONTSYD", "ON RRP take-up, billions of USD", StressProfile("down", 5.0)),
        _billions("srf_usage_usd_bn", "RPONTTLD",
                  "Repo operations accepted (standing repo facility since 2021), billions of USD"),
        _billions("reserves_usd_bn", "WRESBAL", "Reserve balances, billions of USD",
                  StressProfile("down", 10.0)),
        _change_bn("reserves_weekly_change_usd_bn", "WRESBAL", 7, "Week-on-week change of reserves",
                   StressProfile("down", 10.0)),
        _change_bn("reserves_change_28d_usd_bn", "WRESBAL", 28, "Four-week change of reserves"),
        _billions("tga_usd_bn", "WDTGAL", "Treasury General Account, Wednesday level, billions",
                  StressProfile("up", 10.0)),
        _billions("tga_daily_usd_bn", "TGA_DTS_CLOSE", "TGA closing balance (DTS), billions"),
        _change_bn("tga_change_28d_usd_bn", "WDTGAL", 28, "Four-week change of the TGA"),
        _billions("fed_treasuries_usd_bn", "TREAST", "Treasuries held outright by the Fed, billions"),
        _billions("fed_total_assets_usd_bn", "WALCL", "Federal Reserve total assets, billions"),
        _billions("bank_treasuries_usd_bn", "USGSEC", "Bank Treasury and agency holdings, billions"),
        SignalSpec("reserves_to_bank_assets_ratio",
                   "Reserve balances over total assets of commercial banks (satiation ~12-13%)", "ratio",
                   "TLAACBW027SBOG", (Input("WRESBAL", max_age_days=7),),
                   lambda assets, reserves: round(reserves / assets, 9)),
        SignalSpec("bank_treasuries_to_reserves_ratio",
                   "Bank Treasury and agency holdings over reserve balances", "ratio",
                   "USGSEC", (Input("WRESBAL", max_age_days=7),),
                   lambda holdings, reserves: round(holdings / reserves, 9)),
        SignalSpec("dgs10_target_top_spread_bp", "10-year yield minus the top of the target range, bp", "bp",
                   "DGS10", (Input("DFEDTARU", max_age_days=7),), _spread_bp, _UP_BP),
        SignalSpec("dgs10_change_20d_bp", "10-year yield change over 28 calendar days, bp", "bp",
                   "DGS10", (Input("DGS10", max_age_days=5, lag_days=28),), _spread_bp),
        SignalSpec("policy_change_90d_bp",
                   "Change of the top of the target range over 90 days, bp (negative: easing)", "bp",
                   "DFEDTARU", (Input("DFEDTARU", max_age_days=7, lag_days=90),), _spread_bp),
        SignalSpec("usdjpy_jpy_per_usd", "Yen per dollar", "jpy_per_usd", "DEXJPUS", (), lambda value: value),
        SignalSpec("usdjpy_change_20d_pct",
                   "USD/JPY change over 28 calendar days, percent (negative: yen strengthening)", "percent",
                   "DEXJPUS", (Input("DEXJPUS", max_age_days=5, lag_days=28),),
                   lambda value, earlier: round((value / earlier - 1.0) * 100.0, 9)),
        SignalSpec("us_jp_policy_spread_bp", "Top of the FOMC range minus the Bank of Japan policy rate, bp",
                   "bp", "JP_POLICY", (Input("DFEDTARU", max_age_days=7),),
                   lambda boj, fed_top: _spread_bp(fed_top, boj)),
        SignalSpec(INDEX_SIGNAL,
                   "Composite of calibrated per-signal scores; the alert shows each signal's contribution",
                   "index"),
    )
}  # fmt: skip

#: The signals computed from prints (all but the composite index), in catalogue order.
DERIVED_SIGNALS: tuple[SignalSpec, ...] = tuple(spec for spec in SIGNALS.values() if spec.driver)

#: Relative print rate of each frequency, the weight a signal's driver adds to its partition.
_PRINTS_PER_WEEK = {"daily": 5, "daily_7day": 7, "weekly": 1}


@functools.cache
def signal_partitions(partitions: int) -> dict[str, int]:
    """The prints-topic partition of every derived signal, for a topic of ``partitions``.

    Signals, not series, are spread: each goes to the least-loaded partition, busiest drivers
    first (a greedy longest-processing-time assignment on each driver's print rate), so N workers
    share the work. The inputs of a signal are routed to its partition (:func:`print_partitions`),
    so one engine still derives each signal alone, from exactly the prints it needs.

    >>> signal_partitions(1)["sofr_iorb_spread_bp"], len(set(signal_partitions(4).values()))
    (0, 4)
    """
    load = [0] * partitions
    out: dict[str, int] = {}

    def weight(spec: SignalSpec) -> int:
        return _PRINTS_PER_WEEK[SERIES[spec.driver].frequency]

    ranked = sorted(enumerate(DERIVED_SIGNALS), key=lambda item: (-weight(item[1]), item[0]))
    for _, spec in ranked:
        partition = min(range(partitions), key=lambda p: (load[p], p))
        out[spec.id] = partition
        load[partition] += weight(spec)
    return out


@functools.cache
def print_partitions(series_id: str, partitions: int) -> tuple[int, ...]:
    """Every prints-topic partition a print of ``series_id`` goes to: those of the signals it feeds.

    A series no signal uses still has one partition (by a stable hash), where its value is
    exported; an unknown series goes to partition 0, whose engine dead-letters it.

    >>> print_partitions("SOFR", 1), print_partitions("BITCOIN", 4)
    ((0,), (0,))
    """
    if series_id not in SERIES:
        return (0,)
    placed = signal_partitions(partitions)
    found = sorted({placed[spec.id] for spec in DERIVED_SIGNALS if series_id in spec.inputs})
    return tuple(found) if found else (zlib.crc32(series_id.encode()) % partitions,)


@functools.cache
def partition_signals(partition: int, partitions: int) -> frozenset[str]:
    """The derived signals computed on ``partition`` of a ``partitions``-partition prints topic."""
    return frozenset(signal for signal, p in signal_partitions(partitions).items() if p == partition)


def get_series(series_id: str) -> SeriesSpec:
    """The catalogue entry for ``series_id``; :class:`UnknownSeriesError` if there is none."""
    try:
        return SERIES[series_id]
    except KeyError:
        raise UnknownSeriesError(series_id) from None


def _release_date(spec: SeriesSpec, observation_date: dt.date) -> dt.date:
    if spec.release == "in_force":
        return observation_date
    if spec.release == "same_day":
        day = observation_date
        while not is_business_day(day):
            day = next_business_day(day)
        return day
    if spec.release == "next_business_day":
        return next_business_day(observation_date)
    if spec.release == "h41_thursday":
        # Wednesday levels, released the next day (a Thursday holiday pushes it to the next business day).
        day = observation_date + dt.timedelta(days=1)
        return day if is_business_day(day) else next_business_day(day)
    # H.8: the Friday of the following week (nine days after the Wednesday it reports).
    day = observation_date + dt.timedelta(days=9)
    return day if is_business_day(day) else next_business_day(day)


def _is_observation_day(spec: SeriesSpec, day: dt.date) -> bool:
    if spec.frequency == "daily_7day":
        return True
    if spec.frequency == "weekly":
        return day.weekday() == 2  # H.4.1 and H.8 report Wednesdays
    return is_business_day(day)


def expected_observation_date(series_id: str, now: dt.datetime) -> dt.date | None:
    """The newest observation date whose print should be public by ``now`` (staleness checks).

    >>> now = dt.datetime(2025, 12, 1, 14, 0, tzinfo=dt.UTC)  # Monday 09:00 New York
    >>> expected_observation_date("SOFR", now)  # Friday's SOFR was published at 08:00
    datetime.date(2025, 11, 28)
    >>> expected_observation_date("WRESBAL", now)  # Thanksgiving week: released Friday
    datetime.date(2025, 11, 26)
    """
    spec = get_series(series_id)
    day = now.astimezone(NEW_YORK).date()
    for _ in range(40):
        if _is_observation_day(spec, day) and published_at(series_id, day) <= now:
            return day
        day -= dt.timedelta(days=1)
    return None


def published_at(series_id: str, observation_date: dt.date) -> dt.datetime:
    """When the first print for ``observation_date`` became public, in UTC."""
    spec = get_series(series_id)
    local = dt.datetime.combine(_release_date(spec, observation_date), spec.release_time, tzinfo=NEW_YORK)
    return local.astimezone(dt.UTC)
