"""Backtest of the funding alert rules on real history: which days would each alert fire?

The rules in ``deploy/prometheus/rules/funding.yml`` read the worker's state: the newest value of
each signal and each detector's alarm, held between publications. :func:`build_state` rebuilds that
state for every US business day from 2018 by running the worker's engines in-process over the
``date,value`` files of the data directory in publication order (signals as docs/metrics.md defines
them, detectors as ``streams/config.py`` configures them by default, each daily value visible from
its observation date, weekly H.4.1 values from the business day after their Wednesday).
:func:`report` applies the same conditions and thresholds as the rules and lists the firing
episodes per alert and severity, with the check that matters: fires on the stress episodes, quiet
in the glut. ``plumbline generate`` writes it to ``deploy/prometheus/BACKTEST.md``.

Keep the thresholds in ``THRESHOLDS`` equal to the ones in ``rules/funding.yml``
(``tests/deploy/test_rules_backtest.py`` checks that each one appears in the rule file).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from foundation.calendar import is_business_day, next_business_day
from foundation.catalogue import INDEX_SIGNAL
from foundation.episodes import CALM_STRETCH, EPISODES
from foundation.settings import load_settings
from offline.evaluation import (
    DETECTION_LEAD_BUSINESS_DAYS,
    detection_window_start,
    history_prints,
    signal_series,
)
from streams.config import detector_plan
from streams.inprocess import run_in_process

__all__ = ["RULES", "THRESHOLDS", "FiringEpisode", "Rule", "build_state", "episodes", "report"]

#: Every level a rule compares with, by the name used here (and in the rule's ``# backtest:`` marker).
THRESHOLDS: dict[str, float] = {
    "sofr_spike_bp": 25.0,
    "sofr99_critical_bp": 100.0,
    "repo_off_floor_bp": 5.0,
    "onrrp_depleted_usd_bn": 50.0,
    "onrrp_sofr_range_position_ratio": 0.5,
    "reserves_fall_28d_usd_bn": -150.0,
    "reserves_fall_thin_buffer_onrrp_usd_bn": 250.0,
    "tga_rise_28d_usd_bn": 150.0,
    "tga_rebuild_from_usd_bn": 500.0,
    "tga_reserves_fall_28d_usd_bn": -100.0,
    "srf_used_usd_bn": 1.0,
    "srf_critical_usd_bn": 25.0,
    "dgs10_selloff_20d_bp": 30.0,
    "usdjpy_unwind_info_20d_pct": -5.0,
    "usdjpy_unwind_20d_pct": -8.0,
}
T = THRESHOLDS

START = dt.date(2018, 1, 2)


@dataclasses.dataclass(frozen=True)
class Rule:
    """One alert at one severity, as a condition on the daily state frame."""

    alert: str
    severity: str
    condition: Callable[[pd.DataFrame], pd.Series]
    value: str  # the column shown as the peak value of an episode
    variant: str = ""  # which rule of the alert, when it has several at one severity


def _from_next_business_day(values: pd.Series) -> pd.Series:
    """Weekly prints: visible from the business day after their (Wednesday) date."""
    shifted = [pd.Timestamp(next_business_day(stamp.date())) for stamp in values.index]
    return pd.Series(values.to_numpy(), index=pd.DatetimeIndex(shifted))


def _by_date(points: dict[dt.date, float]) -> pd.Series:
    days = sorted(points)
    return pd.Series(
        [points[d] for d in days], index=pd.DatetimeIndex([pd.Timestamp(d) for d in days]), dtype=float
    )


def build_state(data_dir: Path) -> pd.DataFrame:
    """One row per US business day: the newest value of each signal and each default detector's alarm.

    Signals, detector alarms and the composite index come from the worker's own engines, run
    in-process over the prints in publication order (streams/inprocess.py), so this is the state a
    worker would have exported, held between publications as Prometheus sees it.
    """
    run = run_in_process(history_prints(data_dir, []), detector_plan(load_settings(env={})), trace=True)
    signals, _notes = signal_series(run.signals, start=START)
    # Up to the newest print in the data (not today), so the report depends on the data only.
    last = max(series.values.index.max() for series in signals.values())
    days = pd.DatetimeIndex([pd.Timestamp(d) for d in pd.date_range(START, last).date if is_business_day(d)])
    columns: dict[str, pd.Series] = {}

    def held(values: pd.Series, weekly: bool) -> pd.Series:
        if weekly:
            values = _from_next_business_day(values)
        values = values.dropna()
        values = values[~values.index.duplicated(keep="last")].sort_index()
        return values.reindex(days.union(values.index)).ffill().reindex(days)

    for name, series in signals.items():
        columns[name] = held(series.values, series.frequency == "weekly")
    alarms: dict[str, dict[dt.date, float]] = {}
    index_values: dict[dt.date, float] = {}
    for point in run.points:
        if point.observation_date >= START:
            alarms.setdefault(point.signal, {})[point.observation_date] = float(point.alarm)
            if point.signal == INDEX_SIGNAL:
                index_values[point.observation_date] = point.score
    for name, by_day in alarms.items():
        weekly = name in signals and signals[name].frequency == "weekly"
        columns[f"alarm:{name}"] = held(_by_date(by_day), weekly)
    columns[INDEX_SIGNAL] = held(_by_date(index_values), False)
    return pd.DataFrame(columns, index=days)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(float("nan"), index=frame.index)


def _alarm(name: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda f: _col(f, f"alarm:{name}") == 1


RULES: tuple[Rule, ...] = (
    Rule("SOFRAboveIORB", "warning", _alarm("sofr_iorb_spread_bp"), "sofr_iorb_spread_bp"),
    Rule("SOFRAboveIORB", "critical", lambda f: f.sofr_iorb_spread_bp >= T["sofr_spike_bp"],
         "sofr_iorb_spread_bp"),
    Rule("SOFRTailStress", "warning", _alarm("sofr99_iorb_spread_bp"), "sofr99_iorb_spread_bp"),
    Rule("SOFRTailStress", "critical", lambda f: f.sofr99_iorb_spread_bp >= T["sofr99_critical_bp"],
         "sofr99_iorb_spread_bp"),
    Rule("RepoOffTheFloor", "warning",
         lambda f: (f.tgcr_iorb_spread_bp >= T["repo_off_floor_bp"])
         | (f.bgcr_iorb_spread_bp >= T["repo_off_floor_bp"]),
         "tgcr_iorb_spread_bp", "tgcr/bgcr level"),
    Rule("RepoOffTheFloor", "warning", _alarm("effr_iorb_spread_bp"), "effr_iorb_spread_bp", "effr detector"),
    Rule("ReverseRepoBufferDepleted", "warning",
         lambda f: (f.onrrp_usd_bn < T["onrrp_depleted_usd_bn"])
         & (f.sofr_range_position_ratio >= T["onrrp_sofr_range_position_ratio"]),
         "onrrp_usd_bn"),
    Rule("ReserveScarcityNear", "warning", _alarm("reserves_usd_bn"), "reserves_usd_bn"),
    Rule("ReservesFallingFast", "warning",
         lambda f: (f.reserves_change_28d_usd_bn <= T["reserves_fall_28d_usd_bn"])
         & (f.onrrp_usd_bn < T["reserves_fall_thin_buffer_onrrp_usd_bn"]),
         "reserves_change_28d_usd_bn"),
    Rule("TGARebuildDrainingReserves", "warning",
         lambda f: (f.tga_change_28d_usd_bn >= T["tga_rise_28d_usd_bn"])
         & (f.tga_usd_bn - f.tga_change_28d_usd_bn < T["tga_rebuild_from_usd_bn"])
         & (f.reserves_change_28d_usd_bn <= T["tga_reserves_fall_28d_usd_bn"]),
         "tga_change_28d_usd_bn"),
    Rule("StandingRepoFacilityUsed", "warning", lambda f: f.srf_usage_usd_bn >= T["srf_used_usd_bn"],
         "srf_usage_usd_bn"),
    Rule("StandingRepoFacilityUsed", "critical", lambda f: f.srf_usage_usd_bn >= T["srf_critical_usd_bn"],
         "srf_usage_usd_bn"),
    Rule("BondsSellOffWhilePolicyEases", "warning",
         lambda f: (f.dgs10_change_20d_bp >= T["dgs10_selloff_20d_bp"]) & (f.policy_change_90d_bp < 0),
         "dgs10_change_20d_bp", "28-day change"),
    Rule("BondsSellOffWhilePolicyEases", "warning",
         lambda f: (_col(f, "alarm:dgs10_target_top_spread_bp") == 1) & (f.policy_change_90d_bp < 0),
         "dgs10_target_top_spread_bp", "10y - top detector"),
    Rule("YenCarryUnwind", "info", lambda f: f.usdjpy_change_20d_pct <= T["usdjpy_unwind_info_20d_pct"],
         "usdjpy_change_20d_pct"),
    Rule("YenCarryUnwind", "warning", lambda f: f.usdjpy_change_20d_pct <= T["usdjpy_unwind_20d_pct"],
         "usdjpy_change_20d_pct"),
    Rule("FundingStressIndexHigh", "warning", _alarm("funding_stress_index"), "funding_stress_index"),
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class FiringEpisode:
    """A run of business days on which a rule holds (gaps of up to ``MERGE_GAP`` days merged)."""

    start: dt.date
    end: dt.date
    days: int
    peak: float


MERGE_GAP_BUSINESS_DAYS = 5


def episodes(frame: pd.DataFrame, rule: Rule) -> list[FiringEpisode]:
    """The firing episodes of ``rule`` over ``frame``."""
    firing = rule.condition(frame).fillna(False).astype(bool)
    out: list[FiringEpisode] = []
    run: list[pd.Timestamp] = []
    gap = 0
    for stamp, on in firing.items():
        if on:
            run.append(stamp)
            gap = 0
        elif run:
            gap += 1
            if gap > MERGE_GAP_BUSINESS_DAYS:
                out.append(_episode(frame, rule, run))
                run, gap = [], 0
    if run:
        out.append(_episode(frame, rule, run))
    return out


def _episode(frame: pd.DataFrame, rule: Rule, run: list[pd.Timestamp]) -> FiringEpisode:
    values = frame.loc[run[0] : run[-1], rule.value]
    stress_down = rule.value in {"onrrp_usd_bn", "reserves_usd_bn", "reserves_change_28d_usd_bn",
                                 "usdjpy_change_20d_pct"}  # fmt: skip
    peak = float(values.min() if stress_down else values.max())
    return FiringEpisode(run[0].date(), run[-1].date(), len(run), peak)


def _fires_within(items: list[FiringEpisode], start: dt.date, end: dt.date) -> bool:
    return any(e.start <= end and e.end >= start for e in items)


def report(frame: pd.DataFrame) -> str:
    """Markdown: per alert and severity, the check against the episodes and every firing episode."""
    calm_start, calm_end = CALM_STRETCH
    lines = [
        "# Funding alert rules on real history (generated)",
        "",
        "Generated by `plumbline generate` from the data directory (`$PLUMBLINE_DATA_DIR`) with",
        "`offline/rules.py`; do not edit. Each rule's condition is applied to the worker's state on every",
        f"US business day from {START} (the newest print of each signal held until the next one; H.4.1",
        "prints from the business day after their Wednesday; detectors: `DEFAULTS` in `streams/config.py`).",
        f"An episode's column says `fires` when the alert fired from {DETECTION_LEAD_BUSINESS_DAYS} business",
        "days before its start to its end. Episodes merge firing days separated by up to",
        f"{MERGE_GAP_BUSINESS_DAYS} business days; `peak` is the most stressed value of the rule's signal in",
        "the episode. Thresholds: `THRESHOLDS` in `offline/rules.py`.",
        "",
        "## Summary",
        "",
        "| alert | severity | " + " | ".join(e.id for e in EPISODES) + f" | calm {calm_start:%Y-%m}.."
        f"{calm_end:%Y-%m} | firing days | episodes |",
        "|---|---|" + "---|" * len(EPISODES) + "---|---|---|",
    ]
    detail = ["", "## Firing episodes", ""]
    for rule in RULES:
        found = episodes(frame, rule)
        hits = [
            "fires" if _fires_within(found, detection_window_start(ep), ep.end) else "-" for ep in EPISODES
        ]
        calm = [e for e in found if _fires_within([e], *CALM_STRETCH)]
        calm_text = "quiet" if not calm else f"**{len(calm)} episode(s)**"
        total = sum(e.days for e in found)
        name = f"{rule.alert} ({rule.variant})" if rule.variant else rule.alert
        lines.append(
            f"| {name} | {rule.severity} | " + " | ".join(hits) + f" | {calm_text} | {total} | {len(found)} |"
        )
        detail.append(f"### {name}, {rule.severity} (peak of `{rule.value}`)")
        detail.append("")
        if not found:
            detail.append("never fires")
        for e in found:
            span = f"{e.start}" if e.start == e.end else f"{e.start} .. {e.end}"
            detail.append(f"- {span}: {e.days} business day(s), peak {e.peak:.1f}")
        detail.append("")
    return "\n".join(lines + detail).rstrip() + "\n"
