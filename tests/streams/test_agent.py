"""The Faust agent through ``test_context``: thin wiring, dead letters, metrics.

``test_context`` replaces the agent's input channel; what the agent sends to other topics goes
through the app's real producer, so these tests run against the embedded broker and read the
output topics back with kafka-python.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from connectors.history import iter_publication_order, read_history
from foundation.records import Alert
from foundation.settings import Settings
from streams.app import create_app

pytestmark = pytest.mark.broker


def read_topic(settings: Settings, topic: str) -> list[bytes]:
    """Every record on partition 0 of ``topic`` (counted with a timeout, not by end_offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, consumer_timeout_ms=2000)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    values = [message.value for message in consumer]
    consumer.close()
    return values


def test_agent_turns_prints_into_alerts_dead_letters_and_metrics(data_dir: Path, broker: Settings) -> None:
    registry = CollectorRegistry()
    worker = create_app(broker, registry=registry)
    prints = []
    for series_id in ("SOFR", "IOER"):
        prints += read_history(data_dir, series_id, dt.date(2019, 8, 20), dt.date(2019, 9, 20))
    outcomes = []

    async def drive() -> None:
        agent = worker.app.agents["process-prints"]
        async with agent.test_context() as test_agent:
            for record in iter_publication_order(prints):
                event = await test_agent.put(record.to_json())
                outcomes.append(test_agent.results[event.message.offset])
            event = await test_agent.put(b"\x00 poison")
            outcomes.append(test_agent.results[event.message.offset])
            # Sends are asynchronous (acknowledged into the outbox later); read the topics only
            # once the producer has delivered the last one, or a loaded machine reads too early.
            await worker.app.producer.flush()

    asyncio.run(drive())
    alerts = [a for o in outcomes for a in o.alerts]
    on_alerts_topic = [Alert.from_json(v) for v in read_topic(broker, broker.topic_alerts)]
    assert on_alerts_topic == alerts
    dead = [json.loads(v) for v in read_topic(broker, broker.topic_dead_letter)]
    assert [(d["topic"], d["reason"], d["payload"]) for d in dead] == [
        (broker.topic_prints, "not_json", "\x00 poison")
    ]
    assert [(a.state, a.observation_date) for a in alerts] == [("firing", dt.date(2019, 9, 3))]
    assert [d.reason for d in outcomes[-1].dead_letters] == ["not_json"]

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    spread = {"signal": "sofr_iorb_spread_bp", "replay": "true"}
    assert sample("plumbline_signal_basis_points", **spread) == 6.0  # 2019-09-20
    # Rates are exported as ratios (base units, docs/metrics.md): 1.86 % is 0.0186.
    assert sample("plumbline_series_ratio", series="SOFR") == pytest.approx(0.0186)
    labels = {"signal": "sofr_iorb_spread_bp", "detector": "persistence_threshold", "replay": "true"}
    assert sample("plumbline_detector_alarm", **labels) == 1.0
    assert sample("plumbline_detector_alarm_start_timestamp_seconds", **labels) == 1567468800.0
    assert sample("plumbline_dead_letter_total", topic="plumbline.prints.v2", reason="not_json") == 1.0
    assert sample("plumbline_records_in_total", topic="plumbline.prints.v2") == len(prints) + 1
    assert sample("plumbline_signal_input_age_seconds", signal="sofr_iorb_spread_bp", series="SOFR") == 0.0


def test_restarted_worker_reloads_partition_state_from_its_checkpoint(
    data_dir: Path, broker: Settings
) -> None:
    prints = []
    for series_id in ("SOFR", "IOER"):
        prints += read_history(data_dir, series_id, dt.date(2019, 8, 20), dt.date(2019, 9, 20))

    async def run_first() -> None:
        agent = create_app(broker).app.agents["process-prints"]
        async with agent.test_context() as test_agent:
            for record in iter_publication_order(prints):
                await test_agent.put(record.to_json())

    async def reload() -> tuple[bool, dt.date | None, int]:
        worker = create_app(broker)
        engine, _ = await worker.engine_for(0)
        state = engine.detectors[("sofr_iorb_spread_bp", "persistence_threshold")]
        # Re-delivering everything (as after a crash before the offset commit) is a no-op.
        repeats = sum(len(engine.handle_print(p).signals) for p in prints)
        return state.detector.alarm, state.last_date, repeats

    asyncio.run(run_first())
    alarm, last_date, repeats = asyncio.run(reload())
    assert (alarm, last_date, repeats) == (True, dt.date(2019, 9, 20), 0)


def test_poison_on_the_index_topic_is_dead_lettered(broker: Settings) -> None:
    worker = create_app(broker)

    async def drive() -> list[str]:
        async with worker.app.agents["process-index"].test_context() as test_agent:
            reasons = []
            for payload in (
                b"not json",
                b'{"schema_version": 7}',
                b'{"schema_version": 1, "signal_id": "x"}',
            ):
                event = await test_agent.put(payload)
                reasons += [d.reason for d in test_agent.results[event.message.offset].dead_letters]
            return reasons

    assert asyncio.run(drive()) == ["not_json", "schema_version", "unknown_signal"]
