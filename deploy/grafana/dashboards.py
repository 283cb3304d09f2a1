"""plumbline's Grafana dashboards, as code: the building blocks, the layout and the JSON.

Each dashboard is data in a file of its own in ``boards/`` (``boards/balance_sheet.py`` defines
``DASHBOARD``, written as ``dashboards/balance-sheet.json``), made of the typed blocks defined here:
Dashboard, Row, Panel, Query, the overrides and Annotation. This module lays the panels out on
Grafana's 24-column grid and renders the JSON; ``plumbline dashboards`` writes it into
``deploy/grafana/dashboards/``.

deploy/ is not an installed package and imports nothing of the project: ``plumbline dashboards``
mounts deploy/grafana by path as the package ``plumbline_grafana`` (standard library only), so that
the boards can ``from ..dashboards import ...``.

Portable dashboards: no datasource uid is pinned (a ``datasource`` variable of type prometheus,
preselected from ``deploy/config.json``), and ``job`` and ``instance`` variables filter every
selector of an exporter metric (``plumbline_*`` and ``up``; recording-rule series and ``ALERTS``
carry neither label) through :func:`filter_selectors`, so the board files keep plain PromQL. The
boards' ``job="plumbline-worker"`` is the rule files' default and becomes the configured selector.
Alert thresholds are drawn as dashed lines on the panels that show the signal an alert compares
with a level: read from the rule files' ``# threshold: NAME = VALUE`` markers and the comparison
that uses the value (:func:`alert_thresholds`), never copied here.

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
import re
from pathlib import Path
from typing import Any, Literal, get_args

__all__ = [
    "BOARDS_DIR",
    "CONFIG_FILE",
    "DEFAULT_CONNECTORS_SELECTOR",
    "DEFAULT_WORKER_SELECTOR",
    "FILTER",
    "ON_RESERVES",
    "RULES_DIR",
    "Annotation",
    "Config",
    "Dashboard",
    "FillBetween",
    "LineStyle",
    "Panel",
    "Query",
    "Row",
    "Threshold",
    "alert_thresholds",
    "build",
    "dashboards",
    "filter_selectors",
    "load_config",
    "query_expr",
    "render",
    "substitute_selectors",
    "write_all",
]

#: Legend of the rate paid on reserves: IORB since 2021-07-29, IOER before.
ON_RESERVES = "rate on reserves (IORB; IOER before 2021-07-29)"
BOARDS_DIR = Path(__file__).resolve().parent / "boards"
#: The monitoring config every generator reads (docs/deploy.md, "The monitoring config").
CONFIG_FILE = Path(__file__).resolve().parents[1] / "config.json"
#: The alert rules whose threshold markers the panels draw.
RULES_DIR = Path(__file__).resolve().parents[1] / "prometheus" / "rules"
#: The selectors the rule files and board files are written with; generated files use the configured ones.
DEFAULT_WORKER_SELECTOR = 'job="plumbline-worker"'
DEFAULT_CONNECTORS_SELECTOR = 'job="plumbline-connectors"'
#: The matchers added to every exporter-metric selector of a panel or annotation query.
FILTER = 'job=~"$job", instance=~"$instance"'

_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_GRID_WIDTH = 24
#: Threshold line colours by the severity of the alert that compares with the level.
_SEVERITY_COLORS = {"critical": "red", "warning": "orange", "info": "blue"}

#: "bars" is a timeseries drawn as bars.
PanelKind = Literal["timeseries", "bars", "stat", "state-timeline", "table"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Query:
    """One PromQL target of a panel or annotation; ``legend`` is Grafana's legend format."""

    expr: str
    legend: str = ""
    no_data_reason: str | None = None  # why the local data copy cannot feed it (the e2e test skips it)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    """The part of ``deploy/config.json`` the dashboards use (the file documents every key)."""

    worker_selector: str = DEFAULT_WORKER_SELECTOR
    connectors_selector: str = DEFAULT_CONNECTORS_SELECTOR
    #: A URL with ``{alertname}``; the dashboards link to the part before it.
    runbook_url: str = "https://github.com/plumbline/plumbline/blob/main/docs/runbooks/{alertname}.md"
    #: Name or uid of the Prometheus datasource preselected in the ``datasource`` variable; "default":
    #: Grafana's default datasource.
    datasource: str = "default"

    def __post_init__(self) -> None:
        for name in ("worker_selector", "connectors_selector"):
            value = getattr(self, name)
            if not re.fullmatch(
                r'\s*\w+\s*(=|!=|=~|!~)\s*"[^"]*"(\s*,\s*\w+\s*(=|!=|=~|!~)\s*"[^"]*")*\s*', value
            ):
                raise ValueError(
                    f'{name}: {value!r} is not a list of label matchers like job="plumbline-worker"'
                )
        if "{alertname}" not in self.runbook_url or not self.runbook_url.startswith(("http://", "https://")):
            raise ValueError(f"runbook_url: {self.runbook_url!r} is not an http(s) URL with {{alertname}}")


