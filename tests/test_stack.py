"""The embedded stack: a real Tansu broker, explicit topics, clear errors, `down` stops only its own."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from foundation.settings import Settings
from plumbline import stack
from tests.conftest import REPO_ROOT, make_settings
from tests.deploy.test_manifests import load_yaml_documents

pytestmark = pytest.mark.broker


def test_stack_up_creates_every_topic_explicitly_with_the_configured_partitions(broker: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        described = {t["name"]: t for t in admin.describe_topics(list(broker.all_topics))}
    finally:
        admin.close()
    assert set(described) == set(broker.all_topics)
    for topic in described.values():
        assert len(topic["partitions"]) == broker.topic_partitions


def test_broker_round_trips_records_and_end_offsets_is_not_trusted(broker: Settings) -> None:
    """Documents the Tansu quirk: end_offsets() reports the start of the last batch, not the end."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all", linger_ms=50)
    for batch in range(2):
        for i in range(10):
            producer.send(broker.topic_signals, key=b"k", value=b"%d" % (batch * 10 + i))
        producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, consumer_timeout_ms=3000)
    partition = TopicPartition(broker.topic_signals, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    values = [int(message.value) for message in consumer]
    reported_end = consumer.end_offsets([partition])[partition]
    consumer.close()
    assert values == list(range(20))
    assert reported_end <= 20  # never beyond the true end; read-to-end loops count records instead


def test_port_in_use_fails_before_anything_starts(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "state")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.webhook_port))
        squatter.listen()
        with pytest.raises(
            stack.StackError, match=f"port {settings.webhook_port} \\(webhook\\).*PLUMBLINE_WEBHOOK_PORT"
        ):
            stack.up(settings, say=lambda line: None)
    assert all(not row.running for row in stack.status(settings))
    assert not any((settings.state_dir / "run").glob("*.pid"))


def test_missing_binary_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path / "state")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(
        stack.StackError, match="prometheus-alertmanager not found on PATH: run `make install`"
    ):
        stack.up(settings, components=["alertmanager"], say=lambda line: None)


def test_down_stops_only_what_up_started(broker: Settings) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # A pid file pointing at a process we did not start (a recycled pid) must not be signalled.
        (broker.state_dir / "run" / "webhook.pid").write_text(
            f'{{"pid": {bystander.pid}, "argv": ["/usr/bin/not-ours", "x"]}}'
        )
        stack.down(broker, say=lambda line: None)
        time.sleep(0.2)
        assert bystander.poll() is None
        assert not stack.status(broker)[0].running
    finally:
        bystander.kill()
        bystander.wait()


def test_cli_stack_status_reports_each_component(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "state")
    env = {name: value for name, value in settings.masked().items() if value}
    result = subprocess.run(
        [sys.executable, "-m", "plumbline", "stack", "status"],
        capture_output=True, text=True, env={**env, "PATH": "/usr/bin:/bin"}, timeout=60,
    )  # fmt: skip
    names = [line.split()[0] for line in result.stdout.splitlines()[:5]]
    assert names == ["broker", "webhook", "alertmanager", "prometheus", "worker"]
    assert "stopped" in result.stdout
    assert result.returncode == 3


def test_cli_stack_down_only_stops_the_named_component(broker: Settings) -> None:
    stack.up(broker, components=["webhook"], say=lambda line: None)
    env = {name: value for name, value in broker.masked().items() if value}
    result = subprocess.run(
        [sys.executable, "-m", "plumbline", "stack", "down", "--only", "webhook"],
        capture_output=True, text=True, env={**env, "PATH": "/usr/bin:/bin"}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    running = {row.name for row in stack.status(broker) if row.running}
    assert running == {"broker"}, f"after `stack down --only webhook` running: {running}"
    stack.up(broker, components=["webhook"], say=lambda line: None)  # and it starts again alone
    assert {row.name for row in stack.status(broker) if row.running} == {"broker", "webhook"}


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def _seconds(duration: str) -> float:
    """A Prometheus/Alertmanager duration (``1h30m``, ``7d``) in seconds."""
    parts = _DURATION.findall(duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration}"
    return sum(int(n) * _SECONDS[u] for n, u in parts)


def _flag(args: list[str], name: str, default: str) -> str:
    values = [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]
    return values[-1] if values else default


def _longest_repeat_interval(config_path: Path) -> float:
    config = load_yaml_documents(config_path.read_text())[0]
    repeats, routes = [], [config["route"]]
    while routes:
        route = routes.pop()
        repeats.append(_seconds(route.get("repeat_interval", "4h")))
        routes += route.get("routes", [])
    return max(repeats)


def test_alertmanager_keeps_its_notification_log_across_restarts_and_past_every_repeat_interval(
    tmp_path: Path,
) -> None:
    """A notification log that is lost (not on disk, or expired before the repeat interval) sends
    again what was already sent: tests/faults/test_monitoring_outages.py shows the duplicate page."""
    settings = make_settings(tmp_path / "state")
    local = next(c for c in stack.COMPONENTS if c.name == "alertmanager").argv(settings)
    k8s_objects = load_yaml_documents((REPO_ROOT / "deploy" / "k8s" / "alertmanager.yaml").read_text())
    deployment = next(
        o for o in k8s_objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "alertmanager"
    )
    pod = deployment["spec"]["template"]["spec"]
    production = pod["containers"][0]["args"]
    deploy = REPO_ROOT / "deploy" / "alertmanager"
    for args, config in (
        (local, deploy / "alertmanager.local.yml"),
        (production, deploy / "alertmanager.yml"),
    ):
        retention = _seconds(_flag(args, "data.retention", "120h"))
        assert retention > _longest_repeat_interval(config), f"{config.name}: --data.retention {retention} s"
        assert _seconds(_flag(args, "data.maintenance-interval", "15m")) <= 60
    # Local: under the state directory, which `stack down` and `up` keep.
    assert _flag(local, "storage.path", "") == str(settings.state_dir / "alertmanager" / "data")
    # Kubernetes: on a claim of its own, not on the pod's emptyDir.
    storage = _flag(production, "storage.path", "data/")
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == storage)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert "persistentVolumeClaim" in volume, f"Alertmanager's {storage} is not on a persistent volume"
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # one pod at a time on the RWO claim
