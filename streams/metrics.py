"""Prometheus metrics of a worker, on an injected registry (names: docs/metrics.md).

Values that are pipeline state (newest print per series, signal values, detector scores and
alarms) are exported by a custom collector that reads the engines at scrape time, so a daily print
stays visible between publications and nothing is double-booked. Event counts are plain counters.
Label values come only from the catalogue and the detector registry. The expected publication of
every live series comes from the catalogue's schedule alone, so it is there before any print is.

Each state metric's name, help text and labels are written once, as a :class:`MetricSpec` below;
``offline/backfill.py`` writes the same families for past dates from these specs.

Units: one metric family per unit, with the unit in its name, and values in base units where
Prometheus has one (dollars, not billions; ratios, not percent), so that no sum or average ever
mixes units. :data:`SIGNAL_METRICS` and :data:`SERIES_METRICS` map each catalogue unit to its family
and the factor from the catalogue's unit; :func:`signal_metric` and :func:`series_metric` are the
one place that conversion happens (the backfill uses them too). Spreads stay in basis points: that
is how funding markets quote them and how every rule threshold and runbook is written, and a spread
of 0.0012 is easy to misread. The signal ids keep their historical suffixes (``reserves_usd_bn``
is exported in dollars by ``plumbline_signal_dollars``); the metric name gives the exported unit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Literal, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from foundation.calendar import timestamp_of_date
from foundation.catalogue import SERIES, SIGNALS, Unit, expected_observation_date
from streams.engine import DetectorState, FundingEngine, Observation
from streams.index import IndexEngine

__all__ = [
    "DETECTOR_ALARM",
    "DETECTOR_ALARM_START",
    "DETECTOR_METRICS",
    "DETECTOR_OBSERVATION_TIME",
    "DETECTOR_SCORE",
    "INDEX_RELEASED_BY_GRACE",
    "LATE_SIGNALS",
    "LIVE_SERIES",
    "SERIES_EXPECTED_OBSERVATION_TIME",
    "SERIES_METRICS",
    "SERIES_OBSERVATION_TIME",
    "SIGNAL_INPUT_AGE",
    "SIGNAL_METRICS",
    "SIGNAL_OBSERVATION_TIME",
    "STATE_METRICS",
    "STRESS_INDEX_CONTRIBUTION",
    "EngineState",
    "MetricSpec",
    "PipelineCollector",
    "PipelineMetrics",
    "WorkerStarts",
    "package_version",
    "series_metric",
    "signal_metric",
]


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """One exported state metric: its family name, help text, label names and type.

    A counter's ``name`` is the family name; Prometheus exposes its sample as ``<name>_total``.
    """

    name: str
    help: str
    labels: tuple[str, ...] = ()
    type: Literal["gauge", "counter"] = "gauge"

    def family(self) -> GaugeMetricFamily | CounterMetricFamily:
        """An empty metric family of this spec, to add samples to at scrape time."""
        if self.type == "counter":
            return CounterMetricFamily(self.name, self.help, labels=list(self.labels))
        return GaugeMetricFamily(self.name, self.help, labels=list(self.labels))


_SERIES_LABELS = ("series",)
_PRINT = "Newest print of each series"
#: Each catalogue unit of a series: the family its prints are exported in, and the factor from the
#: catalogue's unit to the family's (interest rates: percent to ratio).
SERIES_METRICS: dict[Unit, tuple[MetricSpec, float]] = {
    "percent": (
        MetricSpec(
            "plumbline_series_ratio", f"{_PRINT} quoted as a ratio (rates: 0.0425 is 4.25%)", _SERIES_LABELS
        ),
        0.01,
    ),
    "usd": (MetricSpec("plumbline_series_dollars", f"{_PRINT} in US dollars", _SERIES_LABELS), 1.0),
    "jpy_per_usd": (
        MetricSpec("plumbline_series_yen_per_dollar", f"{_PRINT} in yen per US dollar", _SERIES_LABELS),
        1.0,
    ),
}
SERIES_OBSERVATION_TIME = MetricSpec(
    "plumbline_series_observation_timestamp_seconds", "Observation date of the newest print", ("series",)
)
SERIES_EXPECTED_OBSERVATION_TIME = MetricSpec(
    "plumbline_series_expected_observation_timestamp_seconds",
    "Newest observation date the source should have published by now (every live series)",
    ("series",),
)
_SIGNAL_LABELS = ("signal", "replay")
_NEWEST = "Newest value of each derived signal (replay: its driver print was replayed)"
_RATIO = MetricSpec("plumbline_signal_ratio", f"{_NEWEST}, as a ratio", _SIGNAL_LABELS)
#: Each catalogue unit of a signal: the family its values are exported in, and the factor from the
#: catalogue's unit to the family's (billions to dollars, percent to ratio).
SIGNAL_METRICS: dict[Unit, tuple[MetricSpec, float]] = {
    "bp": (MetricSpec("plumbline_signal_basis_points", f"{_NEWEST}, in basis points", _SIGNAL_LABELS), 1.0),
    "usd_bn": (MetricSpec("plumbline_signal_dollars", f"{_NEWEST}, in US dollars", _SIGNAL_LABELS), 1e9),
    "ratio": (_RATIO, 1.0),
    "percent": (_RATIO, 0.01),
    "jpy_per_usd": (
        MetricSpec("plumbline_signal_yen_per_dollar", f"{_NEWEST}, in yen per US dollar", _SIGNAL_LABELS),
        1.0,
    ),
    "index": (
        MetricSpec(
            "plumbline_signal_index", f"{_NEWEST}: the composite index (dimensionless)", _SIGNAL_LABELS
        ),
        1.0,
    ),
}


def signal_metric(unit: Unit) -> tuple[MetricSpec, float]:
    """The family a signal of catalogue unit ``unit`` is exported in, and the factor to its unit."""
    return SIGNAL_METRICS[unit]


def series_metric(unit: Unit) -> tuple[MetricSpec, float]:
    """The family a series of catalogue unit ``unit`` is exported in, and the factor to its unit."""
    return SERIES_METRICS[unit]


SIGNAL_OBSERVATION_TIME = MetricSpec(
    "plumbline_signal_observation_timestamp_seconds",
    "Observation date of the newest signal value",
    ("signal",),
)
SIGNAL_INPUT_AGE = MetricSpec(
    "plumbline_signal_input_age_seconds",
    "Age of each input of the newest signal value (signal date minus the input's date)",
    ("signal", "series"),
)
LATE_SIGNALS = MetricSpec(
    "plumbline_late_signals",
    "Signal values older than what a detector already learned (placed by date, not re-learned)",
    ("signal",),
    "counter",
)
_DETECTOR_LABELS = ("signal", "detector", "replay")
DETECTOR_SCORE = MetricSpec("plumbline_detector_score", "Score of the newest observation", _DETECTOR_LABELS)
DETECTOR_ALARM = MetricSpec("plumbline_detector_alarm", "1 while the alarm is on", _DETECTOR_LABELS)
DETECTOR_OBSERVATION_TIME = MetricSpec(
    "plumbline_detector_observation_timestamp_seconds", "Observation date last learned", _DETECTOR_LABELS
)
DETECTOR_ALARM_START = MetricSpec(
    "plumbline_detector_alarm_start_timestamp_seconds",
    "First observation date of the current alarm episode (absent when off)",
    _DETECTOR_LABELS,
)
STRESS_INDEX_CONTRIBUTION = MetricSpec(
    "plumbline_stress_index_contribution", "Contribution of each signal to the index", ("signal", "replay")
)
INDEX_RELEASED_BY_GRACE = MetricSpec(
    "plumbline_index_dates_released_by_grace",
    "Index dates computed after the grace period instead of every prints partition's watermark",
    (),
    "counter",
)

#: The per-detector families, in the order they are exported.
DETECTOR_METRICS = (DETECTOR_SCORE, DETECTOR_ALARM, DETECTOR_OBSERVATION_TIME, DETECTOR_ALARM_START)
#: Every state metric the collector exports, in the order it exports them.
STATE_METRICS = (
    *dict.fromkeys(spec for spec, _ in SERIES_METRICS.values()), SERIES_OBSERVATION_TIME,
    SERIES_EXPECTED_OBSERVATION_TIME, *dict.fromkeys(spec for spec, _ in SIGNAL_METRICS.values()),
    SIGNAL_OBSERVATION_TIME, SIGNAL_INPUT_AGE, LATE_SIGNALS, *DETECTOR_METRICS, STRESS_INDEX_CONTRIBUTION,
    INDEX_RELEASED_BY_GRACE,
)  # fmt: skip


class EngineState(Protocol):
    """What the collector reads: the engines of the partitions held, and the composite index's."""

    @property
    def engines(self) -> Mapping[int, FundingEngine]: ...

    @property
    def index(self) -> IndexEngine | None: ...


