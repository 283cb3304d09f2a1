"""The worker's state collector, scraped from a fresh registry over a stub worker (no broker)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from foundation.calendar import timestamp_of_date
from foundation.catalogue import SERIES, expected_observation_date
from foundation.records import Print
from streams.engine import FundingEngine
from streams.index import IndexEngine
from streams.metrics import LIVE_SERIES, SIGNAL_METRICS, PipelineCollector

#: Monday 2025-10-06, 15:00 New York: Friday's SOFR (08:00) and the H.4.1 of Wednesday 10-01 are out.
NOW = dt.datetime(2025, 10, 6, 19, 0, tzinfo=dt.UTC)
EXPECTED = "plumbline_series_expected_observation_timestamp_seconds"


@dataclasses.dataclass
class StubWorker:
    """What the collector reads of a worker: the engines of its partitions and the index's."""

    engines: dict[int, FundingEngine] = dataclasses.field(default_factory=dict)
    index: IndexEngine | None = None


Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(worker: StubWorker) -> Samples:
    registry = CollectorRegistry()
    registry.register(PipelineCollector(worker, now=lambda: NOW))
    out: Samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def rate(series_id: str, day: str, value: float, *, replay: bool) -> Print:
    date = dt.date.fromisoformat(day)
    published = dt.datetime.combine(date, dt.time(12, 0), tzinfo=dt.UTC)
    return Print(series_id, date, value, "percent", "test", published, replay=replay)


def test_live_series_are_the_catalogue_series_with_a_live_source() -> None:
    assert set(LIVE_SERIES) == {s for s, spec in SERIES.items() if spec.live}
    assert {"SOFR", "IORB", "WRESBAL", "TGA_DTS_CLOSE", "RRPONTSYAWARD", "DEXJPUS"} <= set(LIVE_SERIES)
    assert not {"IOER", "JP_POLICY"} & set(LIVE_SERIES)  # discontinued; no live source


def test_a_worker_without_engines_exports_the_expected_publication_of_every_live_series() -> None:
    samples = scrape(StubWorker())
    expected = {labels["series"]: value for labels, value in samples[EXPECTED]}
    assert len(samples[EXPECTED]) == len(expected)  # one sample per series
    assert set(expected) == set(LIVE_SERIES)
    for series_id, value in expected.items():
        due = expected_observation_date(series_id, NOW)
        assert due is not None and value == timestamp_of_date(due), series_id
    assert expected["SOFR"] == timestamp_of_date(dt.date(2025, 10, 3))  # Friday, published Monday 08:00
    assert expected["WRESBAL"] == timestamp_of_date(dt.date(2025, 10, 1))  # H.4.1 Wednesday level
    # Nothing else: no engine, no index, so no print, signal or detector state.
    assert not [name for name in samples if name.startswith(("plumbline_series_", "plumbline_signal_"))
                if not name.endswith("timestamp_seconds")]  # fmt: skip


def test_signal_value_is_labelled_by_the_replay_flag_of_its_newest_value() -> None:
    assert {spec.labels for spec, _ in SIGNAL_METRICS.values()} == {("signal", "replay")}
    engine = FundingEngine({})
    engine.handle_print(rate("IORB", "2025-10-01", 4.15, replay=False))
    engine.handle_print(rate("SOFR", "2025-10-01", 4.24, replay=True))
    worker = StubWorker({0: engine})

    def spread() -> list[tuple[dict[str, str], float]]:
        return [(labels, value) for labels, value in scrape(worker)["plumbline_signal_basis_points"]
                if labels["signal"] == "sofr_iorb_spread_bp"]  # fmt: skip

    # The driver (SOFR) was replayed: the spread is a replay, though IORB came live.
    replayed = {"signal": "sofr_iorb_spread_bp", "replay": "true"}
    assert spread() == [(replayed, pytest.approx(9.0))]
    # A live SOFR print for the next day: the newest spread is live, and only it is exported.
    engine.handle_print(rate("SOFR", "2025-10-02", 4.20, replay=False))
    assert spread() == [({**replayed, "replay": "false"}, pytest.approx(5.0))]
    # The expected publications do not depend on what the engines hold: still one per live series.
    samples = scrape(worker)
    assert sorted(labels["series"] for labels, _ in samples[EXPECTED]) == sorted(LIVE_SERIES)
    sofr_seen = [v for labels, v in samples["plumbline_series_observation_timestamp_seconds"]
                 if labels["series"] == "SOFR"]  # fmt: skip
    assert sofr_seen == [timestamp_of_date(dt.date(2025, 10, 2))]


def test_a_live_driver_over_a_replayed_input_is_live() -> None:
    engine = FundingEngine({})
    engine.handle_print(rate("IORB", "2025-10-01", 4.15, replay=True))
    engine.handle_print(rate("SOFR", "2025-10-01", 4.24, replay=False))
    values = scrape(StubWorker({0: engine}))["plumbline_signal_basis_points"]
    labels = [labels for labels, _ in values if labels["signal"] == "sofr_iorb_spread_bp"]
    assert labels == [{"signal": "sofr_iorb_spread_bp", "replay": "false"}]
