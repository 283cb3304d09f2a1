"""Grafana dashboards as code: generated files match the code, uids are stable, every query has data.

Dashboards are portable: the datasource is a variable (no pinned uid), every exporter-metric selector
is filtered by the job and instance variables, and the alert thresholds of the rule files are drawn
on the panels that plot the compared signal.

The last test replays real history onto the full local stack (broker, worker, Prometheus) as fast
as the broker takes it, waits until the worker has processed every print and Prometheus has
scraped the result, then runs every panel and annotation query of every dashboard against the real
Prometheus, with Grafana's variables substituted (job and instance by the values their own
``label_values`` queries return from that Prometheus), and requires data back.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from connectors.producer import PrintProducer
from connectors.replay import plan_replay, run_replay
from foundation.settings import Settings
from plumbline.commands.dashboards import DEFAULT_OUT, load_generator
from plumbline.stack import alerts_file
from plumbline.webhook import iter_alerts
from tests.conftest import REPO_ROOT

generator = load_generator()
DASHBOARDS = generator.dashboards()
GRAFANA = REPO_ROOT / "deploy" / "grafana"

EXPECTED_UIDS = {
    "plumbline-funding-overview",
    "plumbline-balance-sheet",
    "plumbline-detectors",
    "plumbline-pipeline",
}
# Every series a panel needs, directly or as an input of a signal.
REPLAY_SERIES = (
    "SOFR", "SOFR1", "SOFR25", "SOFR75", "SOFR99", "SOFRVOL", "TGCR", "BGCR", "EFFR",
    "IORB", "IOER", "DFEDTARL", "DFEDTARU", "RRPONTSYD", "RPONTTLD",
    "WRESBAL", "WALCL", "TREAST", "WDTGAL", "TGA_DTS_CLOSE", "USGSEC", "DGS10", "DEXJPUS", "JP_POLICY",
)  # fmt: skip
# 2019: the repo spike (percentiles, TGCR/BGCR, repo operations). 2025-26: Q4 2025 and the first
# weeks of 2026 (daily TGA, BoJ rate, percentiles again from 2026-01-02, USD/JPY until 2025-09-26).
# The second window ends inside the Q4 2025 regime, so detector alarms are on (and exported) when the
# replay ends: at full speed with batched processing, an alarm that comes and goes mid-replay can fall
# between two scrapes, and the alarm panels then had no data in one CI run.
WINDOWS = ((dt.date(2019, 8, 1), dt.date(2019, 10, 31)), (dt.date(2025, 8, 1), dt.date(2025, 11, 14)))
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def substitute(expr: str, variables: dict[str, str]) -> str:
    for name, value in {**GRAFANA_VARIABLES, **variables}.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unsubstituted Grafana variable in {expr!r}"
    return expr


def _regex_value(values: list[str]) -> str:
    """Several values of a multi-value variable as Grafana writes them into PromQL: an escaped regex
    alternation (a backslash doubled inside the PromQL string)."""
    return "(" + "|".join(re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", v) for v in values) + ")"


def test_generated_dashboards_are_up_to_date_with_the_code(tmp_path: Path) -> None:
    written = generator.write_all(tmp_path)
    committed = sorted(p.name for p in DEFAULT_OUT.glob("*.json"))
    assert committed == sorted(p.name for p in written), "run `plumbline dashboards`"
    for path in written:
        assert (DEFAULT_OUT / path.name).read_text() == path.read_text(), (
            f"{path.name} differs from deploy/grafana/boards/: run `plumbline dashboards`"
        )


def test_generation_is_deterministic() -> None:
    for dashboard in DASHBOARDS:
        assert generator.render(dashboard) == generator.render(dashboard)


def test_the_generator_runs_on_the_standard_library_alone(tmp_path: Path) -> None:
    # No site-packages (-S), no project on the path (-I): what deploy/ promises.
    code = (
        "import importlib, importlib.machinery, importlib.util, pathlib, sys\n"
        "spec = importlib.machinery.ModuleSpec('grafana', None, is_package=True)\n"
        f"spec.submodule_search_locations = [{str(GRAFANA)!r}]\n"
        "sys.modules['grafana'] = importlib.util.module_from_spec(spec)\n"
        f"importlib.import_module('grafana.dashboards').write_all(pathlib.Path({str(tmp_path)!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    written = sorted(tmp_path.glob("*.json"))
    assert [p.name for p in written] == sorted(p.name for p in DEFAULT_OUT.glob("*.json"))
    assert all(p.read_text() == (DEFAULT_OUT / p.name).read_text() for p in written)


def test_board_files_hold_only_data() -> None:
    # A docstring, imports of the building blocks, and assignments: no logic in a board file.
    boards = sorted((GRAFANA / "boards").glob("[!_]*.py"))
    assert [p.stem.replace("_", "-") + ".json" for p in boards] == sorted(d.filename for d in DASHBOARDS)
    for path in boards:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom):
                assert node.module in {"__future__", "dashboards"}, (path.name, node.module)
            else:
                assert isinstance(node, ast.Assign | ast.Expr), (path.name, node.lineno)


def test_uids_are_stable_and_unique() -> None:
    models = [json.loads(p.read_text()) for p in sorted(DEFAULT_OUT.glob("*.json"))]
    uids = [m["uid"] for m in models]
    assert sorted(uids) == sorted(EXPECTED_UIDS)  # renaming a uid breaks every bookmark and link
    assert len(set(uids)) == len(uids)
    for model in models:
        ids = [panel["id"] for panel in model["panels"]]
        assert len(set(ids)) == len(ids), f"{model['uid']}: duplicate panel ids"


def _panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in model["panels"] if panel["type"] != "row"]


def test_dashboards_pin_no_datasource_and_offer_datasource_job_and_instance() -> None:
    grafana = REPO_ROOT / "deploy" / "grafana"
    dashboards_provider = (grafana / "provisioning" / "dashboards" / "plumbline.yml").read_text()
    assert "type: file" in dashboards_provider
    config = generator.load_config()
    for path in DEFAULT_OUT.glob("*.json"):
        model = json.loads(path.read_text())
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert list(variables) == ["datasource", "job", "instance"], path.name
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["datasource"]["current"]["value"] == config.datasource
        for name in ("job", "instance"):
            assert variables[name]["type"] == "query" and variables[name]["query"].startswith("label_values(")
            assert variables[name]["includeAll"] and variables[name]["multi"], (path.name, name)
        uses = [model, *_panels(model), *model["annotations"]["list"][1:]]
        uses += [t for panel in _panels(model) for t in panel["targets"]]
        for use in uses:
            if "datasource" in use:
                assert use["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, path.name
        for panel in _panels(model):
            assert panel["targets"], (path.name, panel["title"])
            assert panel["datasource"]["uid"] == "${datasource}", (path.name, panel["title"])


EXPORTER_SELECTOR = re.compile(r"\b(?:plumbline_\w+|up)(\{[^}]*\})?(?=[^(\w]|$)")


def test_every_exporter_metric_is_filtered_by_job_and_instance() -> None:
    for path in DEFAULT_OUT.glob("*.json"):
        model = json.loads(path.read_text())
        exprs = [t["expr"] for panel in _panels(model) for t in panel["targets"]]
        exprs += [a["expr"] for a in model["annotations"]["list"][1:]]
        for expr in exprs:
            for match in EXPORTER_SELECTOR.finditer(expr):
                assert match[1] and 'job=~"$job", instance=~"$instance"' in match[1], (path.name, expr)


def test_board_selectors_take_the_configured_job_selector() -> None:
    config = generator.Config(worker_selector='job="funding-worker"')
    expr = generator.query_expr(generator.Query(expr='up{job="plumbline-worker"}'), config)
    assert expr == 'up{job="funding-worker", job=~"$job", instance=~"$instance"}'


def test_alert_thresholds_are_read_from_the_rule_markers() -> None:
    markers = {
        name: float(value)
        for path in (REPO_ROOT / "deploy" / "prometheus" / "rules").glob("*.yml")
        for name, value in re.findall(r"# threshold: (\w+) = (\S+)\n", path.read_text())
    }
    found = generator.alert_thresholds()
    assert found, "no threshold marker matched a comparison"
    for threshold in found:
        assert markers[threshold.name] == threshold.marker_value, threshold
    # Most markers compare a signal directly; the few that do not (a difference of two signals) are
    # not drawn. A parser that stopped matching would lose most of them.
    assert len({t.name for t in found}) >= len(markers) - 3, sorted(set(markers) - {t.name for t in found})


def test_panels_that_plot_an_alerting_signal_draw_its_thresholds() -> None:
    thresholds = generator.alert_thresholds()
    drawn_somewhere: set[str] = set()
    for dashboard in DASHBOARDS:
        model = generator.build(dashboard)
        for panel in _panels(model):
            steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
            levels = {step["value"] for step in steps if step["value"] is not None}
            exprs = " ".join(t["expr"] for t in panel["targets"])
            plotted = {t for t in thresholds if f'signal="{t.signal}"' in exprs}
            if levels:
                assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] == {"mode": "dashed"}
                assert levels == {t.value for t in plotted}, (dashboard.uid, panel["title"])
                drawn_somewhere |= {t.name for t in plotted}
    assert len(drawn_somewhere) >= 5, "alert thresholds are drawn on too few panels"


def test_the_required_dashboards_and_panels_exist() -> None:
    funding = {d.uid: d for d in DASHBOARDS}["plumbline-funding-overview"]
    exprs = " ".join(q.expr for _, q in funding.queries())
    for needle in ('series="SOFR"', "IORB|IOER", "DFEDTARL", "DFEDTARU", "SOFR99", "sofr_iorb_spread_bp"):
        assert needle in exprs
    detectors = {d.uid: d for d in DASHBOARDS}["plumbline-detectors"]
    assert detectors.annotations, "alarms must show as annotations"


def prometheus(settings: Settings, path: str, **params: Any) -> Any:
    url = f"http://127.0.0.1:{settings.prometheus_port}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def instant(settings: Settings, query: str) -> float | None:
    result = prometheus(settings, "/api/v1/query", query=query)["result"]
    return float(result[0]["value"][1]) if result else None


def wait_for(predicate: Any, timeout_seconds: float) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.e2e
def test_every_panel_query_returns_data_after_a_replay_of_history(local_stack: Settings) -> None:
    started = time.time()
    sent = 0
    for start, end in WINDOWS:
        plan = plan_replay(local_stack.data_dir, REPLAY_SERIES, start, end)
        with PrintProducer(local_stack) as producer:
            sent += run_replay(producer, plan.prints, speed=None)
    assert sent > 2000
    read = f'sum(plumbline_records_in_total{{topic="{local_stack.topic_prints}"}})'
    assert wait_for(lambda: (instant(local_stack, read) or 0) >= sent, 90), (
        f"the worker processed {instant(local_stack, read)} of {sent} prints"
    )
    time.sleep(3)  # a few more scrapes and rule evaluations of the final state
    # The job and instance variables take every value their own queries find (Grafana's "All").
    variables: dict[str, str] = {}
    for variable in generator.build(DASHBOARDS[0])["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
        assert match, variable["query"]
        values = prometheus(
            local_stack,
            f"/api/v1/label/{match[2]}/values",
            **{"match[]": substitute(match[1], variables)},
            start=f"{started:.3f}",
            end=f"{time.time():.3f}",
        )
        assert values, f"variable {variable['name']}: {variable['query']} finds no value"
        variables[f"${variable['name']}"] = _regex_value(values)
    missing, skipped = [], []
    for dashboard in DASHBOARDS:
        for title, query in dashboard.queries():
            if query.no_data_reason:
                skipped.append(f"{dashboard.uid} / {title}: {query.no_data_reason}")
                continue
            data = prometheus(
                local_stack,
                "/api/v1/query_range",
                query=substitute(generator.query_expr(query, generator.load_config()), variables),
                start=f"{started:.3f}",
                end=f"{time.time():.3f}",
                step="1s",
            )
            if not data["result"]:
                missing.append(f"{dashboard.uid} / {title}: {query.expr}")
    print("skipped (no data expected):", *skipped, sep="\n  ")
    assert not missing, "queries without data:\n" + "\n".join(missing)
    # The funding alerts that fired on this replayed history (level rules included, which take the
    # replay label from the detectors' state) all went to the receiver that pages nobody.
    assert wait_for(lambda: list(iter_alerts(alerts_file(local_stack))), 10)
    alerts = list(iter_alerts(alerts_file(local_stack)))
    assert {a["path"] for a in alerts} == {"/alerts/replay"}, {
        (a["labels"]["alertname"], a["path"]) for a in alerts if a["path"] != "/alerts/replay"
    }
    print("alerts received:", sorted({(a["labels"]["alertname"], a["labels"]["severity"]) for a in alerts}))
