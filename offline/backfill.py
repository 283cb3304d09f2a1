"""Backfill Prometheus with history: the worker's metrics over past dates, as TSDB blocks.

The window is run through the in-process engine (:mod:`offline.backtest`); the funding-state
metrics a worker exports (their names, help texts and labels are the worker's own, from
:mod:`streams.metrics`: ``plumbline_series_ratio`` / ``_dollars`` / ..., ``plumbline_signal_basis_points``
/ ``_dollars`` / ``_ratio`` / ..., ``plumbline_detector_score`` / ``_alarm`` / ..., in the same base
units through the same conversion) are written as OpenMetrics text, one sample per
series per ``step`` (default a day, at 00:00 UTC), each holding the newest observation dated on or
before it, exactly what a worker would show for that date. Signal values and detector metrics
carry ``replay="true"``, as the worker labels replayed history. ``promtool tsdb create-blocks-from
openmetrics`` turns the text into blocks in the Prometheus data directory; Prometheus loads them
when (re)started. Its retention must cover the history (``plumbline stack`` runs with 15y).

Instant queries see a sample for the query's lookback (5 minutes by default) after it, so with a
daily step query at 00:00 UTC (``time=2019-09-17T00:00:00Z``) or with a range step that is a whole
number of days; ``--step 1h`` gives hourly samples (24 times the size) for finer zooming.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO

from foundation.calendar import timestamp_of_date
from foundation.catalogue import INDEX_SIGNAL, RESERVES_RATE, SERIES, SIGNALS
from offline.backtest import BacktestResult
from streams.metrics import (
    DETECTOR_ALARM,
    DETECTOR_ALARM_START,
    DETECTOR_METRICS,
    DETECTOR_OBSERVATION_TIME,
    DETECTOR_SCORE,
    SERIES_OBSERVATION_TIME,
    SIGNAL_OBSERVATION_TIME,
    MetricSpec,
    series_metric,
    signal_metric,
)

__all__ = ["BackfillError", "BackfillSummary", "create_blocks", "write_openmetrics"]

#: Blocks of up to a year: 8 years become a handful of blocks, not thousands of 2-hour ones.
MAX_BLOCK_DURATION = "8760h"


class BackfillError(RuntimeError):
    """promtool is missing or failed; the message says what to do."""


@dataclasses.dataclass
class BackfillSummary:
    """How many series (with at least one sample) and samples a backfill wrote."""

    series: int = 0
    samples: int = 0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in zip(names, values, strict=True)) + "}"


def _grid(start: dt.date, end: dt.date, step_seconds: int) -> list[float]:
    first = timestamp_of_date(start)
    last = timestamp_of_date(end) + 86400 - 1
    return [first + i * step_seconds for i in range(int((last - first) // step_seconds) + 1)]


def _held(points: dict[dt.date, float], grid: list[float]) -> Iterator[tuple[float, float]]:
    """(time, value) on the grid: the newest point dated at or before each time (none before the first)."""
    days = sorted(points)
    stamps = [timestamp_of_date(d) for d in days]
    for moment in grid:
        index = bisect.bisect_right(stamps, moment) - 1
        if index >= 0 and math.isfinite(points[days[index]]):
            yield moment, points[days[index]]


class _Writer:
    def __init__(self, handle: TextIO, grid: list[float], summary: BackfillSummary) -> None:
        self.handle, self.grid, self.summary = handle, grid, summary

    def family(self, spec: MetricSpec) -> None:
        self.handle.write(f"# HELP {spec.name} {spec.help}\n# TYPE {spec.name} {spec.type}\n")

    def series(self, spec: MetricSpec, labels: tuple[str, ...], points: dict[dt.date, float]) -> None:
        text = _labels(spec.labels, labels)
        wrote = False
        for moment, value in _held(points, self.grid):
            self.handle.write(f"{spec.name}{text} {value!r} {moment:.0f}\n")
            self.summary.samples += 1
            wrote = True
        self.summary.series += wrote


def write_openmetrics(
    result: BacktestResult, path: Path, step_seconds: int = 86400, *, replay: bool = True
) -> BackfillSummary:
    """Write the window's funding-state metrics as OpenMetrics text (families never interleave).

    Signals and detector metrics carry ``replay="true"``, as the worker labels replayed history, so a
    backfilled Prometheus beside live data pages nobody. ``replay=False`` labels them as live: the
    alert rules' backtest (:mod:`offline.rules`) scores history as if it had been live.
    """
    replay_label = "true" if replay else "false"
    if step_seconds < 60 or 86400 % step_seconds:
        raise ValueError("step must divide a day and be at least a minute")
    summary = BackfillSummary()
    grid = _grid(result.start, result.end, step_seconds)
    by_series: dict[str, dict[dt.date, float]] = {}
    for record in result.plan.prints:
        if result.start <= record.observation_date <= result.end and record.series_id != RESERVES_RATE:
            by_series.setdefault(record.series_id, {})[record.observation_date] = record.value
    with path.open("w") as handle:
        out = _Writer(handle, grid, summary)
        # One family per unit, each written whole (OpenMetrics forbids interleaving families).
        for metric, members in _by_family(by_series, lambda s: series_metric(SERIES[s].unit)):
            out.family(metric)
            for series_id, factor in members:
                out.series(metric, (series_id,), {d: v * factor for d, v in by_series[series_id].items()})
        out.family(SERIES_OBSERVATION_TIME)
        for series_id, points in sorted(by_series.items()):
            out.series(SERIES_OBSERVATION_TIME, (series_id,), {d: timestamp_of_date(d) for d in points})
        signals = {
            signal_id: {stamp.date(): float(v) for stamp, v in series.values.items()}
            for signal_id, series in result.signals.items()
        }
        index = {
            s.observation_date: s.value
            for s in result.run.signals
            if s.signal_id == INDEX_SIGNAL and result.start <= s.observation_date <= result.end
        }
        if index:
            signals[INDEX_SIGNAL] = index
        for metric, members in _by_family(signals, lambda s: signal_metric(SIGNALS[s].unit)):
            out.family(metric)
            for signal_id, factor in members:
                points = {d: v * factor for d, v in signals[signal_id].items()}
                out.series(metric, (signal_id, replay_label), points)
        out.family(SIGNAL_OBSERVATION_TIME)
        for signal_id, points in sorted(signals.items()):
            out.series(SIGNAL_OBSERVATION_TIME, (signal_id,), {d: timestamp_of_date(d) for d in points})
        keys = sorted(result.scores)
        for spec in DETECTOR_METRICS:
            out.family(spec)
            for signal_id, detector in keys:
                points = _detector_points(result, (signal_id, detector), spec)
                out.series(spec, (signal_id, detector, replay_label), points)
        handle.write("# EOF\n")
    return summary


def _by_family(
    ids: Iterable[str], family_of: Callable[[str], tuple[MetricSpec, float]]
) -> list[tuple[MetricSpec, list[tuple[str, float]]]]:
    """``ids`` grouped by the unit family they are exported in, each with its factor (sorted).

    The factor is per id: ``plumbline_signal_ratio`` holds ratios (factor 1) and percent (0.01).
    """
    groups: dict[str, tuple[MetricSpec, list[tuple[str, float]]]] = {}
    for one in sorted(ids):
        metric, factor = family_of(one)
        groups.setdefault(metric.name, (metric, []))[1].append((one, factor))
    return [groups[name] for name in sorted(groups)]


def _detector_points(
    result: BacktestResult, key: tuple[str, str], metric: MetricSpec
) -> dict[dt.date, float]:
    scores = {d: v for d, v in result.scores.get(key, {}).items() if result.start <= d <= result.end}
    alarms = result.alarms.get(key, {})
    if metric == DETECTOR_SCORE:
        return {d: 0.0 if math.isnan(v) else v for d, v in scores.items()}
    if metric == DETECTOR_ALARM:
        return {d: 1.0 if alarms.get(d) else 0.0 for d in scores}
    if metric == DETECTOR_OBSERVATION_TIME:
        return {d: timestamp_of_date(d) for d in scores}
    assert metric == DETECTOR_ALARM_START
    # Alarm start: held while on; NaN (no sample) while off, as the live gauge is absent then.
    out: dict[dt.date, float] = {}
    started: dt.date | None = None
    for day in sorted(alarms):
        started = (started or day) if alarms[day] else None
        if day in scores:
            out[day] = timestamp_of_date(started) if started else math.nan
    return out


def create_blocks(openmetrics: Path, data_dir: Path, promtool: str | None = None) -> list[Path]:
    """Run ``promtool tsdb create-blocks-from openmetrics`` into ``data_dir``; return the new blocks."""
    binary = promtool or shutil.which("promtool")
    if binary is None:
        raise BackfillError("promtool not found: `make install` (apt-get install prometheus) provides it")
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir.parent, prefix=".backfill-") as scratch:
        command = [binary, "tsdb", "create-blocks-from", "openmetrics",
                   f"--max-block-duration={MAX_BLOCK_DURATION}", str(openmetrics), scratch]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise BackfillError(f"promtool failed: {detail[-1] if detail else done.returncode}")
        blocks = []
        for block in sorted(Path(scratch).iterdir()):
            if block.is_dir() and (block / "meta.json").is_file():
                target = data_dir / block.name
                shutil.move(str(block), target)
                blocks.append(target)
    return blocks
