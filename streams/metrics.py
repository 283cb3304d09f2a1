"""Prometheus metrics of a worker, on an injected registry (names: docs/metrics.md).

Values that are pipeline state (newest print per series, signal values, detector scores and
alarms) are exported by a custom collector that reads the engines at scrape time, so a daily print
stays visible between publications and nothing is double-booked. Event counts are plain counters.
Label values come only from the catalogue and the detector registry.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from foundation.calendar import timestamp_of_date
from foundation.catalogue import SERIES, expected_observation_date
from streams.engine import DetectorState

if TYPE_CHECKING:
    from streams.app import Worker

__all__ = ["PipelineCollector", "PipelineMetrics"]


def _gauge(name: str, documentation: str, *labels: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


class PipelineCollector(Collector):
    """Exports the state of every engine a worker holds, at scrape time."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterable[Metric]:
        now = dt.datetime.now(dt.UTC)
        series_value = _gauge(
            "plumbline_series_value", "Newest print of each series (canonical unit)", "series", "unit"
        )
        series_time = _gauge(
            "plumbline_series_observation_timestamp_seconds", "Observation date of the newest print", "series"
        )
        expected = _gauge(
            "plumbline_series_expected_observation_timestamp_seconds",
            "Newest observation date the source should have published by now (live series only)",
            "series",
        )
        signal_value = _gauge(
            "plumbline_signal_value", "Newest value of each derived signal", "signal", "unit"
        )
        signal_time = _gauge(
            "plumbline_signal_observation_timestamp_seconds",
            "Observation date of the newest signal value",
            "signal",
        )
        input_age = _gauge(
            "plumbline_signal_input_age_seconds",
            "Age of each input of the newest signal value (signal date minus the input's date)",
            "signal",
            "series",
        )
        late = CounterMetricFamily(
            "plumbline_late_signals",
            "Signal values older than what a detector already learned (placed by date, not re-learned)",
            labels=["signal"],
        )
        detector_families = {
            "score": _gauge(
                "plumbline_detector_score", "Score of the newest observation", "signal", "detector", "replay"
            ),
            "alarm": _gauge(
                "plumbline_detector_alarm", "1 while the alarm is on", "signal", "detector", "replay"
            ),
            "time": _gauge(
                "plumbline_detector_observation_timestamp_seconds", "Observation date last learned",
                "signal", "detector", "replay",
            ),
            "start": _gauge(
                "plumbline_detector_alarm_start_timestamp_seconds",
                "First observation date of the current alarm episode (absent when off)",
                "signal", "detector", "replay",
            ),
        }  # fmt: skip
        contribution = _gauge(
            "plumbline_stress_index_contribution",
            "Contribution of each signal to the index",
            "signal",
            "replay",
        )
        states: list[DetectorState] = []
        for engine in list(self.worker.engines.values()):
            for series_id, (day, observation) in sorted(engine.latest_observations().items()):
                spec = SERIES.get(series_id)
                if spec is None:
                    continue
                series_value.add_metric([series_id, spec.unit], observation.value)
                series_time.add_metric([series_id], timestamp_of_date(day))
                if not observation.replay:
                    due = expected_observation_date(series_id, now)
                    if due is not None:
                        expected.add_metric([series_id], timestamp_of_date(due))
            for signal_id, signal in sorted(engine.signals.items()):
                signal_value.add_metric([signal_id, signal.unit], signal.value)
                signal_time.add_metric([signal_id], timestamp_of_date(signal.observation_date))
                for name, used in signal.inputs.items():
                    series_id = name.split("@")[0]
                    if series_id in SERIES and "@" not in name:
                        age = (signal.observation_date - dt.date.fromisoformat(used)).days * 86400.0
                        input_age.add_metric([signal_id, series_id], age)
            for signal_id, count in sorted(engine.late_signals.items()):
                late.add_metric([signal_id], float(count))
            states.extend(engine.detectors.values())
        index = self.worker.index
        by_grace = CounterMetricFamily(
            "plumbline_index_dates_released_by_grace",
            "Index dates computed after the grace period instead of every partition group's watermark",
        )
        if index is not None:
            by_grace.add_metric([], float(index.released_by_grace))
            states.append(index.state)
            if index.signal is not None:
                signal_value.add_metric([index.signal.signal_id, "index"], index.signal.value)
                signal_time.add_metric(
                    [index.signal.signal_id], timestamp_of_date(index.signal.observation_date)
                )
                replay = "true" if index.signal.replay else "false"
                for signal_id, value in sorted(index.contributions.items()):
                    contribution.add_metric([signal_id, replay], value)
        for state in states:
            if state.last_date is None:
                continue
            labels = [state.spec.signal, state.spec.name, "true" if state.replay else "false"]
            detector_families["score"].add_metric(labels, 0.0 if math.isnan(state.score) else state.score)
            detector_families["alarm"].add_metric(labels, 1.0 if state.detector.alarm else 0.0)
            detector_families["time"].add_metric(labels, timestamp_of_date(state.last_date))
            if state.detector.alarm and state.episode_start is not None:
                detector_families["start"].add_metric(labels, timestamp_of_date(state.episode_start))
        yield from (series_value, series_time, expected, signal_value, signal_time, input_age, late)
        yield from detector_families.values()
        yield contribution
        yield by_grace


class PipelineMetrics:
    """Every metric of one worker, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry, worker: Worker) -> None:
        self.registry = registry
        registry.register(PipelineCollector(worker))
        self.records_in = Counter(
            "plumbline_records_in_total", "Messages read, by topic", ["topic"], registry=registry
        )
        self.records_out = Counter(
            "plumbline_records_out_total", "Records written, by topic", ["topic"], registry=registry
        )
        self.dead_lettered = Counter(
            "plumbline_dead_letter_total",
            "Messages sent to the dead-letter topic, by source topic and reason",
            ["topic", "reason"],
            registry=registry,
        )
        self.processing_lag = Gauge(
            "plumbline_processing_lag_seconds",
            "Seconds between a message's broker timestamp and the end of its processing",
            registry=registry,
        )
        self.started = Gauge(
            "plumbline_worker_start_time_seconds", "Unix time the worker started", registry=registry
        )
        self.started.set(time.time())
        self.starts = Gauge(
            "plumbline_worker_starts_total",
            "Worker starts recorded in the checkpoint directory (survives restarts)",
            registry=registry,
        )
