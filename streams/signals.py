"""How every funding signal is built from prints: a driver series and as-of inputs.

A signal has one value per observation date of its *driver* series. Each other input is joined
*as of* that date: the newest observation at or before ``date - lag_days`` and no older than
``max_age_days`` beyond that, among the prints received so far (so, in publication order, only
what was published by then). ``RESERVES_RATE`` is a virtual series: IORB from 2021-07-29, IOER
before, the rate on reserves in force.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

__all__ = ["RESERVES_RATE", "SIGNAL_DEFS", "Input", "SignalDef"]

RESERVES_RATE = "RESERVES_RATE"
_BN = 1e9  # canonical USD to billions, the unit of every *_usd_bn signal


@dataclasses.dataclass(frozen=True)
class Input:
    """One joined input: ``series`` as of ``date - lag_days``, at most ``max_age_days`` older."""

    series: str
    max_age_days: int = 0
    lag_days: int = 0


@dataclasses.dataclass(frozen=True)
class SignalDef:
    """A signal: ``compute(driver_value, *input_values)`` on each date the driver prints."""

    id: str
    driver: str
    inputs: tuple[Input, ...]
    compute: Callable[..., float]


def _spread_bp(rate: float, reference: float) -> float:
    return round((rate - reference) * 100.0, 6)


def _policy_spread(signal_id: str, series_id: str) -> SignalDef:
    # The rate on reserves is a "daily, 7-day" step series: a week of look-back covers any gap.
    return SignalDef(signal_id, series_id, (Input(RESERVES_RATE, max_age_days=7),), _spread_bp)


def _billions(signal_id: str, series_id: str) -> SignalDef:
    return SignalDef(signal_id, series_id, (), lambda value: value / _BN)


def _change_bn(signal_id: str, series_id: str, lag_days: int) -> SignalDef:
    return SignalDef(
        signal_id, series_id, (Input(series_id, max_age_days=3, lag_days=lag_days),),
        lambda value, earlier: (value - earlier) / _BN,
    )  # fmt: skip


SIGNAL_DEFS: tuple[SignalDef, ...] = (
    _policy_spread("sofr_iorb_spread_bp", "SOFR"),
    _policy_spread("sofr1_iorb_spread_bp", "SOFR1"),
    _policy_spread("sofr25_iorb_spread_bp", "SOFR25"),
    _policy_spread("sofr75_iorb_spread_bp", "SOFR75"),
    _policy_spread("sofr99_iorb_spread_bp", "SOFR99"),
    _policy_spread("effr_iorb_spread_bp", "EFFR"),
    _policy_spread("tgcr_iorb_spread_bp", "TGCR"),
    _policy_spread("bgcr_iorb_spread_bp", "BGCR"),
    SignalDef("tgcr_onrrp_spread_bp", "TGCR", (Input("RRPONTSYAWARD", max_age_days=3),), _spread_bp),
    SignalDef(
        "sofr_range_position_ratio", "SOFR",
        (Input("DFEDTARL", max_age_days=7), Input("DFEDTARU", max_age_days=7)),
        lambda sofr, low, high: round((sofr - low) / (high - low), 9),
    ),
    _billions("sofr_volume_usd_bn", "SOFRVOL"),
    _billions("onrrp_usd_bn", "RRPONTSYD"),
    _billions("srf_usage_usd_bn", "RPONTTLD"),
    _billions("reserves_usd_bn", "WRESBAL"),
    _change_bn("reserves_weekly_change_usd_bn", "WRESBAL", 7),
    _change_bn("reserves_change_28d_usd_bn", "WRESBAL", 28),
    _billions("tga_usd_bn", "WDTGAL"),
    _billions("tga_daily_usd_bn", "TGA_DTS_CLOSE"),
    _change_bn("tga_change_28d_usd_bn", "WDTGAL", 28),
    _billions("fed_treasuries_usd_bn", "TREAST"),
    _billions("fed_total_assets_usd_bn", "WALCL"),
    _billions("bank_treasuries_usd_bn", "USGSEC"),
    SignalDef(
        "reserves_to_bank_assets_ratio", "TLAACBW027SBOG", (Input("WRESBAL", max_age_days=7),),
        lambda assets, reserves: round(reserves / assets, 9),
    ),
    SignalDef(
        "bank_treasuries_to_reserves_ratio", "USGSEC", (Input("WRESBAL", max_age_days=7),),
        lambda holdings, reserves: round(holdings / reserves, 9),
    ),
    SignalDef("dgs10_target_top_spread_bp", "DGS10", (Input("DFEDTARU", max_age_days=7),), _spread_bp),
    SignalDef("dgs10_change_20d_bp", "DGS10", (Input("DGS10", max_age_days=5, lag_days=28),), _spread_bp),
    SignalDef(
        "policy_change_90d_bp", "DFEDTARU", (Input("DFEDTARU", max_age_days=7, lag_days=90),), _spread_bp
    ),
    SignalDef("usdjpy_jpy_per_usd", "DEXJPUS", (), lambda value: value),
    SignalDef(
        "usdjpy_change_20d_pct", "DEXJPUS", (Input("DEXJPUS", max_age_days=5, lag_days=28),),
        lambda value, earlier: round((value / earlier - 1.0) * 100.0, 9),
    ),
    SignalDef(
        "us_jp_policy_spread_bp", "JP_POLICY", (Input("DFEDTARU", max_age_days=7),),
        lambda boj, fed_top: _spread_bp(fed_top, boj),
    ),
)  # fmt: skip