def load_config(path: Path = CONFIG_FILE) -> Config:
    """The dashboards' keys of a monitoring config file (JSON); other keys belong to other generators."""
    data = json.loads(path.read_text())
    fields = {f.name for f in dataclasses.fields(Config)}
    return Config(**{key: value for key, value in data.items() if key in fields})


def _promql_string(selector: str) -> str:
    """A selector as it is written inside a template's single-quoted query string."""
    return selector.replace('"', "'")


def substitute_selectors(text: str, config: Config) -> str:
    """``text`` with the default worker and connectors selectors replaced by the configured ones,
    in PromQL (double quotes) and inside alert templates' query strings (single quotes)."""
    for default, configured in (
        (DEFAULT_WORKER_SELECTOR, config.worker_selector),
        (DEFAULT_CONNECTORS_SELECTOR, config.connectors_selector),
    ):
        text = text.replace(default, configured)
        text = text.replace(_promql_string(default), _promql_string(configured))
    return text


@dataclasses.dataclass(frozen=True, kw_only=True)
class Threshold:
    """A level an alert compares a signal with: its marker name and value, the alert and severity."""

    name: str
    #: The marker's value, and the level in the metric's unit (the marker's times the rule's factor).
    marker_value: float
    value: float
    alert: str
    severity: str
    signal: str


_ALERT_BLOCK = re.compile(
    r"^\s*- alert: (\w+)\n(.*?)(?=^\s*- (?:alert|record):|\Z)", re.MULTILINE | re.DOTALL
)
_MARKER = re.compile(r"# threshold: (\w+) = (\S+)\n")
# A selector on `signal` compared directly with a number (not through a range or function first).
# The level may be scaled to the metric's base unit (`< 50 * 1e9`: a marker in billions of dollars).
_COMPARISON = re.compile(
    r'signal(?:=|=~)"([^"]+)"[^}]*\}\s*(?:>=|<=|>|<|==|!=)\s*(-?[0-9][0-9.eE+]*)(?:\s*\*\s*([0-9][0-9.eE+-]*))?'
)
_SEVERITY = re.compile(r"^\s*severity: (\w+)", re.MULTILINE)


def alert_thresholds(rules_dir: Path = RULES_DIR) -> tuple[Threshold, ...]:
    """Every (signal, level) an alerting rule compares with, named by its threshold marker.

    A comparison counts when its number is the value of a ``# threshold:`` marker of the same rule,
    so the levels come from the rule files alone (a rule that changes a level changes the lines).
    """
    found: list[Threshold] = []
    for path in sorted(rules_dir.glob("*.yml")):
        for alert, block in _ALERT_BLOCK.findall(path.read_text()):
            markers = {float(value): name for name, value in _MARKER.findall(block)}
            severity = _SEVERITY.search(block)
            code = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("#"))
            for signals, number, factor in _COMPARISON.findall(code):
                name = markers.get(float(number))
                if name is None:
                    continue
                for one in signals.split("|"):
                    threshold = Threshold(
                        name=name,
                        marker_value=float(number),
                        value=float(number) * float(factor or 1),
                        alert=alert,
                        severity=severity.group(1) if severity else "critical",
                        signal=one,
                    )
                    if threshold not in found:
                        found.append(threshold)
    return tuple(found)


_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def _filtered_metric(name: str) -> bool:
    return name == "up" or name.startswith("plumbline_")


def _string_end(expr: str, start: int) -> int:
    """Index just past the string literal that starts at ``start``."""
    quote, i = expr[start], start + 1
    while i < len(expr) and expr[i] != quote:
        i += 2 if expr[i] == "\\" else 1
    return i + 1