#: Series a live source publishes: each has an expected publication, whether a print arrived or not.
LIVE_SERIES: tuple[str, ...] = tuple(series_id for series_id, spec in SERIES.items() if spec.live)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _replay(flag: bool) -> str:
    return "true" if flag else "false"


class PipelineCollector(Collector):
    """Exports the state of every engine a worker holds, at scrape time.

    ``now`` is the clock the expected publications are computed against (tests pin it).
    """

    def __init__(self, state: EngineState, now: Callable[[], dt.datetime] = _utc_now) -> None:
        self.state = state
        self.now = now

    def collect(self) -> Iterable[Metric]:
        now = self.now()
        families = {spec: spec.family() for spec in STATE_METRICS}
        series_time = families[SERIES_OBSERVATION_TIME]
        expected = families[SERIES_EXPECTED_OBSERVATION_TIME]
        signal_time = families[SIGNAL_OBSERVATION_TIME]
        input_age, late = families[SIGNAL_INPUT_AGE], families[LATE_SIGNALS]
        # From the schedule alone, engines or not: a series that never arrives still goes stale. Every
        # worker exports the same values (rules take max by series).
        for series_id in LIVE_SERIES:
            due = expected_observation_date(series_id, now)
            if due is not None:
                expected.add_metric([series_id], timestamp_of_date(due))
        states: list[DetectorState] = []
        engines = list(self.state.engines.values())
        # A print goes to every partition computing a signal it feeds, so several engines can hold
        # a series: export its newest observation once (a repeated sample fails the whole scrape).
        newest: dict[str, tuple[dt.date, Observation]] = {}
        for engine in engines:
            for series_id, (day, observation) in engine.latest_observations().items():
                if series_id not in newest or day > newest[series_id][0]:
                    newest[series_id] = (day, observation)
        for series_id, (day, observation) in sorted(newest.items()):
            spec = SERIES.get(series_id)
            if spec is None:
                continue
            metric, factor = series_metric(spec.unit)
            families[metric].add_metric([series_id], observation.value * factor)
            series_time.add_metric([series_id], timestamp_of_date(day))
        for engine in engines:
            for signal_id, signal in sorted(engine.signals.items()):
                metric, factor = signal_metric(SIGNALS[signal_id].unit)
                families[metric].add_metric([signal_id, _replay(signal.replay)], signal.value * factor)
                signal_time.add_metric([signal_id], timestamp_of_date(signal.observation_date))
                for name, used in signal.inputs.items():
                    series_id = name.split("@")[0]
                    if series_id in SERIES and "@" not in name:
                        age = (signal.observation_date - dt.date.fromisoformat(used)).days * 86400.0
                        input_age.add_metric([signal_id, series_id], age)
            for signal_id, count in sorted(engine.late_signals.items()):
                late.add_metric([signal_id], float(count))
            states.extend(engine.detectors.values())
        index = self.state.index
        if index is not None:
            families[INDEX_RELEASED_BY_GRACE].add_metric([], float(index.released_by_grace))
            states.append(index.state)
            if index.signal is not None:
                replay = _replay(index.signal.replay)
                metric, factor = signal_metric("index")
                families[metric].add_metric([index.signal.signal_id, replay], index.signal.value * factor)
                signal_time.add_metric(
                    [index.signal.signal_id], timestamp_of_date(index.signal.observation_date)
                )
                for signal_id, value in sorted(index.contributions.items()):
                    families[STRESS_INDEX_CONTRIBUTION].add_metric([signal_id, replay], value)
        for state in states:
            if state.last_date is None:
                continue
            labels = [state.spec.signal, state.spec.name, _replay(state.replay)]
            families[DETECTOR_SCORE].add_metric(labels, 0.0 if math.isnan(state.score) else state.score)
            families[DETECTOR_ALARM].add_metric(labels, 1.0 if state.detector.alarm else 0.0)
            families[DETECTOR_OBSERVATION_TIME].add_metric(labels, timestamp_of_date(state.last_date))
            if state.detector.alarm and state.episode_start is not None:
                families[DETECTOR_ALARM_START].add_metric(labels, timestamp_of_date(state.episode_start))
        yield from families.values()


