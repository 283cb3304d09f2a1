"""deploy/compose and deploy/k8s, validated as far as this machine allows (Docker cannot run here).

Every YAML file under deploy/ parses; the Prometheus and Alertmanager configs pass promtool and
amtool; the compose file has the services a deployment needs; the Kubernetes manifests render with
kustomize and every object passes the real Kubernetes schemas (``kubernetes-validate --strict``:
required fields, types, no unknown field), and what a schema cannot say is checked here: every
workload's selector matches its pod template, mounts are declared, probes point at the liveness
paths, images carry the package version. The prometheus-operator objects (deploy/k8s/operator) are
generated from the rule files and checked against the operator's CRD models.

The workers share no filesystem (SQLite's WAL does not work over a network one): each keeps its
partition checkpoints on a volume of its own, and rebuilds a partition it has no current checkpoint
of from the input topics (streams/rebuild.py). So each worker must get its own checkpoint volume
(a StatefulSet claim template on Kubernetes, one named volume per worker service in Compose), and
the input topics must be created kept forever and not compacted, in both deployments.
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

from foundation.settings import Settings
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


PRODUCTION_ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
LOCAL_ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.local.yml"
_TIMINGS = ("group_wait", "group_interval")


def _seconds(duration: str) -> float:
    return sum(
        float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[u]
        for n, u in re.findall(r"(\d+)(ms|s|m|h|d)", duration)
    )


def _without_timings(config: dict[str, Any]) -> dict[str, Any]:
    route = {k: v for k, v in config["route"].items() if k not in _TIMINGS}
    return {**config, "route": route}


@pytest.mark.parametrize("path", [PRODUCTION_ALERTMANAGER, LOCAL_ALERTMANAGER], ids=lambda p: p.name)
def test_alertmanager_configs_are_valid(path: Path) -> None:
    assert "SUCCESS" in run_tool("amtool", "check-config", str(path))


def test_production_alertmanager_has_the_usual_timings_and_the_demo_one_routes_alike() -> None:
    production = load_yaml_documents(PRODUCTION_ALERTMANAGER.read_text())[0]
    local = load_yaml_documents(
        LOCAL_ALERTMANAGER.read_text().replace("http://127.0.0.1:19095/", "http://webhook:19095/")
    )[0]
    # Production: a new group waits for its siblings, changes to a group are batched every 5 minutes.
    assert _seconds(production["route"]["group_wait"]) >= 30
    assert _seconds(production["route"]["group_interval"]) >= 300
    # The demo and the local stack: replays move days in seconds.
    assert _seconds(local["route"]["group_wait"]) <= 1 and _seconds(local["route"]["group_interval"]) <= 5
    # Everything else (routes, repeat intervals, receivers, inhibition) is the same routing.
    assert _without_timings(local) == _without_timings(production), "alertmanager.local.yml drifted"


def test_deployments_and_the_page_budget_use_the_production_alertmanager() -> None:
    # offline/rules.py routes history through this file to count pages (read as text: importing
    # offline loads the whole backtest).
    source = (REPO_ROOT / "offline" / "rules.py").read_text()
    constant = re.search(r"^ALERTMANAGER_CONFIG = (.+)$", source, re.MULTILINE)
    assert constant, "offline/rules.py has no ALERTMANAGER_CONFIG"
    assert constant[1] == '_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"', constant[1]
    mounts = compose_file()["services"]["alertmanager"]["volumes"]
    assert "../alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in mounts
    maps = {o["metadata"]["name"]: o["data"] for o in rendered_k8s() if o["kind"] == "ConfigMap"}
    assert maps["alertmanager-config"]["alertmanager.yml"] == PRODUCTION_ALERTMANAGER.read_text()


def compose_file() -> dict[str, Any]:
    return load_yaml_documents((DEPLOY / "compose" / "docker-compose.yml").read_text())[0]


def compose_workers(services: dict[str, Any]) -> dict[str, Any]:
    """The worker services: every service that runs `plumbline worker`."""
    return {name: service for name, service in services.items() if service.get("command") == ["worker"]}


def test_compose_file_has_kafka_kraft_workers_and_the_monitoring_stack() -> None:
    compose = compose_file()
    services = compose["services"]
    for name in ("kafka", "kafka-init", "connectors", "prometheus", "alertmanager", "grafana"):
        assert name in services, f"compose has no {name} service"
    for name, service in services.items():
        assert "image" in service or "build" in service, f"{name} has neither image nor build"
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "KAFKA_CONTROLLER_QUORUM_VOTERS" in kafka
    assert "ZOOKEEPER" not in json.dumps(services).upper()
    workers = compose_workers(services)
    assert len(workers) >= 2, f"compose runs {len(workers)} worker service(s), not a group"
    for name, worker in workers.items():
        assert worker["environment"]["PLUMBLINE_BOOTSTRAP_SERVERS"] == "kafka:9092", name
    assert services["connectors"]["command"] == ["connectors", "run"]
    # Every host path mounted from the repository exists.
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / "compose" / source).exists(), f"{name}: {source} does not exist"


def test_compose_workers_each_have_their_own_checkpoint_volume() -> None:
    compose = compose_file()
    workers = compose_workers(compose["services"])
    owners: dict[str, str] = {}
    for name, worker in workers.items():
        # `deploy.replicas` > 1 would run replicas that all mount the one named volume.
        assert worker.get("deploy", {}).get("replicas", 1) == 1, f"{name}: replicas would share a volume"
        assert "scale" not in worker, f"{name}: replicas would share a volume"
        checkpoint_dir = worker["environment"]["PLUMBLINE_CHECKPOINT_DIR"]
        mounts = [v.split(":") for v in worker.get("volumes", [])]
        sources = [m[0] for m in mounts if len(m) >= 2 and m[1] == checkpoint_dir]
        assert len(sources) == 1, f"{name}: no volume mounted at PLUMBLINE_CHECKPOINT_DIR {checkpoint_dir}"
        source = sources[0]
        assert not source.startswith((".", "/")), f"{name}: checkpoints on a host path, not a named volume"
        assert source in (compose.get("volumes") or {}), f"{name}: volume {source} is not declared"
        assert source not in owners, f"{name} and {owners.get(source)} share checkpoint volume {source}"
        owners[source] = name
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert name in workers or source not in owners, f"{name} mounts {owners[source]}'s checkpoints"


def test_compose_prometheus_scrapes_every_worker_service() -> None:
    workers = set(compose_workers(compose_file()["services"]))
    config = load_yaml_documents((DEPLOY / "compose" / "prometheus.yml").read_text())[0]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "plumbline-worker")
    names = {name for sd in job.get("dns_sd_configs", []) for name in sd["names"]}
    names |= {t.rsplit(":", 1)[0] for sc in job.get("static_configs", []) for t in sc["targets"]}
    assert names == workers, f"Prometheus scrapes {sorted(names)}, compose runs {sorted(workers)}"


def rendered_k8s() -> list[dict[str, Any]]:
    out = run_tool("kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(DEPLOY / "k8s"))
    return [d for d in load_yaml_documents(out) if d]


def _validate_schema(obj: dict[str, Any]) -> None:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)
    except kubernetes_validate.ValidationError as exc:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        pytest.fail(f"{name}: {exc.message} at {'.'.join(map(str, exc.path))}", pytrace=False)


def test_k8s_manifests_render_and_pass_the_kubernetes_schemas_strictly() -> None:
    objects = rendered_k8s()
    for obj in objects:
        _validate_schema(obj)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for expected in (
        ("StatefulSet", "kafka"),
        ("Job", "plumbline-topics"),
        ("StatefulSet", "plumbline-worker"),
        ("Deployment", "plumbline-connectors"),
        ("Service", "plumbline-connectors"),
        ("StatefulSet", "prometheus"),
        ("Deployment", "alertmanager"),
        ("Deployment", "grafana"),
        ("ConfigMap", "grafana-dashboards"),
        ("ConfigMap", "prometheus-rules"),
    ):
        assert expected in kinds, f"missing {expected}"


def test_k8s_objects_fit_together() -> None:
    # What a schema cannot see: namespaces, selectors against pod labels, mounts against volumes.
    objects = rendered_k8s()
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "plumbline", obj["metadata"]["name"]
        if obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
            template = obj["spec"]["template"]
            labels = template["metadata"]["labels"]
            if obj["kind"] != "Job":
                assert obj["spec"]["selector"]["matchLabels"].items() <= labels.items()
            for container in template["spec"]["containers"]:
                assert container.get("image"), obj["metadata"]["name"]
            mounted = {v["name"] for c in template["spec"]["containers"] for v in c.get("volumeMounts", [])}
            declared = {v["name"] for v in template["spec"].get("volumes", [])}
            declared |= {t["metadata"]["name"] for t in obj["spec"].get("volumeClaimTemplates", [])}
            assert mounted <= declared, f"{obj['metadata']['name']}: undeclared volumes {mounted - declared}"
        if obj["kind"] == "StatefulSet":
            # The governing Service exists and selects this set's pods.
            service = services.get(obj["spec"]["serviceName"])
            assert service, f"{obj['metadata']['name']}: no Service {obj['spec']['serviceName']}"
            assert (
                service["spec"]["selector"].items() <= obj["spec"]["template"]["metadata"]["labels"].items()
            )


def _pyproject_version() -> str:
    return str(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_images_are_pinned_and_plumbline_images_carry_the_package_version() -> None:
    version = _pyproject_version()
    images = [
        (o["metadata"]["name"], c["image"])
        for o in rendered_k8s()
        if o["kind"] in {"Deployment", "StatefulSet", "Job"}
        for c in o["spec"]["template"]["spec"]["containers"]
    ]
    images += [(name, s["image"]) for name, s in compose_file()["services"].items() if "image" in s]
    assert images
    for name, image in images:
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag and tag not in {"", "latest"}, f"{name}: {image} is not pinned"
        if repository.endswith("/plumbline"):
            assert tag == version, f"{name}: {image} is not the package version {version}"
    dockerfile = (DEPLOY / "compose" / "Dockerfile").read_text()
    assert f":{version} ." in dockerfile, "the Dockerfile's build command tags another version"


def _container(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    obj = next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)
    return dict(obj["spec"]["template"]["spec"]["containers"][0])


def test_liveness_probes_read_the_event_loop_and_poll_loop_not_metrics() -> None:
    from streams.liveness import LIVENESS_PATHS

    objects = rendered_k8s()
    env = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "plumbline-env")
    worker = _container(objects, "StatefulSet", "plumbline-worker")
    # /metrics is served from its own thread: it answers with the Faust loop hung.
    assert worker["livenessProbe"]["httpGet"]["path"] in LIVENESS_PATHS
    assert worker["livenessProbe"]["httpGet"]["port"] == "metrics"
    worker_port = next(p for p in worker["ports"] if p["name"] == "metrics")["containerPort"]
    assert str(worker_port) == env["data"]["PLUMBLINE_METRICS_PORT"]
    connectors = _container(objects, "Deployment", "plumbline-connectors")
    assert connectors["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
    assert connectors["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    port = next(p for p in connectors["ports"] if p["name"] == "metrics")["containerPort"]
    assert str(port) == env["data"]["PLUMBLINE_CONNECTORS_METRICS_PORT"]
    service = next(
        o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "plumbline-connectors"
    )
    assert [p["port"] for p in service["spec"]["ports"] if p["name"] == "metrics"] == [port]
    # Compose: the same paths as healthchecks, and the connectors' port in the shared environment.
    services = compose_file()["services"]
    for name, service in services.items():
        if service.get("command") in (["worker"], ["connectors", "run"]):
            assert "/livez" in " ".join(service["healthcheck"]["test"]), f"{name}: no /livez healthcheck"
    assert services["connectors"]["environment"]["PLUMBLINE_CONNECTORS_METRICS_PORT"] == str(port)


@pytest.mark.parametrize("config", ["compose/prometheus.yml", "k8s/prometheus.yml"])
def test_deployment_prometheus_scrapes_the_connectors(config: str) -> None:
    scrape = load_yaml_documents((DEPLOY / config).read_text())[0]["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    assert "plumbline-connectors" in jobs, f"{config} does not scrape the connectors"
    text = json.dumps(jobs["plumbline-connectors"])
    assert "9101" in text, f"{config}: the connectors' metrics port is 9101"


def test_k8s_config_maps_carry_the_generated_files() -> None:
    maps = {o["metadata"]["name"]: o["data"] for o in rendered_k8s() if o["kind"] == "ConfigMap"}
    for path in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        assert maps["grafana-dashboards"][path.name] == path.read_text()
    for path in (DEPLOY / "prometheus" / "rules").glob("*.yml"):
        assert maps["prometheus-rules"][path.name] == path.read_text()


def test_k8s_workers_are_a_statefulset_with_a_checkpoint_volume_each() -> None:
    objects = rendered_k8s()
    by_kind = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    assert ("Deployment", "plumbline-worker") not in by_kind, "the workers are a StatefulSet now"
    workers = by_kind[("StatefulSet", "plumbline-worker")]
    spec = workers["spec"]
    assert spec["replicas"] >= 2, "one worker is not a group"
    assert spec.get("podManagementPolicy") == "Parallel", "workers need not start one ordinal at a time"
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    # The governing Service is headless: it gives each pod a DNS record, which Prometheus scrapes.
    service = by_kind.get(("Service", spec["serviceName"]))
    assert service, f"serviceName {spec['serviceName']} names no Service"
    assert service["spec"].get("clusterIP") == "None", f"Service {spec['serviceName']} is not headless"
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    # One ReadWriteOnce claim per worker, mounted at PLUMBLINE_CHECKPOINT_DIR of its env ConfigMap.
    claims = {t["metadata"]["name"]: t["spec"] for t in spec.get("volumeClaimTemplates", [])}
    container = next(c for c in spec["template"]["spec"]["containers"] if c.get("args") == ["worker"])
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(by_kind[("ConfigMap", source["configMapRef"]["name"])]["data"])
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    checkpoint_dir = env["PLUMBLINE_CHECKPOINT_DIR"]
    mounts = [m for m in container.get("volumeMounts", []) if m["mountPath"] == checkpoint_dir]
    assert len(mounts) == 1, f"nothing is mounted at PLUMBLINE_CHECKPOINT_DIR {checkpoint_dir}"
    assert mounts[0]["name"] in claims, "the checkpoints are not on the worker's own claim"
    assert claims[mounts[0]["name"]]["accessModes"] == ["ReadWriteOnce"], "the checkpoint claim is shared"
    pod_volumes = {v["name"] for v in spec["template"]["spec"].get("volumes", [])}
    assert mounts[0]["name"] not in pod_volumes, "a pod volume shadows the claim template"


def test_k8s_no_volume_is_shared_read_write_between_pods() -> None:
    for obj in rendered_k8s():
        claims = []
        if obj["kind"] == "PersistentVolumeClaim":
            claims.append(obj["spec"])
        claims += [t["spec"] for t in obj.get("spec", {}).get("volumeClaimTemplates", [])]
        for claim in claims:
            assert "ReadWriteMany" not in claim["accessModes"], f"{obj['metadata']['name']}: ReadWriteMany"


def _shell_commands(script: str) -> list[str]:
    """The commands of a topic-creation script: continuation lines joined, `for VAR in ...; do ...;
    done` loops unrolled (their body once per value, `"$VAR"` and Compose's `"$$VAR"` replaced)."""
    lines = [line.strip() for line in script.replace("\\\n", " ").splitlines()]
    commands: list[str] = []
    loop: tuple[str, list[str]] | None = None
    body: list[str] = []
    for line in lines:
        match = re.fullmatch(r"for (\w+) in (.+); do", line)
        if match:
            loop, body = (match[1], match[2].split()), []
        elif line == "done" and loop is not None:
            var, values = loop
            for value in values:
                commands += [re.sub(rf'"?\$\$?{{?{var}}}?"?', value, command) for command in body]
            loop = None
        elif line and not line.startswith("#"):
            (body if loop is not None else commands).append(" ".join(line.split()))
    return commands


def _check_topic_script(script: str, partitions: int) -> None:
    settings = Settings()
    inputs = {settings.topic_prints, settings.topic_index_inputs}
    commands = _shell_commands(script)
    for topic in settings.all_topics:
        created = [
            c
            for c in commands
            if "kafka-topics.sh" in c and "--create" in c and f"--topic {topic} " in f"{c} "
        ]
        assert len(created) == 1, f"{topic} is created {len(created)} times"
        wanted = 1 if topic == settings.topic_index_inputs else partitions
        assert f"--partitions {wanted} " in created[0], f"{topic}: not {wanted} partitions"
        compacted = "cleanup.policy=compact" in created[0]
        forever = "--config retention.ms=-1" in created[0] and "--config retention.bytes=-1" in created[0]
        if topic in inputs:
            # The workers rebuild their state from these topics: kept forever, in their original order.
            assert forever and not compacted, f"{topic} is not created with infinite retention, uncompacted"
            assert "--config cleanup.policy=delete" in created[0], topic
            altered = [
                c for c in commands if "kafka-configs.sh" in c and f"--entity-name {topic} " in f"{c} "
            ]
            assert altered and "--alter" in altered[-1], f"{topic}: existing topic not given the configs"
            configs = set(altered[-1].split("--add-config ", 1)[1].split()[0].split(","))
            assert {"cleanup.policy=delete", "retention.ms=-1", "retention.bytes=-1"} <= configs, topic
        else:
            assert not compacted and not forever, f"{topic} is an output topic: ordinary retention"


def test_k8s_topics_job_keeps_the_input_topics_forever() -> None:
    objects = rendered_k8s()
    job = next(o for o in objects if o["kind"] == "Job" and o["metadata"]["name"] == "plumbline-topics")
    env = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "plumbline-env")
    container = job["spec"]["template"]["spec"]["containers"][0]
    _check_topic_script(container["args"][-1], int(env["data"]["PLUMBLINE_TOPIC_PARTITIONS"]))


def test_compose_kafka_init_keeps_the_input_topics_forever() -> None:
    services = compose_file()["services"]
    partitions = {
        int(w["environment"]["PLUMBLINE_TOPIC_PARTITIONS"]) for w in compose_workers(services).values()
    }
    assert len(partitions) == 1, f"the workers disagree on PLUMBLINE_TOPIC_PARTITIONS: {partitions}"
    _check_topic_script(services["kafka-init"]["command"][-1], partitions.pop())


def test_the_image_can_run_the_generators() -> None:
    # `plumbline dashboards` reads deploy/ beside the packages: the image copies it and installs the
    # project in editable mode, so /app is where plumbline/monitoring.py looks for it.
    dockerfile = (REPO_ROOT / "deploy" / "compose" / "Dockerfile").read_text()
    assert "COPY deploy ./deploy" in dockerfile
    assert re.search(r"pip install [^\n]*-e \.", dockerfile), "a non-editable install has no deploy/"


def test_the_image_copies_every_installed_package() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    dockerfile = (REPO_ROOT / "deploy" / "compose" / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.MULTILINE))
    assert packages <= copied, f"deploy/compose/Dockerfile does not copy {sorted(packages - copied)}"
