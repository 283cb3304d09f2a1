"""plumbline's Grafana dashboards, as code: the building blocks, the layout and the JSON.

Each dashboard is data in a file of its own in ``boards/`` (``boards/balance_sheet.py`` defines
``DASHBOARD``, written as ``dashboards/balance-sheet.json``), made of the typed blocks defined here:
Dashboard, Row, Panel, Query, the overrides and Annotation. This module lays the panels out on
Grafana's 24-column grid and renders the JSON; ``plumbline dashboards`` writes it into
``deploy/grafana/dashboards/``.

deploy/ is not an installed package and imports nothing of the project: ``plumbline dashboards``
mounts deploy/grafana by path as the package ``plumbline_grafana`` (standard library only), so that
the boards can ``from ..dashboards import ...``.

Uids are fixed strings, panel ids are assigned in order, and the JSON is written with sorted keys,
so regenerating without a change gives byte-identical output (``tests/deploy/test_dashboards.py``
checks that, and runs every query against a real Prometheus after a replay of history). A query
that cannot return data from the local data copy says why in ``no_data_reason``; the test skips
exactly those and nothing else.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any, Literal, get_args

__all__ = [
    "BOARDS_DIR",
    "DATASOURCE_UID",
    "ON_RESERVES",
    "Annotation",
    "Dashboard",
    "FillBetween",
    "LineStyle",
    "Panel",
    "Query",
    "Row",
    "build",
    "dashboards",
    "render",
    "series",
    "signal",
    "write_all",
]

DATASOURCE_UID = "plumbline-prometheus"
#: Legend of the rate paid on reserves: IORB since 2021-07-29, IOER before.
ON_RESERVES = "rate on reserves (IORB; IOER before 2021-07-29)"
BOARDS_DIR = Path(__file__).resolve().parent / "boards"

_DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
_RUNBOOKS = "https://github.com/plumbline/plumbline/blob/main/docs/runbooks/"
_GRID_WIDTH = 24

#: "bars" is a timeseries drawn as bars.
PanelKind = Literal["timeseries", "bars", "stat", "state-timeline", "table"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Query:
    """One PromQL target of a panel or annotation; ``legend`` is Grafana's legend format."""

    expr: str
    legend: str = ""
    no_data_reason: str | None = None  # why the local data copy cannot feed it (the e2e test skips it)


def series(series_id: str, *, legend: str | None = None) -> Query:
    """The latest print of a source series, labelled with its id unless ``legend`` is given.

    One line per series: ``max by`` merges the copies two workers export during a rebalance.
    """
    expr = f'max by (series, unit) (plumbline_series_value{{series="{series_id}"}})'
    return Query(expr=expr, legend=legend or series_id)