def package_version() -> str:
    """The installed plumbline package's version, or "unknown" when it is not installed (a bare checkout)."""
    try:
        return importlib.metadata.version("plumbline")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class WorkerStarts(Collector):
    """``plumbline_worker_starts_total``: worker starts on this checkpoint directory, a true counter.

    The count lives in the checkpoint directory (``streams.checkpoint.record_worker_start``), so it
    survives restarts as a restart counter should (``increase()`` over it counts restarts, like
    kube-state-metrics' container restarts). A custom collector because prometheus_client's Counter
    can only count up from zero in this process, and would export a ``_created`` time that is this
    process's start rather than the counter's.
    """

    NAME = "plumbline_worker_starts"

    def __init__(self) -> None:
        self._starts: int | None = None

    def record(self, starts: int) -> None:
        """Set the count read from the checkpoint directory (including this start)."""
        self._starts = starts

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            self.NAME, "Worker starts recorded in the checkpoint directory (survives restarts)"
        )
        if self._starts is not None:
            family.add_metric([], float(self._starts))
        yield family


class PipelineMetrics:
    """Every metric of one worker, registered on ``registry``.

    Besides the pipeline's own, the standard process (CPU, memory, file descriptors), platform
    (Python version) and garbage-collector collectors, and ``plumbline_build_info{version}``, so the
    worker looks like every other exporter on a dashboard of them.
    """

    def __init__(self, registry: CollectorRegistry, state: EngineState) -> None:
        self.registry = registry
        registry.register(PipelineCollector(state))
        # Fresh instances on the injected registry, not the default registry's module singletons.
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.build_info = Info(
            "plumbline_build", "Version of the running plumbline package", registry=registry
        )
        self.build_info.info({"version": package_version()})
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
        self.outputs_held = Counter(
            "plumbline_outputs_held_total",
            "Output records kept in the outbox because the group no longer counted this worker a member "
            "of the generation that assigned their partition (a paused worker woke after a takeover)",
            registry=registry,
        )
        self.topics_recreated = Counter(
            "plumbline_input_topics_recreated_total",
            "Input topic partitions found recreated at an assignment (another topic id: the broker lost "
            "its data); their checkpoints were emptied and the partitions derived again from the new topic",
            ["topic"],
            registry=registry,
        )
        self.rebuild_seconds = Histogram(
            "plumbline_state_rebuild_seconds",
            "Time to bring a partition's state up to the group's committed offset from its input topic",
            ["topic"],
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=registry,
        )
        self.started = Gauge(
            "plumbline_worker_start_time_seconds", "Unix time the worker started", registry=registry
        )
        self.started.set(time.time())
        self.starts = WorkerStarts()
        registry.register(self.starts)
        self.event_loop_heartbeat = Gauge(
            "plumbline_event_loop_heartbeat_timestamp_seconds",
            "Unix time the worker's event loop last ran its heartbeat (a stalled loop stops it; /healthz)",
            registry=registry,
        )
