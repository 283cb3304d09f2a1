"""The Faust agent through ``test_context``: thin wiring, dead letters, metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from prometheus_client import CollectorRegistry

from connectors.history import iter_publication_order, read_history
from plumbline.settings import load_settings
from streams.app import create_app


def test_agent_turns_prints_into_alerts_dead_letters_and_metrics(data_dir: Path, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    worker = create_app(load_settings(env={}, state_dir=tmp_path, data_dir=data_dir), registry=registry)
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

    asyncio.run(drive())
    alerts = [a for o in outcomes for a in o.alerts]
    assert [(a.state, a.observation_date) for a in alerts] == [("firing", dt.date(2019, 9, 3))]
    assert [d.reason for d in outcomes[-1].dead_letters] == ["not_json"]

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("plumbline_signal_value", signal="sofr_iorb_spread_bp", unit="bp") == 6.0  # 2019-09-20
    assert sample("plumbline_series_value", series="SOFR", unit="percent") == 1.86
    labels = {"signal": "sofr_iorb_spread_bp", "detector": "persistence_threshold", "replay": "true"}
    assert sample("plumbline_detector_alarm", **labels) == 1.0
    assert sample("plumbline_detector_alarm_start_timestamp_seconds", **labels) == 1567468800.0
    assert sample("plumbline_dead_letter_total", topic="plumbline.prints.v1", reason="not_json") == 1.0
    assert sample("plumbline_records_in_total", topic="plumbline.prints.v1") == len(prints) + 1