def _closing(expr: str, start: int, close: str) -> int:
    """Index of the ``close`` character matching the bracket at ``start`` (strings skipped)."""
    i = start + 1
    while i < len(expr) and expr[i] != close:
        i = _string_end(expr, i) if expr[i] in "\"'`" else i + 1
    return i


def filter_selectors(expr: str, matchers: str = FILTER) -> str:
    """``expr`` with ``matchers`` added to every selector of an exporter metric (``plumbline_*``,
    ``up``); functions, grouping labels, strings, ranges, recording-rule series and ``ALERTS`` are
    left as they are.

    >>> filter_selectors('sum by (topic) (rate(plumbline_records_in_total[5m])) or on() vector(0)')
    'sum by (topic) (rate(plumbline_records_in_total{job=~"$job", instance=~"$instance"}[5m])) or on()...'
    >>> filter_selectors('max(plumbline_series_ratio{series=~"IORB|IOER"}) * 1000', 'job="x"')
    'max(plumbline_series_ratio{series=~"IORB|IOER", job="x"}) * 1000'
    """
    out: list[str] = []
    i = 0
    while i < len(expr):
        char = expr[i]
        if char in "\"'`":
            end = _string_end(expr, i)
        elif char == "[":
            end = _closing(expr, i, "]") + 1
        elif char == "{":
            end = _closing(expr, i, "}") + 1
        elif number := _NUMBER.match(expr, i):
            end = number.end()
            # A duration such as 1d or 30d after `offset` stays one token.
            while end < len(expr) and (expr[end].isalnum() or expr[end] == "_"):
                end += 1
        elif name := _NAME.match(expr, i):
            word, end = name.group(), name.end()
            after = end
            while after < len(expr) and expr[after] == " ":
                after += 1
            next_char = expr[after] if after < len(expr) else ""
            if word in _GROUPING and next_char == "(":
                end = _closing(expr, after, ")") + 1
            elif next_char != "(" and _filtered_metric(word):
                if next_char == "{":
                    close = _closing(expr, after, "}")
                    inner = expr[after + 1 : close].strip()
                    out.append(f"{word}{{{inner + ', ' if inner else ''}{matchers}}}")
                    i = close + 1
                else:
                    out.append(f"{word}{{{matchers}}}")
                    i = end
                continue
        else:
            end = i + 1
        out.append(expr[i:end])
        i = end
    return "".join(out)


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


_SIGNAL_IN_QUERY = re.compile(r'signal="([^"]+)"')


def _panel_thresholds(panel: Panel, thresholds: tuple[Threshold, ...]) -> list[Threshold]:
    """The thresholds of the signals a panel plots as they are (no arithmetic on the value)."""
    shown = {
        name
        for q in panel.queries
        if not re.search(r"[*/+-]", re.sub(r'\{[^}]*\}|"[^"]*"|\[[^]]*\]', "", q.expr))
        for name in _SIGNAL_IN_QUERY.findall(q.expr)
    }
    return [t for t in thresholds if t.signal in shown]


def _threshold_config(drawn: list[Threshold]) -> dict[str, Any]:
    """Grafana threshold steps: one per level, coloured by its most severe alert (transparent base)."""
    rank = list(_SEVERITY_COLORS)
    by_value: dict[float, str] = {}
    for t in drawn:
        current = by_value.get(t.value)
        severity = t.severity if t.severity in rank else "critical"
        if current is None or rank.index(severity) < rank.index(current):
            by_value[t.value] = severity
    steps: list[dict[str, Any]] = [{"color": "transparent", "value": None}]
    steps += [{"color": _SEVERITY_COLORS[by_value[v]], "value": v} for v in sorted(by_value)]
    return {"mode": "absolute", "steps": steps}


def _threshold_note(drawn: list[Threshold]) -> str:
    severities: dict[tuple[float, str, str], list[str]] = {}
    for t in drawn:
        found = severities.setdefault((t.marker_value, t.name, t.alert), [])
        if t.severity not in found:
            found.append(t.severity)
    text = "; ".join(
        f"{name} = {value:g} ({alert}, {'/'.join(found)})"
        for (value, name, alert), found in sorted(severities.items())
    )
    return f"Dashed lines: alert thresholds from deploy/prometheus/rules: {text}."


