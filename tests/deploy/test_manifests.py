"""deploy/compose and deploy/k8s, validated as far as this machine allows (Docker cannot run here).

Every YAML file under deploy/ parses; the Prometheus and Alertmanager configs pass promtool and
amtool; the compose file has the services a deployment needs; the Kubernetes manifests render with
kustomize and every object has apiVersion, kind and a name, every container an image, and every
workload a selector that matches its pod template.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
_LOADER = "import json, sys, yaml; json.dump(list(yaml.safe_load_all(sys.stdin.read())), sys.stdout)"


def load_yaml_documents(text: str) -> list[Any]:
    """Every document of a YAML text. PyYAML is not a plumbline dependency: use it when the venv has
    it, else the system Python's (Debian python3-yaml)."""
    try:
        import yaml

        return list(yaml.safe_load_all(text))
    except ImportError:
        pass
    for python in ("/usr/bin/python3", shutil.which("python3")):
        if python and python != sys.executable and Path(python).exists():
            result = subprocess.run([python, "-c", _LOADER], input=text, capture_output=True, text=True)
            if result.returncode == 0:
                return list(json.loads(result.stdout))
            if "No module named 'yaml'" not in result.stderr:
                raise AssertionError(result.stderr)
    pytest.fail("no YAML parser: install PyYAML (pip install pyyaml or apt-get install python3-yaml)")


def run_tool(*argv: str) -> str:
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{argv[0]} is not installed", pytrace=False)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


YAML_FILES = sorted(
    p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml"} and "__pycache__" not in p.parts
)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    documents = load_yaml_documents(path.read_text())
    assert documents and all(d is not None for d in documents), f"{path} has an empty document"


@pytest.mark.parametrize("config", ["compose/prometheus.yml", "k8s/prometheus.yml"])
def test_deployment_prometheus_configs_are_valid(config: str) -> None:
    assert "SUCCESS" in run_tool("promtool", "check", "config", str(DEPLOY / config))


def test_compose_alertmanager_config_is_valid_and_routes_like_the_reference() -> None:
    compose = DEPLOY / "compose" / "alertmanager.yml"
    assert "SUCCESS" in run_tool("amtool", "check-config", str(compose))
    reference = load_yaml_documents((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())[0]
    ours = load_yaml_documents(
        compose.read_text().replace("http://webhook:19095/", "http://127.0.0.1:19095/")
    )
    assert ours[0] == reference, "deploy/compose/alertmanager.yml drifted from deploy/alertmanager"


def test_compose_file_has_kafka_kraft_scalable_workers_and_the_monitoring_stack() -> None:
    compose = load_yaml_documents((DEPLOY / "compose" / "docker-compose.yml").read_text())[0]
    services = compose["services"]
    for name in ("kafka", "kafka-init", "worker", "connectors", "prometheus", "alertmanager", "grafana"):
        assert name in services, f"compose has no {name} service"
    for name, service in services.items():
        assert "image" in service or "build" in service, f"{name} has neither image nor build"
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "KAFKA_CONTROLLER_QUORUM_VOTERS" in kafka
    assert "ZOOKEEPER" not in json.dumps(services).upper()
    assert services["worker"]["command"] == ["worker"] and services["worker"]["deploy"]["replicas"] >= 2
    assert services["connectors"]["command"] == ["connectors", "run"]
    assert services["worker"]["environment"]["PLUMBLINE_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # Every host path mounted from the repository exists.
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / "compose" / source).exists(), f"{name}: {source} does not exist"


def rendered_k8s() -> list[dict[str, Any]]:
    out = run_tool("kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(DEPLOY / "k8s"))
    return [d for d in load_yaml_documents(out) if d]


def test_k8s_manifests_render_and_every_object_is_well_formed() -> None:
    objects = rendered_k8s()
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for expected in (
        ("StatefulSet", "kafka"),
        ("Job", "plumbline-topics"),
        ("Deployment", "plumbline-worker"),
        ("Deployment", "plumbline-connectors"),
        ("StatefulSet", "prometheus"),
        ("Deployment", "alertmanager"),
        ("Deployment", "grafana"),
        ("ConfigMap", "grafana-dashboards"),
        ("ConfigMap", "prometheus-rules"),
    ):
        assert expected in kinds, f"missing {expected}"
    for obj in objects:
        assert obj.get("apiVersion") and obj.get("kind") and obj["metadata"].get("name"), obj
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "plumbline", obj["metadata"]["name"]
        if obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
            template = obj["spec"]["template"]
            labels = template["metadata"]["labels"]
            if obj["kind"] != "Job":
                assert obj["spec"]["selector"]["matchLabels"].items() <= labels.items()
            for container in template["spec"]["containers"]:
                assert container.get("image") and container.get("name"), obj["metadata"]["name"]
            mounted = {v["name"] for c in template["spec"]["containers"] for v in c.get("volumeMounts", [])}
            declared = {v["name"] for v in template["spec"].get("volumes", [])}
            declared |= {t["metadata"]["name"] for t in obj["spec"].get("volumeClaimTemplates", [])}
            assert mounted <= declared, f"{obj['metadata']['name']}: undeclared volumes {mounted - declared}"


def test_k8s_config_maps_carry_the_generated_files() -> None:
    maps = {o["metadata"]["name"]: o["data"] for o in rendered_k8s() if o["kind"] == "ConfigMap"}
    for path in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        assert maps["grafana-dashboards"][path.name] == path.read_text()
    for path in (DEPLOY / "prometheus" / "rules").glob("*.yml"):
        assert maps["prometheus-rules"][path.name] == path.read_text()
    workers = next(o for o in rendered_k8s() if o["metadata"]["name"] == "plumbline-worker" and "spec" in o
                   and o["kind"] == "Deployment")  # fmt: skip
    assert workers["spec"]["replicas"] >= 2


def test_k8s_alertmanager_config_is_valid(tmp_path: Path) -> None:
    maps = {o["metadata"]["name"]: o["data"] for o in rendered_k8s() if o["kind"] == "ConfigMap"}
    config = tmp_path / "alertmanager.yml"
    config.write_text(maps["alertmanager-config"]["alertmanager.yml"])
    assert "SUCCESS" in run_tool("amtool", "check-config", str(config))


def test_the_image_copies_every_installed_package() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    dockerfile = (REPO_ROOT / "deploy" / "compose" / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.MULTILINE))
    assert packages <= copied, f"deploy/compose/Dockerfile does not copy {sorted(packages - copied)}"
