"""The embedded stack: a real Tansu broker, explicit topics, clear errors, `down` stops only its own."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from foundation.settings import Settings
from plumbline import stack
from tests.conftest import make_settings

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
