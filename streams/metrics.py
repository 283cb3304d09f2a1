"""Prometheus metrics of a worker, on an injected registry.

Values that are pipeline state (last print per series, signal values, detector scores and alarms)
are exported by a custom collector that reads the state at scrape time, so a daily print stays
visible between publications and nothing is double-booked. Event counts are plain counters.
Label values come only from the catalogue and the detector registry.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from plumbline.catalogue import SERIES
from streams.pipeline import FundingPipeline, date_timestamp_seconds

__all__ = ["PipelineCollector", "PipelineMetrics"]


class PipelineCollector(Collector):
    """Exports the state of a :class:`FundingPipeline` at scrape time."""

    def __init__(self, pipeline: FundingPipeline) -> None:
        self.pipeline = pipeline

    def collect(self) -> Iterable[Metric]:
        series_value = GaugeMetricFamily(
            "plumbline_series_value",
            "Newest print of each series, in the catalogue's canonical unit",
            labels=["series", "unit"],
        )
        series_time = GaugeMetricFamily(
            "plumbline_series_observation_timestamp_seconds",
            "Observation date (UTC midnight) of the newest print of each series",
            labels=["series"],
        )
        for series_id, series_state in sorted(self.pipeline.series.items()):
            series_value.add_metric([series_id, SERIES[series_id].unit], series_state.value)
            series_time.add_metric([series_id], date_timestamp_seconds(series_state.observation_date))
        signal_value = GaugeMetricFamily(
            "plumbline_signal_value", "Newest value of each derived signal", labels=["signal", "unit"]
        )
        signal_time = GaugeMetricFamily(
            "plumbline_signal_observation_timestamp_seconds",
            "Observation date (UTC midnight) of the newest value of each signal",
            labels=["signal"],
        )
        for signal_id, signal in sorted(self.pipeline.signals.items()):
            signal_value.add_metric([signal_id, signal.unit], signal.value)
            signal_time.add_metric([signal_id], date_timestamp_seconds(signal.observation_date))
        score = GaugeMetricFamily(
            "plumbline_detector_score",
            "Score of the newest observation (scale documented per detector)",
            labels=["signal", "detector", "replay"],
        )
        alarm = GaugeMetricFamily(
            "plumbline_detector_alarm",
            "1 while the detector's alarm is on for the signal",
            labels=["signal", "detector", "replay"],
        )
        alarm_time = GaugeMetricFamily(
            "plumbline_detector_observation_timestamp_seconds",
            "Observation date (UTC midnight) the detector last learned",
            labels=["signal", "detector", "replay"],
        )
        episode_start = GaugeMetricFamily(
            "plumbline_detector_alarm_start_timestamp_seconds",
            "Observation date (UTC midnight) on which the current alarm episode started; absent when off",
            labels=["signal", "detector", "replay"],
        )
        for state in self.pipeline.detectors.values():
            if state.last_date is None:
                continue
            labels = [state.signal, state.detector.name, "true" if state.replay else "false"]
            score.add_metric(labels, state.score)
            alarm.add_metric(labels, 1.0 if state.detector.alarm else 0.0)
            alarm_time.add_metric(labels, date_timestamp_seconds(state.last_date))
            if state.detector.alarm and state.episode_start is not None:
                episode_start.add_metric(labels, date_timestamp_seconds(state.episode_start))
        yield from (
            series_value,
            series_time,
            signal_value,
            signal_time,
            score,
            alarm,
            alarm_time,
            episode_start,
        )


class PipelineMetrics:
    """Every metric of one worker, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry, pipeline: FundingPipeline) -> None:
        self.registry = registry
        registry.register(PipelineCollector(pipeline))
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
