"""plumbline's Grafana dashboards, as code.

Four dashboards (funding overview, balance sheet, detectors, pipeline health) are built here from
the metric names in docs/metrics.md and written as JSON into ``deploy/grafana/dashboards/`` by
``plumbline dashboards`` (which loads this file). Uids are fixed strings, panel ids are assigned in
order, and the JSON is written with sorted keys, so regenerating without a change to this file
gives byte-identical output (``tests/deploy/test_dashboards.py`` checks that, and runs every
query against a real Prometheus after a replay of history).

A query that cannot return data from the local data copy says why in ``no_data_reason``; the test
skips exactly those and nothing else.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

__all__ = [
    "DASHBOARDS",
    "DATASOURCE_UID",
    "Dashboard",
    "Panel",
    "Query",
    "build",
    "render",
    "write_all",
]

DATASOURCE_UID = "plumbline-prometheus"
_DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
_RUNBOOKS = "https://github.com/plumbline/plumbline/blob/main/docs/runbooks/"


@dataclasses.dataclass(frozen=True)
class Query:
    """One PromQL target of a panel."""

    expr: str
    legend: str = ""
    no_data_reason: str | None = None


@dataclasses.dataclass(frozen=True)
class Panel:
    """One panel: a kind (timeseries, stat, state-timeline, table), its queries and display options."""

    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""
    width: int = 12
    height: int = 8
    overrides: tuple[dict[str, Any], ...] = ()
    stack: bool = False


@dataclasses.dataclass(frozen=True)
class Dashboard:
    """One dashboard: a stable uid, rows of panels, and annotation queries."""

    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[Panel, ...]], ...]
    annotations: tuple[tuple[str, Query], ...] = ()
    time_from: str = "now-30d"

    @property
    def filename(self) -> str:
        return f"{self.uid.removeprefix('plumbline-')}.json"

    def queries(self) -> list[tuple[str, Query]]:
        """(panel or annotation title, query) for every query of this dashboard."""
        out = [(panel.title, q) for _, panels in self.rows for panel in panels for q in panel.queries]
        out.extend((f"annotation: {name}", q) for name, q in self.annotations)
        return out


def _series(series_id: str, legend: str | None = None) -> Query:
    return Query(f'plumbline_series_value{{series="{series_id}"}}', legend or series_id)


def _signal(signal_id: str, legend: str | None = None, no_data_reason: str | None = None) -> Query:
    return Query(f'plumbline_signal_value{{signal="{signal_id}"}}', legend or signal_id, no_data_reason)


def _percent_series(series_id: str, legend: str | None = None) -> Query:
    return _series(series_id, legend)


def _fill_between(lower: str, upper: str) -> dict[str, Any]:
    """Shade the band between two series (the target range)."""
    return {
        "matcher": {"id": "byName", "options": upper},
        "properties": [
            {"id": "custom.fillBelowTo", "value": lower},
            {"id": "custom.lineWidth", "value": 0},
            {"id": "color", "value": {"mode": "fixed", "fixedColor": "rgba(120, 120, 120, 0.35)"}},
        ],
    }


def _line_style(name: str, dash: bool = False, color: str | None = None) -> dict[str, Any]:
    properties: list[dict[str, Any]] = []
    if dash:
        properties.append({"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}})
    if color:
        properties.append({"id": "color", "value": {"mode": "fixed", "fixedColor": color}})
    return {"matcher": {"id": "byName", "options": name}, "properties": properties}


_ON_RESERVES = "rate on reserves (IORB; IOER before 2021-07-29)"
_NO_AWARD_RATE = (
    "needs RRPONTSYAWARD (the ON RRP award rate), which is absent from the local data copy "
    "(PROVENANCE.md); live it comes from the NY Fed"
)

FUNDING = Dashboard(
    uid="plumbline-funding-overview",
    title="plumbline / Funding overview",
    description="Overnight rates against the rate on reserves and the target range; spreads, tails, "
    "facilities.",
    rows=(
        (
            "Rates",
            (
                Panel(
                    "SOFR, the rate on reserves and the target range",
                    (
                        _percent_series("SOFR"),
                        Query(
                            'max(plumbline_series_value{series=~"IORB|IOER"})',
                            "rate on reserves (IORB; IOER before 2021-07-29)",
                        ),
                        _percent_series("DFEDTARL", "target range low"),
                        _percent_series("DFEDTARU", "target range high"),
                        _percent_series("EFFR"),
                    ),
                    unit="percent",
                    description="SOFR above the rate on reserves for days is the scarcity regime "
                    "(runbook SOFRAboveIORB). The shaded band is the FOMC target range.",
                    overrides=(
                        _fill_between("target range low", "target range high"),
                        _line_style(
                            "rate on reserves (IORB; IOER before 2021-07-29)", dash=True, color="red"
                        ),
                    ),
                    width=24,
                    height=10,
                ),
                Panel(
                    "SOFR percentiles",
                    (
                        _percent_series("SOFR1", "1st"),
                        _percent_series("SOFR25", "25th"),
                        _percent_series("SOFR", "median (SOFR)"),
                        _percent_series("SOFR75", "75th"),
                        _percent_series("SOFR99", "99th"),
                    ),
                    unit="percent",
                    description="The tail (99th) moves before the median when some borrowers run short "
                    "(runbook SOFRTailStress).",
                ),
                Panel(
                    "SOFR position in the target range",
                    (_signal("sofr_range_position_ratio", "0 = floor, 1 = ceiling"),),
                    unit="percentunit",
                ),
            ),
        ),
        (
            "Spreads",
            (
                Panel(
                    "Overnight rates minus the rate on reserves",
                    (
                        _signal("sofr_iorb_spread_bp", "SOFR - IORB"),
                        _signal("sofr99_iorb_spread_bp", "SOFR p99 - IORB"),
                        _signal("effr_iorb_spread_bp", "EFFR - IORB"),
                        _signal("tgcr_iorb_spread_bp", "TGCR - IORB"),
                        _signal("bgcr_iorb_spread_bp", "BGCR - IORB"),
                    ),
                    unit="bp",
                    description="Above zero: cash earns more lent in repo than held as reserves "
                    "(runbooks SOFRAboveIORB, RepoOffTheFloor).",
                    width=16,
                ),
                Panel(
                    "TGCR minus the ON RRP award rate",
                    (_signal("tgcr_onrrp_spread_bp", "TGCR - ON RRP", _NO_AWARD_RATE),),
                    unit="bp",
                    width=8,
                ),
            ),
        ),
        (
            "Facilities and volumes",
            (
                Panel(
                    "Standing repo facility and repo operations",
                    (_signal("srf_usage_usd_bn", "accepted, bn USD"),),
                    unit="currencyUSD",
                    kind="bars",
                    description="Runbook StandingRepoFacilityUsed. Billions of USD.",
                    width=8,
                ),
                Panel(
                    "ON RRP take-up",
                    (_signal("onrrp_usd_bn", "ON RRP, bn USD"),),
                    unit="currencyUSD",
                    description="The buffer: near zero, drains come out of reserves (runbook "
                    "ReverseRepoBufferDepleted). Billions of USD.",
                    width=8,
                ),
                Panel(
                    "SOFR volume",
                    (_signal("sofr_volume_usd_bn", "SOFR volume, bn USD"),),
                    unit="currencyUSD",
                    width=8,
                ),
            ),
        ),
        (
            "Bonds and the yen",
            (
                Panel(
                    "10-year yield against the policy rate",
                    (
                        _signal("dgs10_target_top_spread_bp", "10y - top of range"),
                        _signal("dgs10_change_20d_bp", "10y change, 4 weeks"),
                        _signal("policy_change_90d_bp", "top of range change, 90 days"),
                    ),
                    unit="bp",
                    description="10y up while the policy change is negative: bonds sell off while "
                    "the Fed cuts (runbook BondsSellOffWhilePolicyEases).",
                ),
                Panel(
                    "USD/JPY and the US - Japan policy spread",
                    (
                        _signal("usdjpy_change_20d_pct", "USD/JPY change, 4 weeks (%)"),
                        _signal("us_jp_policy_spread_bp", "US - Japan policy rate (bp)"),
                        _signal("usdjpy_jpy_per_usd", "USD/JPY"),
                    ),
                    description="A fast fall of USD/JPY is a yen-carry unwind (runbook YenCarryUnwind).",
                ),
            ),
        ),
        (
            "Alerts",
            (
                Panel(
                    "Funding alerts firing",
                    (
                        Query(
                            'count by (alertname, severity) (ALERTS{alertstate="firing", team="funding"}) '
                            "or on() vector(0)",
                            "{{alertname}} {{severity}}",
                        ),
                    ),
                    kind="stat",
                    width=24,
                    height=5,
                ),
            ),
        ),
    ),
)

BALANCE_SHEET = Dashboard(
    uid="plumbline-balance-sheet",
    title="plumbline / Balance sheet",
    description="Reserves, the reverse-repo buffer, the Treasury's cash and who holds Treasuries.",
    rows=(
        (
            "Liquidity",
            (
                Panel(
                    "Reserves, ON RRP and the Treasury General Account",
                    (
                        _signal("reserves_usd_bn", "reserves (WRESBAL)"),
                        _signal("onrrp_usd_bn", "ON RRP"),
                        _signal("tga_usd_bn", "TGA (Wednesday)"),
                        _signal("tga_daily_usd_bn", "TGA (daily statement)"),
                    ),
                    unit="currencyUSD",
                    description="Billions of USD. Runbooks ReserveScarcityNear, ReverseRepoBufferDepleted, "
                    "TGARebuildDrainingReserves.",
                    width=24,
                    height=10,
                ),
                Panel(
                    "Changes of reserves and of the TGA",
                    (
                        _signal("reserves_weekly_change_usd_bn", "reserves, 1 week"),
                        _signal("reserves_change_28d_usd_bn", "reserves, 4 weeks"),
                        _signal("tga_change_28d_usd_bn", "TGA, 4 weeks"),
                    ),
                    unit="currencyUSD",
                    kind="bars",
                    description="Billions of USD. Runbooks ReservesFallingFast, TGARebuildDrainingReserves.",
                    width=24,
                ),
            ),
        ),
        (
            "Holdings",
            (
                Panel(
                    "Fed: Treasury holdings and total assets",
                    (
                        _signal("fed_treasuries_usd_bn", "Fed Treasuries (TREAST)"),
                        _signal("fed_total_assets_usd_bn", "Fed total assets (WALCL)"),
                    ),
                    unit="currencyUSD",
                    description="Billions of USD: run-off (falling) versus bill purchases (rising).",
                ),
                Panel(
                    "Banks: Treasury holdings against reserves",
                    (
                        _signal("bank_treasuries_usd_bn", "bank Treasuries and agencies (USGSEC)"),
                        _signal("reserves_usd_bn", "reserves"),
                    ),
                    unit="currencyUSD",
                    description="Banks swapping cash for bonds, system-wide. Billions of USD.",
                ),
                Panel(
                    "Bank Treasuries per dollar of reserves",
                    (_signal("bank_treasuries_to_reserves_ratio", "USGSEC / WRESBAL"),),
                    width=24,
                ),
            ),
        ),
    ),
    time_from="now-90d",
)

DETECTORS = Dashboard(
    uid="plumbline-detectors",
    title="plumbline / Detectors",
    description="Every detector's score and alarm, the funding-stress index and what drives it.",
    rows=(
        (
            "Scores",
            (
                Panel(
                    "Detector scores",
                    (Query("plumbline_detector_score", "{{signal}} / {{detector}}"),),
                    description="Scales differ per detector (docs/detectors.md).",
                    width=24,
                    height=10,
                ),
                Panel(
                    "Alarms",
                    (Query("plumbline_detector_alarm", "{{signal}} / {{detector}}"),),
                    kind="state-timeline",
                    width=24,
                    height=12,
                ),
            ),
        ),
        (
            "Funding-stress index",
            (
                Panel(
                    "Funding-stress index",
                    (_signal("funding_stress_index", "index (alarm at 3)"),),
                    description="Runbook FundingStressIndexHigh.",
                ),
                Panel(
                    "Contributions to the index",
                    (Query("plumbline_stress_index_contribution", "{{signal}}"),),
                    stack=True,
                ),
                Panel(
                    "Current alarm episodes",
                    (
                        Query(
                            "plumbline_detector_alarm_start_timestamp_seconds * 1000",
                            "{{signal}} / {{detector}}",
                        ),
                    ),
                    kind="table",
                    unit="dateTimeAsIso",
                    width=24,
                ),
            ),
        ),
    ),
    annotations=(
        (
            "detector alarms",
            Query("plumbline_detector_alarm == 1", "{{signal}} / {{detector}}"),
        ),
    ),
)

PIPELINE = Dashboard(
    uid="plumbline-pipeline",
    title="plumbline / Pipeline health",
    description="Workers, throughput, dead letters, lag and data freshness.",
    rows=(
        (
            "Workers",
            (
                Panel(
                    "Workers up",
                    (Query('up{job="plumbline-worker"}', "{{instance}}"),),
                    kind="state-timeline",
                    description="Runbook PlumblineWorkerDown.",
                ),
                Panel(
                    "Worker starts",
                    (Query("plumbline_worker_starts_total", "{{instance}}"),),
                    kind="stat",
                ),
                Panel(
                    "Messages in and out",
                    (
                        Query(
                            "sum by (topic) (rate(plumbline_records_in_total[$__rate_interval]))",
                            "in {{topic}}",
                        ),
                        Query(
                            "sum by (topic) (rate(plumbline_records_out_total[$__rate_interval]))",
                            "out {{topic}}",
                        ),
                    ),
                    unit="mps",
                ),
                Panel(
                    "Dead-lettered messages",
                    (
                        Query(
                            "sum by (topic, reason) "
                            "(increase(plumbline_dead_letter_total[$__rate_interval])) or on() vector(0)",
                            "{{topic}} {{reason}}",
                        ),
                    ),
                    kind="bars",
                    description="Runbook PlumblineDeadLetters.",
                ),
                Panel(
                    "Processing lag",
                    (Query("plumbline_processing_lag_seconds", "{{instance}}"),),
                    unit="s",
                    description="Broker timestamp to the end of processing "
                    "(runbook PlumblineProcessingLagHigh).",
                ),
                Panel(
                    "Late signal values",
                    (
                        Query(
                            "sum by (signal) (plumbline_late_signals_total) or on() vector(0)", "{{signal}}"
                        ),
                    ),
                ),
            ),
        ),
        (
            "Freshness",
            (
                Panel(
                    "Observation date of each series",
                    (Query("plumbline_series_observation_timestamp_seconds * 1000", "{{series}}"),),
                    kind="table",
                    unit="dateTimeAsIso",
                ),
                Panel(
                    "Series late past their publication window",
                    (
                        Query(
                            "plumbline:series_observation_delay:seconds",
                            "{{series}}",
                            "the expected observation date is exported only for series fed live, "
                            "never by a replay",
                        ),
                    ),
                    unit="s",
                    description="Above zero: the source should have published a newer print "
                    "(runbook PlumblineSeriesStale).",
                ),
                Panel(
                    "Alerts firing",
                    (
                        Query(
                            'count by (alertname, severity) (ALERTS{alertstate="firing"}) or on() vector(0)',
                            "{{alertname}} {{severity}}",
                        ),
                    ),
                    kind="stat",
                    width=24,
                    height=5,
                ),
            ),
        ),
    ),
    time_from="now-24h",
)

DASHBOARDS: tuple[Dashboard, ...] = (FUNDING, BALANCE_SHEET, DETECTORS, PIPELINE)


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    kind = "timeseries" if panel.kind == "bars" else panel.kind
    custom: dict[str, Any] = {}
    if panel.kind == "bars":
        custom = {"drawStyle": "bars", "fillOpacity": 60}
    elif kind == "timeseries":
        # Prints are step changes: a value holds until the next publication.
        custom = {"drawStyle": "line", "lineInterpolation": "stepAfter", "spanNulls": True}
        if panel.stack:
            custom.update({"stacking": {"mode": "normal"}, "fillOpacity": 40})
    targets = [
        {
            "datasource": _DATASOURCE,
            "expr": q.expr,
            "legendFormat": q.legend,
            "refId": chr(ord("A") + i),
            **({"format": "table", "instant": True} if kind == "table" else {}),
        }
        for i, q in enumerate(panel.queries)
    ]
    return {
        "datasource": _DATASOURCE,
        "description": panel.description,
        "fieldConfig": {
            "defaults": {"unit": panel.unit, "custom": custom},
            "overrides": list(panel.overrides),
        },
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "id": panel_id,
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull"]}}
        if kind == "timeseries"
        else {},
        "targets": targets,
        "title": panel.title,
        "type": kind,
    }


def build(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana JSON model of ``dashboard`` (schema of Grafana 10/11)."""
    panels: list[dict[str, Any]] = []
    panel_id, y = 1, 0
    for row_title, row_panels in dashboard.rows:
        panels.append(
            {"collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "id": panel_id,
             "panels": [], "title": row_title, "type": "row"}
        )  # fmt: skip
        panel_id, y = panel_id + 1, y + 1
        x, row_height = 0, 0
        for panel in row_panels:
            if x + panel.width > 24:
                x, y = 0, y + row_height
                row_height = 0
            panels.append(_panel_json(panel, panel_id, x, y))
            panel_id += 1
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    annotations = [
        {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }
    ]
    for name, query in dashboard.annotations:
        annotations.append(
            {"datasource": _DATASOURCE, "enable": True, "expr": query.expr, "iconColor": "red", "name": name,
             "step": "1m", "titleFormat": query.legend, "useValueForTime": False}
        )  # fmt: skip
    return {
        "annotations": {"list": annotations},
        "description": dashboard.description,
        "editable": False,
        "graphTooltip": 1,
        "links": [
            {
                "asDropdown": False,
                "icon": "doc",
                "tags": [],
                "targetBlank": True,
                "title": "Runbooks",
                "type": "link",
                "url": _RUNBOOKS,
            }
        ],
        "panels": panels,
        "refresh": "1m",
        "schemaVersion": 39,
        "tags": ["plumbline"],
        "templating": {"list": []},
        "time": {"from": dashboard.time_from, "to": "now"},
        "timezone": "utc",
        "title": dashboard.title,
        "uid": dashboard.uid,
        "version": 1,
    }


def render(dashboard: Dashboard) -> str:
    """The JSON text written for ``dashboard``: sorted keys, two-space indent, final newline."""
    return json.dumps(build(dashboard), indent=2, sort_keys=True) + "\n"


def write_all(out_dir: Path) -> list[Path]:
    """Write every dashboard into ``out_dir`` (created if needed); remove stale generated files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for dashboard in DASHBOARDS:
        path = out_dir / dashboard.filename
        path.write_text(render(dashboard))
        written.append(path)
    for stale in set(out_dir.glob("*.json")) - set(written):
        stale.unlink()
    return written
