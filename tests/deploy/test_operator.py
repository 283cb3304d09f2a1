"""The prometheus-operator manifests (deploy/k8s/operator) and the monitoring config deploy/config.json.

The committed manifests are what ``plumbline dashboards`` generates now; each PrometheusRule's spec is
its rule file (promtool checks it), with the configured job selectors and runbook URL; the objects
fit the operator's CRD schemas (cloudcoil's models of prometheus-operator, generated from the CRDs:
every field known and well typed) and select the Services that deploy/k8s creates.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from plumbline import monitoring
from tests.conftest import REPO_ROOT
from tests.deploy.test_manifests import rendered_k8s, run_tool

DEPLOY = REPO_ROOT / "deploy"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
generator = monitoring.load_generator()


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def generated(config: monitoring.OperatorConfig | None = None) -> dict[str, list[dict[str, Any]]]:
    return {f.path.name: documents(f.text) for f in monitoring.operator_files(config)}


def test_committed_operator_manifests_are_the_generated_ones() -> None:
    for file in monitoring.operator_files():
        assert file.is_current(), f"{file.path} is out of date: run `plumbline dashboards`"
    committed = {p.name for p in monitoring.OPERATOR_DIR.iterdir()}
    assert committed == {f.path.name for f in monitoring.operator_files()}


def test_one_prometheus_rule_per_rule_file_whose_spec_is_the_file() -> None:
    rules = generated()["prometheusrules.yaml"]
    assert [r["metadata"]["name"] for r in rules] == [f"plumbline-{p.stem}" for p in RULES]
    for rule, path in zip(rules, RULES, strict=True):
        # With the default config the spec is the rule file as promtool tests it.
        assert rule["spec"] == yaml.safe_load(path.read_text()), path.name


def _promtool_check(rules: list[dict[str, Any]], tmp_path: Path) -> None:
    for rule in rules:
        path = tmp_path / f"{rule['metadata']['name']}.yml"
        path.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
        assert "SUCCESS" in run_tool("promtool", "check", "rules", str(path))


def test_the_prometheus_rules_pass_promtool(tmp_path: Path) -> None:
    _promtool_check(generated()["prometheusrules.yaml"], tmp_path)


def custom_config() -> monitoring.OperatorConfig:
    default = monitoring.load_operator_config()
    selectors = dataclasses.replace(
        default.selectors,
        worker_selector='job="funding-worker", namespace="markets"',
        connectors_selector='job="funding-connectors"',
        runbook_url="https://wiki.example.org/runbooks/plumbline/{alertname}",
    )
    return monitoring.OperatorConfig(selectors=selectors, namespace="markets", labels={"release": "kps"})


def test_a_configured_selector_and_runbook_url_reach_every_rule(tmp_path: Path) -> None:
    rules = generated(custom_config())["prometheusrules.yaml"]
    text = json.dumps([r["spec"] for r in rules])
    assert not re.findall(r"""job\s*=~?\s*\\?["']plumbline-""", text), "a default selector is left"
    assert "github.com/plumbline" not in text
    for rule in rules:
        assert rule["metadata"]["namespace"] == "markets"
        assert rule["metadata"]["labels"] == {"release": "kps"}
        for group in rule["spec"]["groups"]:
            for one in group["rules"]:
                if "alert" in one:
                    url = f"https://wiki.example.org/runbooks/plumbline/{one['alert']}"
                    assert one["annotations"]["runbook_url"] == url
    if "up{" in text:
        assert 'up{job=\\"funding-worker\\", namespace=\\"markets\\"}' in text
    _promtool_check(rules, tmp_path)


def test_every_rule_file_uses_the_default_selectors_and_runbook_url() -> None:
    # The generators substitute exactly these; anything else would be left unconfigured.
    for path in RULES:
        text = path.read_text()
        for matcher in re.findall(r"""job\s*(?:=|!=|=~|!~)\s*["'][^"']*["']""", text):
            assert matcher.replace("'", '"') in {
                generator.DEFAULT_WORKER_SELECTOR,
                generator.DEFAULT_CONNECTORS_SELECTOR,
            }, f"{path.name}: {matcher} is not a default selector"
        alert = None
        for line in text.splitlines():
            if found := re.match(r"\s*- alert: (\w+)", line):
                alert = found[1]
            if found := re.match(r"\s*runbook_url: (\S+)", line):
                assert found[1] == monitoring.DEFAULT_RUNBOOK_URL.format(alertname=alert), (path.name, alert)
                assert (REPO_ROOT / "docs" / "runbooks" / f"{alert}.md").is_file(), alert


def _fits_crd_model(obj: dict[str, Any]) -> None:
    models = pytest.importorskip("cloudcoil.models.prometheus_operator.v1")
    model = getattr(models, obj["kind"])
    parsed = model.model_validate(obj)
    # Unknown fields are dropped, not rejected, by the models: compare the round trip to be strict.
    assert parsed.model_dump(by_alias=True, exclude_unset=True, mode="json") == obj, obj["metadata"]["name"]


@pytest.mark.parametrize("config", [None, "custom"])
def test_operator_objects_fit_the_crd_schemas(config: str | None) -> None:
    files = generated(custom_config() if config else None)
    objects = files["prometheusrules.yaml"] + files["servicemonitors.yaml"]
    assert {o["kind"] for o in objects} == {"PrometheusRule", "ServiceMonitor"}
    for obj in objects:
        _fits_crd_model(obj)


def test_crd_model_check_rejects_an_unknown_field() -> None:
    rule = generated()["prometheusrules.yaml"][0]
    rule["spec"]["groups"][0]["rules"][0]["bogus"] = 1
    with pytest.raises(AssertionError):
        _fits_crd_model(rule)


def test_service_monitors_select_the_services_of_deploy_k8s() -> None:
    services = {o["metadata"]["name"]: o for o in rendered_k8s() if o["kind"] == "Service"}
    for monitor in generated()["servicemonitors.yaml"]:
        name = monitor["metadata"]["name"]
        service = services[name]  # the job label is the Service's name: what the default selectors match
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
        ports = {p["name"] for p in service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports, name
    selectors = monitoring.load_operator_config().selectors
    assert selectors.worker_selector == 'job="plumbline-worker"'
    assert selectors.connectors_selector == 'job="plumbline-connectors"'


def test_a_bad_config_is_refused_with_the_key_named(tmp_path: Path) -> None:
    config = json.loads((DEPLOY / "config.json").read_text())
    for key, value in (
        ("worker_selector", "plumbline-worker"),
        ("runbook_url", "docs/{x}.md"),
        ("namespace", "A_B"),
    ):
        path = tmp_path / "config.json"
        path.write_text(json.dumps({**config, key: value}))
        with pytest.raises(ValueError, match=key):
            monitoring.load_operator_config(path)
