"""Backtest: a window of history through the in-process engine, scored per episode of stress.

The prints come from the connectors' archive (first vintage, at its publication time) or the data
directory, exactly as ``plumbline replay`` would send them (:func:`connectors.replay.plan_replay`),
and go through :func:`streams.inprocess.run_in_process` with the worker's detector plan
(``streams/config.py``), so a streaming replay of the same window raises the same alerts. Each
detector's alarm history is scored with :mod:`offline.evaluation` (the episodes of
``foundation/episodes.py``, lead or lag in business days, false alarms per year in the calm
stretch) next to the dummy baselines.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import time
from pathlib import Path

from connectors.archive import Archive, default_archive_path
from connectors.replay import ReplayPlan, plan_replay
from foundation.catalogue import DERIVED_SIGNALS
from foundation.episodes import EPISODES
from foundation.records import Alert
from foundation.settings import Settings
from offline.evaluation import (
    SIGNAL_SERIES,
    Row,
    SignalSeries,
    alarms_by_detector,
    baseline_rows,
    overlaps,
    score_alarms,
    signal_series,
    spans_calm_stretch,
)
from streams.config import DetectorSpec, detector_plan
from streams.inprocess import InProcessRun, run_in_process

__all__ = [
    "BacktestResult",
    "data_notes",
    "load_plan",
    "run_backtest",
    "write_alerts",
]

#: A signal whose first value comes later than this after the window start is reported as late.
_LATE_START_DAYS = 45


@dataclasses.dataclass
class BacktestResult:
    """Everything one backtest produced."""

    start: dt.date
    end: dt.date
    plan: ReplayPlan
    run: InProcessRun
    detectors: dict[str, list[DetectorSpec]]
    signals: dict[str, SignalSeries]
    alarms: dict[tuple[str, str], dict[dt.date, bool]]
    scores: dict[tuple[str, str], dict[dt.date, float]]
    rows: list[Row]
    notes: list[str]
    seconds: float

    @property
    def alerts(self) -> list[Alert]:
        """The alerts the engine raised, in the order it raised them."""
        return self.run.alerts

    @property
    def covers_calm_stretch(self) -> bool:
        """Whether the window spans the calm stretch (else its false-alarm rate means nothing)."""
        return spans_calm_stretch(self.start, self.end)

    def episode_in_window(self, episode_id: str) -> bool:
        """Whether an episode overlaps the window."""
        episode = next(e for e in EPISODES if e.id == episode_id)
        return overlaps(episode, self.start, self.end)


def load_plan(
    settings: Settings, start: dt.date, end: dt.date, series: tuple[str, ...] = SIGNAL_SERIES
) -> ReplayPlan:
    """The prints a replay of the window would send: archive where it has a series, else data dir."""
    path = default_archive_path(settings)
    if not path.is_file():
        return plan_replay(settings.data_dir, series, start, end, skip_missing=True)
    with Archive(path) as archive:
        return plan_replay(settings.data_dir, series, start, end, archive=archive, skip_missing=True)


def run_backtest(
    settings: Settings, start: dt.date, end: dt.date, plan: ReplayPlan | None = None
) -> BacktestResult:
    """Run the window's prints through the in-process engine and score every detector."""
    plan = plan or load_plan(settings, start, end)
    detectors = detector_plan(settings)
    started = time.perf_counter()
    run = run_in_process(plan.prints, detectors, trace=True)
    seconds = time.perf_counter() - started
    signals, _hole_notes = signal_series(run.signals, start=start)
    alarms = alarms_by_detector(run)
    scores: dict[tuple[str, str], dict[dt.date, float]] = {}
    for point in run.points:
        scores.setdefault((point.signal, point.detector), {})[point.observation_date] = point.score
    rows = []
    for specs in detectors.values():
        for spec in specs:
            key = (spec.signal, spec.name)
            rows.append(score_alarms(spec.signal, spec.name, spec.params, alarms.get(key, {}), True))
    spread = signals.get("sofr_iorb_spread_bp")
    if spread is not None:
        rows.extend(baseline_rows({s.date(): float(v) for s, v in spread.values.items()}))
    result = BacktestResult(start, end, plan, run, detectors, signals, alarms, scores, rows, [], seconds)
    result.notes = data_notes(result)
    return result


def _signals_of(series_id: str) -> list[str]:
    return [spec.id for spec in DERIVED_SIGNALS if series_id in spec.inputs]


def data_notes(result: BacktestResult) -> list[str]:
    """What the data cannot show in this window: missing series, signals without values, holes."""
    notes = []
    for series_id in result.plan.missing:
        notes.append(
            f"series {series_id} is in neither the archive nor the data directory: "
            f"{', '.join(_signals_of(series_id))} cannot be derived"
        )
    for series_id, source in sorted(result.plan.sources.items()):
        if source != "missing" and not any(p.series_id == series_id for p in result.plan.prints):
            notes.append(f"series {series_id} has no print between {result.start} and {result.end}")
    for definition in DERIVED_SIGNALS:
        series = result.signals.get(definition.id)
        if series is None:
            inputs = ", ".join(definition.inputs)
            notes.append(f"{definition.id}: no value in the window (built from {inputs})")
            continue
        days = [stamp.date() for stamp in series.values.index]
        if (days[0] - result.start).days > _LATE_START_DAYS:
            notes.append(f"{definition.id}: first value only on {days[0]}")
        if (result.end - days[-1]).days > _LATE_START_DAYS:
            notes.append(f"{definition.id}: last value on {days[-1]} (the data ends there)")
        for first, last in series.holes:
            notes.append(f"{definition.id}: no data {first} .. {last} (hole in the data); skipped")
    return notes


_ALERT_COLUMNS = (
    "observation_date", "published_at", "signal", "detector", "state", "severity", "value", "score",
    "episode_start", "fingerprint", "replay",
)  # fmt: skip


def write_alerts(alerts: list[Alert], directory: Path) -> tuple[Path, Path]:
    """``alerts.csv`` and ``alerts.json`` (the records as the alerts topic carries them)."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = directory / "alerts.json", directory / "alerts.csv"
    json_path.write_text(json.dumps([a.to_dict() for a in alerts], indent=1, allow_nan=False) + "\n")
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(_ALERT_COLUMNS)
        for a in alerts:
            writer.writerow([
                a.observation_date.isoformat(), a.published_at.isoformat(), a.signal, a.detector, a.state,
                a.severity, f"{a.value:g}", f"{a.score:g}", a.explanation.get("episode_start", ""),
                a.fingerprint, str(a.replay).lower(),
            ])  # fmt: skip
    return csv_path, json_path