def _panel_json(
    panel: Panel, panel_id: int, x: int, y: int, config: Config, thresholds: tuple[Threshold, ...]
) -> dict[str, Any]:
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
            "expr": query_expr(q, config),
            "legendFormat": q.legend,
            "refId": chr(ord("A") + i),
            **({"format": "table", "instant": True} if kind == "table" else {}),
        }
        for i, q in enumerate(panel.queries)
    ]
    defaults: dict[str, Any] = {"unit": panel.unit, "custom": custom}
    description = panel.description
    drawn = _panel_thresholds(panel, thresholds) if kind == "timeseries" else []
    if drawn:
        custom["thresholdsStyle"] = {"mode": "dashed"}
        defaults["thresholds"] = _threshold_config(drawn)
        description = f"{description} {_threshold_note(drawn)}".strip()
    return {
        "datasource": _DATASOURCE,
        "description": description,
        "fieldConfig": {
            "defaults": defaults,
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


def query_expr(query: Query, config: Config) -> str:
    """The PromQL a panel or annotation runs: the configured selectors, filtered by job and instance."""
    return filter_selectors(substitute_selectors(query.expr, config))


def _annotation_json(annotation: Annotation, config: Config) -> dict[str, Any]:
    return {
        "datasource": _DATASOURCE,
        "enable": True,
        "expr": query_expr(annotation.query, config),
        "iconColor": "red",
        "name": annotation.name,
        "step": "1m",
        "titleFormat": annotation.query.legend,
        "useValueForTime": False,
    }


def _variables(config: Config) -> list[dict[str, Any]]:
    """The datasource, job and instance variables (job and instance: every value selected by default)."""
    datasource = {
        "current": {"selected": False, "text": config.datasource, "value": config.datasource},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "type": "datasource",
    }
    queries = {
        "job": 'label_values({__name__=~"plumbline_.+"}, job)',
        "instance": 'label_values({__name__=~"plumbline_.+", job=~"$job"}, instance)',
    }
    return [datasource] + [
        {
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "datasource": _DATASOURCE,
            "definition": query,
            "hide": 0,
            "includeAll": True,
            "label": name,
            "multi": True,
            "name": name,
            "options": [],
            "query": query,
            "refresh": 2,  # on time range change: workers come and go
            "regex": "",
            "sort": 1,
            "type": "query",
        }
        for name, query in queries.items()
    ]


def build(
    dashboard: Dashboard, config: Config | None = None, thresholds: tuple[Threshold, ...] | None = None
) -> dict[str, Any]:
    """The Grafana JSON model of ``dashboard`` (schema of Grafana 10/11), for ``config`` (default:
    ``deploy/config.json``) with the alert ``thresholds`` (default: those of ``deploy/prometheus/rules``)."""
    config = load_config() if config is None else config
    thresholds = alert_thresholds() if thresholds is None else thresholds
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
            panels.append(_panel_json(panel, panel_id, x, y, config, thresholds))
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
        "url": config.runbook_url.split("{alertname}")[0],
    }
    return {
        "annotations": {"list": [builtin, *(_annotation_json(a, config) for a in dashboard.annotations)]},
        "description": dashboard.description,
        "editable": False,
        "graphTooltip": 1,
        "links": [runbooks],
        "panels": panels,
        "refresh": "1m",
        "schemaVersion": 39,
        "tags": ["plumbline"],
        "templating": {"list": _variables(config)},
        "time": {"from": dashboard.time_from, "to": "now"},
        "timezone": "utc",
        "title": dashboard.title,
        "uid": dashboard.uid,
        "version": 1,
    }


def render(dashboard: Dashboard, config: Config | None = None) -> str:
    """The JSON text written for ``dashboard``: sorted keys, two-space indent, final newline."""
    return json.dumps(build(dashboard, config), indent=2, sort_keys=True) + "\n"


def write_all(out_dir: Path, config: Config | None = None) -> list[Path]:
    """Write every dashboard into ``out_dir`` (created if needed); remove stale generated files."""
    config = load_config() if config is None else config
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for dashboard in dashboards():
        path = out_dir / dashboard.filename
        path.write_text(render(dashboard, config))
        written.append(path)
    for stale in set(out_dir.glob("*.json")) - set(written):
        stale.unlink()
    return written