def signal(signal_id: str, *, legend: str | None = None, no_data_reason: str | None = None) -> Query:
    """A derived signal, labelled with its id unless ``legend`` is given.

    One line per signal: ``max by`` joins backfilled history (replay="true") and live values
    (replay="false"), and merges the copies two workers export during a rebalance.
    """
    return Query(
        expr=f'max by (signal, unit) (plumbline_signal_value{{signal="{signal_id}"}})',
        legend=legend or signal_id,
        no_data_reason=no_data_reason,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class FillBetween:
    """Shade the band between two series of a panel, named by legend (the target range)."""

    lower: str
    upper: str

    def to_json(self) -> dict[str, Any]:
        return {
            "matcher": {"id": "byName", "options": self.upper},
            "properties": [
                {"id": "custom.fillBelowTo", "value": self.lower},
                {"id": "custom.lineWidth", "value": 0},
                {"id": "color", "value": {"mode": "fixed", "fixedColor": "rgba(120, 120, 120, 0.35)"}},
            ],
        }


@dataclasses.dataclass(frozen=True, kw_only=True)
class LineStyle:
    """Draw one series of a panel, named by legend, dashed and/or in a fixed colour."""

    series: str
    dash: bool = False
    color: str | None = None

    def to_json(self) -> dict[str, Any]:
        properties: list[dict[str, Any]] = []
        if self.dash:
            properties.append({"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}})
        if self.color:
            properties.append({"id": "color", "value": {"mode": "fixed", "fixedColor": self.color}})
        return {"matcher": {"id": "byName", "options": self.series}, "properties": properties}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Panel:
    """One panel: its queries and how they are shown. Panels of a row flow left to right, wrapping
    at 24 columns."""

    title: str
    queries: tuple[Query, ...]
    kind: PanelKind = "timeseries"
    unit: str = "short"
    description: str = ""
    width: int = 12  # columns of 24
    height: int = 8
    overrides: tuple[FillBetween | LineStyle, ...] = ()
    stack: bool = False  # stack the series (timeseries)

    def __post_init__(self) -> None:
        if not self.queries:
            raise ValueError(f"panel {self.title!r} has no query")
        if self.kind not in get_args(PanelKind):
            raise ValueError(f"panel {self.title!r}: unknown kind {self.kind!r}")
        if not 1 <= self.width <= _GRID_WIDTH:
            raise ValueError(f"panel {self.title!r}: width {self.width} is not 1..{_GRID_WIDTH}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Row:
    """A titled row of panels."""

    title: str
    panels: tuple[Panel, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Annotation:
    """A query whose series are drawn as annotations on every panel; its legend titles them."""

    name: str
    query: Query


@dataclasses.dataclass(frozen=True, kw_only=True)
class Dashboard:
    """One dashboard: a stable uid (bookmarks and links use it), rows of panels, annotations."""

    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    annotations: tuple[Annotation, ...] = ()
    time_from: str = "now-30d"

    @property
    def filename(self) -> str:
        return f"{self.uid.removeprefix('plumbline-')}.json"

    def queries(self) -> list[tuple[str, Query]]:
        """(panel or annotation title, query) for every query of this dashboard."""
        out = [(panel.title, q) for row in self.rows for panel in row.panels for q in panel.queries]
        out.extend((f"annotation: {a.name}", a.query) for a in self.annotations)
        return out


def dashboards() -> tuple[Dashboard, ...]:
    """The ``DASHBOARD`` of every file in ``boards/``, by file name; ``balance_sheet.py`` must be the
    dashboard written as ``balance-sheet.json``. (Imported here, not at the top: boards import this.)"""
    if not __package__:
        raise ImportError("load deploy/grafana as a package: see plumbline/commands/dashboards.py")
    found = []
    for path in sorted(BOARDS_DIR.glob("[!_]*.py")):
        dashboard = importlib.import_module(f"{__package__}.boards.{path.stem}").DASHBOARD
        if dashboard.filename != path.stem.replace("_", "-") + ".json":
            raise ValueError(f"{path.name} defines {dashboard.uid}, written as {dashboard.filename}")
        found.append(dashboard)
    return tuple(found)


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
            "overrides": [override.to_json() for override in panel.overrides],
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


def _annotation_json(annotation: Annotation) -> dict[str, Any]:
    return {
        "datasource": _DATASOURCE,
        "enable": True,
        "expr": annotation.query.expr,
        "iconColor": "red",
        "name": annotation.name,
        "step": "1m",
        "titleFormat": annotation.query.legend,
        "useValueForTime": False,
    }


def build(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana JSON model of ``dashboard`` (schema of Grafana 10/11)."""
    panels: list[dict[str, Any]] = []
    panel_id, y = 1, 0
    for row in dashboard.rows:
        panels.append(
            {"collapsed": False, "gridPos": {"h": 1, "w": _GRID_WIDTH, "x": 0, "y": y}, "id": panel_id,
             "panels": [], "title": row.title, "type": "row"}
        )  # fmt: skip
        panel_id, y = panel_id + 1, y + 1
        x, row_height = 0, 0
        for panel in row.panels:
            if x + panel.width > _GRID_WIDTH:
                x, y = 0, y + row_height
                row_height = 0
            panels.append(_panel_json(panel, panel_id, x, y))
            panel_id += 1
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    runbooks = {
        "asDropdown": False,
        "icon": "doc",
        "tags": [],
        "targetBlank": True,
        "title": "Runbooks",
        "type": "link",
        "url": _RUNBOOKS,
    }
    return {
        "annotations": {"list": [builtin, *map(_annotation_json, dashboard.annotations)]},
        "description": dashboard.description,
        "editable": False,
        "graphTooltip": 1,
        "links": [runbooks],
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
    for dashboard in dashboards():
        path = out_dir / dashboard.filename
        path.write_text(render(dashboard))
        written.append(path)
    for stale in set(out_dir.glob("*.json")) - set(written):
        stale.unlink()
    return written
