"""Backtest of the detectors on real history: derived funding signals, episodes, calm stretches.

``plumbline evaluate`` runs every candidate detector over every funding signal with a stress
profile in the catalogue that can be derived from the data directory, in date order. The signals
come from the one in-process engine (``streams/inprocess.py``: the very objects the worker runs,
fed in publication order, so no look-ahead); the default detectors' alarms are the ones that
engine raised, the composite index included; every other candidate learns the same signal series
in date order, and its alarm state after each observation is what counts (the same decision the
worker exports). For each run it reports, per episode (``foundation/episodes.py``), whether an
alarm was on in the detection window and its lead (negative) or lag in business days from the
episode start, and the number of alarm onsets per year in the calm stretch. ``plumbline backtest``
scores its alarms with the same functions, and both show them with :func:`episode_table`.

The result is a markdown table, written between markers into ``docs/detectors.md`` (by
``plumbline generate``, with the other generated documents, or by ``plumbline evaluate`` alone).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from connectors.replay import plan_replay
from detectors import Detector
from foundation.calendar import (
    business_days_between,
    is_business_day,
    next_business_day,
    observation_at,
    previous_business_day,
)
from foundation.catalogue import DERIVED_SIGNALS, INDEX_SIGNAL, SIGNALS, get_series
from foundation.episodes import CALM_STRETCH, EPISODES, Episode
from foundation.records import Print, Signal
from streams.config import DEFAULTS, DetectorSpec
from streams.inprocess import InProcessRun, run_in_process

__all__ = [
    "EVALUATED_SIGNALS",
    "GENERATED_BEGIN",
    "GENERATED_END",
    "SIGNAL_SERIES",
    "EvaluationResult",
    "Row",
    "SignalSeries",
    "alarms_by_detector",
    "baseline_rows",
    "candidates",
    "default_plan",
    "detection_window_start",
    "episode_table",
    "evaluate",
    "history_prints",
    "markdown_table",
    "overlaps",
    "render_markdown",
    "replace_generated_section",
    "score_alarms",
    "signal_series",
    "spans_calm_stretch",
    "write_generated_section",
]

START = dt.date(2018, 1, 1)
DETECTION_LEAD_BUSINESS_DAYS = 10
#: The markers around every generated section of a hand-written document (``plumbline generate``).
GENERATED_BEGIN = "<!-- BEGIN GENERATED: plumbline generate -->"
GENERATED_END = "<!-- END GENERATED: plumbline generate -->"


@dataclasses.dataclass(frozen=True)
class SignalSeries:
    """One derived signal: values by observation date, and where the data has holes."""

    id: str
    frequency: str
    values: pd.Series
    holes: tuple[tuple[dt.date, dt.date], ...] = ()


#: Every catalogue series some signal is built from (the rate on reserves: IORB and IOER).
SIGNAL_SERIES: tuple[str, ...] = tuple(sorted({s for spec in DERIVED_SIGNALS for s in spec.inputs}))
#: The signals detectors are evaluated on: those with a stress profile in the catalogue.
EVALUATED_SIGNALS: tuple[str, ...] = tuple(spec.id for spec in DERIVED_SIGNALS if spec.stress is not None)
_END_OF_TIME = dt.date(9999, 12, 31)


def _holes(values: pd.Series, max_business_days: int = 10) -> tuple[tuple[dt.date, dt.date], ...]:
    dates = [d.date() for d in values.index]
    holes = []
    for previous, current in itertools.pairwise(dates):
        if business_days_between(previous, current) > max_business_days:
            holes.append((previous + dt.timedelta(days=1), current - dt.timedelta(days=1)))
    return tuple(holes)


def _frequency(signal_id: str) -> str:
    driver = SIGNALS[signal_id].driver
    return "weekly" if driver and get_series(driver).frequency == "weekly" else "daily"


def signal_series(
    signals: Iterable[Signal], wanted: Iterable[str] | None = None, start: dt.date | None = None
) -> tuple[dict[str, SignalSeries], list[str]]:
    """Signal values by observation date (the last value emitted for a date: corrections win), with
    their holes (more than 10 business days without a daily value) as notes."""
    by_signal: dict[str, dict[dt.date, float]] = {}
    for signal in signals:
        if start is None or signal.observation_date >= start:
            by_signal.setdefault(signal.signal_id, {})[signal.observation_date] = signal.value
    notes: list[str] = []
    out: dict[str, SignalSeries] = {}
    for signal_id in wanted if wanted is not None else sorted(by_signal):
        values = by_signal.get(signal_id)
        if not values or signal_id == INDEX_SIGNAL:
            continue
        days = sorted(values)
        series = pd.Series(
            [values[d] for d in days], index=pd.DatetimeIndex([pd.Timestamp(d) for d in days]), dtype=float
        )
        frequency = _frequency(signal_id)
        holes = _holes(series) if frequency == "daily" else ()
        for first, last in holes:
            notes.append(f"{signal_id}: no data {first} .. {last} (hole in the copy); those days are skipped")
        out[signal_id] = SignalSeries(signal_id, frequency, series, holes)
    return out, notes


def history_prints(data_dir: Path, notes: list[str]) -> list[Print]:
    """The prints of every series a signal is built from, in publication order; missing files noted."""
    plan = plan_replay(data_dir, SIGNAL_SERIES, START, _END_OF_TIME, skip_missing=True)
    for series_id in plan.missing:
        notes.append(f"missing {series_id}.csv: signals built from it are skipped")
    return list(plan.prints)


def default_plan() -> dict[str, list[DetectorSpec]]:
    """The default detectors (:data:`streams.config.DEFAULTS`) as an engine plan."""
    return {spec.signal: [spec] for spec in DEFAULTS}


def alarms_by_detector(run: InProcessRun) -> dict[tuple[str, str], dict[dt.date, bool]]:
    """Each detector's alarm state per learned date, from a traced in-process run."""
    out: dict[tuple[str, str], dict[dt.date, bool]] = {}
    for point in run.points:
        out.setdefault((point.signal, point.detector), {})[point.observation_date] = point.alarm
    return out


def _run(detector: Detector, observations: Iterable[tuple[dt.date, dict[str, float]]]) -> dict[dt.date, bool]:
    alarms = {}
    for day, x in observations:
        detector.learn_one(x)
        alarms[day] = detector.alarm
    return alarms


def _univariate(series: SignalSeries) -> list[tuple[dt.date, dict[str, float]]]:
    return [
        (stamp.date(), observation_at(stamp.date(), {"value": float(value)}))
        for stamp, value in series.values.items()
    ]


def multivariate_observations(signals: dict[str, SignalSeries]) -> list[tuple[dt.date, dict[str, float]]]:
    """One vector per day with a daily value; weekly prints enter on the business day after their date."""
    columns = {}
    for signal in signals.values():
        values = signal.values
        if signal.frequency == "weekly":
            shifted = [pd.Timestamp(next_business_day(d.date())) for d in values.index]
            values = pd.Series(values.to_numpy(), index=pd.DatetimeIndex(shifted))
        columns[signal.id] = values
    frame = pd.DataFrame(columns).sort_index()
    daily = [s.id for s in signals.values() if s.frequency == "daily"]
    frame = frame[frame[daily].notna().any(axis=1)] if daily else frame
    out = []
    for stamp, row in frame.iterrows():
        day = pd.Timestamp(stamp).date()
        out.append(
            (day, observation_at(day, {name: float(v) for name, v in row.items() if not math.isnan(v)}))
        )
    return out


@dataclasses.dataclass(frozen=True)
class Row:
    """The backtest of one detector configuration on one signal (or on the vector of signals)."""

    signal: str
    detector: str
    params: dict[str, Any]
    episodes: dict[str, int | str | None]  # lead (<0) or lag in business days; None: missed
    calm_alarms_per_year: float
    alarm_day_share: float
    default: bool = False

    @property
    def detected(self) -> int:
        """How many episodes were detected."""
        return sum(isinstance(lag, int) for lag in self.episodes.values())


def _daily_alarm_days(alarms: dict[dt.date, bool]) -> list[tuple[dt.date, bool | None]]:
    """Alarm state on every business day: an observation's state holds until the next one (a weekly
    print is in force for its week), but not across a hole in the data, where it is None."""
    if not alarms:
        return []
    days = sorted(alarms)
    out: list[tuple[dt.date, bool | None]] = []
    day, index = days[0], 0
    state: bool | None = None
    last_seen = days[0]
    while day <= days[-1]:
        while index < len(days) and days[index] <= day:
            state, last_seen = alarms[days[index]], days[index]
            index += 1
        if is_business_day(day):
            stale = business_days_between(last_seen, day) > DETECTION_LEAD_BUSINESS_DAYS
            out.append((day, None if stale else state))
        day += dt.timedelta(days=1)
    return out


def overlaps(episode: Episode, start: dt.date, end: dt.date) -> bool:
    """Whether ``episode`` overlaps the window ``start .. end``."""
    return episode.start <= end and episode.end >= start


def spans_calm_stretch(start: dt.date, end: dt.date) -> bool:
    """Whether ``start .. end`` spans the calm stretch (else its false-alarm rate means nothing)."""
    return start <= CALM_STRETCH[0] and end >= CALM_STRETCH[1]


def detection_window_start(episode: Episode) -> dt.date:
    """First day an alarm counts for ``episode``: :data:`DETECTION_LEAD_BUSINESS_DAYS` before its start."""
    day = episode.start
    for _ in range(DETECTION_LEAD_BUSINESS_DAYS):
        day = previous_business_day(day)
    return day


def score_alarms(
    signal: str, detector: str, params: dict[str, Any], alarms: dict[dt.date, bool], default: bool = False
) -> Row:
    """Episode detection, lead/lag and calm-stretch false alarms of one alarm history."""
    daily = _daily_alarm_days(alarms)
    episodes: dict[str, int | str | None] = {}
    for episode in EPISODES:
        window_start = detection_window_start(episode)
        window = [(day, on) for day, on in daily if window_start <= day <= episode.end]
        if not any(on is not None for _, on in window):
            episodes[episode.id] = "no data"
            continue
        first = next((day for day, on in window if on), None)
        episodes[episode.id] = None if first is None else business_days_between(episode.start, first)
    calm_start, calm_end = CALM_STRETCH
    before = [on for day, on in daily if day < calm_start]
    previous = bool(before[-1]) if before else False
    onsets = 0
    for day, on in daily:
        if calm_start <= day <= calm_end:
            onsets += bool(on) and not previous
            previous = bool(on)
    years = (calm_end - calm_start).days / 365.25
    known = [on for _, on in daily if on is not None]
    share = sum(known) / len(known) if known else 0.0
    return Row(signal, detector, params, episodes, onsets / years, share, default)


def candidates(signal_id: str) -> list[DetectorSpec]:
    """Detector configurations tried on one signal: every univariate detector, set for the signal."""
    profile = SIGNALS[signal_id].stress
    if profile is None:
        raise ValueError(f"{signal_id} has no stress profile in the catalogue: nothing to evaluate")
    side, min_scale = profile.side, profile.min_scale

    def spec(name: str, params: dict[str, Any]) -> DetectorSpec:
        return DetectorSpec(signal_id, name, params)

    choices = [
        spec("robust_zscore", {"side": side, "min_scale": min_scale, "threshold": 5.0}),
        spec("robust_zscore", {"side": side, "min_scale": min_scale, "threshold": 8.0,
                                         "k": 2, "n": 3}),
        spec("quantile_exceedance", {"side": side, "q": 0.99, "window": 250}),
        spec("quantile_exceedance", {"side": side, "q": 0.99, "window": 250, "k": 3, "n": 5}),
        spec("cusum", {"side": side, "min_scale": min_scale}),
        spec("bocpd", {"min_scale": min_scale}),
        spec("adwin", {}),
        spec("page_hinkley", {"mode": side, "min_scale": min_scale}),
        spec("kswin", {}),
        spec("calibrated", {"detector": "robust_zscore",
                                      "detector_params": {"side": side, "min_scale": min_scale},
                                      "alarm_probability": 0.005, "k": 2, "n": 3}),
    ]  # fmt: skip
    if profile.persistence_levels is not None:
        enter, exit_ = profile.persistence_levels
        choices.insert(0, spec("persistence_threshold", {"enter_level": enter, "exit_level": exit_}))
    return choices


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Rows (baselines included), notes on skipped data, the run's size, how long the defaults took."""

    rows: list[Row]
    notes: list[str]
    defaults_seconds: float
    observations: int
    prints: int = 0


def evaluate(
    data_dir: Path, *, defaults_only: bool = False, progress: Callable[[str], None] | None = None
) -> EvaluationResult:
    """Backtest every candidate (or only the defaults) on every derivable signal with a stress profile.

    One in-process run derives the signals and runs the default detectors (their rows are that
    run's alarms); the other candidates are run over the signal series it derived.
    """
    notes: list[str] = []
    prints = history_prints(data_dir, notes)
    started = time.perf_counter()
    run = run_in_process(prints, default_plan(), trace=True)
    default_seconds = time.perf_counter() - started
    signals, hole_notes = signal_series(run.signals, EVALUATED_SIGNALS, START)
    notes += hole_notes
    engine_alarms = alarms_by_detector(run)
    defaults = {spec.signal: spec for spec in DEFAULTS}
    rows: list[Row] = []
    for signal_id, series in signals.items():
        observations_of_signal = _univariate(series)
        default = defaults.get(signal_id)
        configs = [default] if defaults_only and default else ([] if defaults_only else candidates(signal_id))
        if default and default not in configs:
            configs.append(default)
        for choice in configs:
            if choice == default:
                alarms = engine_alarms.get((signal_id, choice.name), {})
            else:
                alarms = _run(choice.build(), observations_of_signal)
            rows.append(score_alarms(signal_id, choice.name, choice.params, alarms, choice == default))
        if progress:
            progress(signal_id)
    index = defaults[INDEX_SIGNAL]
    alarms = engine_alarms.get((INDEX_SIGNAL, index.name), {})
    rows.append(score_alarms("all signals", index.name, index.params, alarms, True))
    if not defaults_only:
        vectors = multivariate_observations(signals)
        alarms = _run(DetectorSpec("all signals", "half_space_trees").build(), vectors)
        rows.append(score_alarms("all signals", "half_space_trees", {}, alarms, False))
    spread = signals.get("sofr_iorb_spread_bp")
    if spread is not None:
        rows.extend(baseline_rows({s.date(): float(v) for s, v in spread.values.items()}))
    return EvaluationResult(rows, notes, default_seconds, len(run.points), len(prints))


def baseline_rows(spread: dict[dt.date, float]) -> list[Row]:
    """The dummy baselines on the dates of SOFR - IORB: never, always, and the plain rule SOFR > IORB."""
    days = sorted(spread)
    return [
        score_alarms("baseline", "never alarm", {}, dict.fromkeys(days, False)),
        score_alarms("baseline", "always alarm", {}, dict.fromkeys(days, True)),
        score_alarms("baseline", "plain rule SOFR > IORB", {}, {d: spread[d] > 0 for d in days}),
    ]


def _format_params(params: dict[str, Any]) -> str:
    def short(value: Any) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}={short(v)}" for k, v in value.items()) + "}"
        return str(value)

    return ", ".join(f"{k}={short(v)}" for k, v in params.items()) or "defaults"


def _format_lag(lag: int | str | None) -> str:
    if lag is None:
        return "missed"
    if isinstance(lag, str):
        return lag
    return f"{lag:+d}"


def episode_table(
    rows: Iterable[Row], *, parameters: bool = True, window: tuple[dt.date, dt.date] | None = None
) -> tuple[list[str], list[list[str]]]:
    """The episode table, as text cells: its header and one list of cells per row.

    Per episode the lead (negative) or lag in business days, ``missed``, ``no data`` or, when a
    ``window`` is given and the episode is outside it, ``outside window``; then episodes detected
    out of those with data, calm false alarms per year (``n/a`` when the window does not span the
    calm stretch) and the share of alarm days. ``parameters`` adds each row's detector parameters.
    Every renderer of the table (markdown here, HTML in :mod:`offline.report`) uses these cells.
    """
    start, end = window or (dt.date.min, dt.date.max)
    in_window = {e.id: overlaps(e, start, end) for e in EPISODES}
    covers_calm = spans_calm_stretch(start, end)
    header = [
        "signal",
        "detector",
        *(["parameters"] if parameters else []),
        *[e.id for e in EPISODES],
        "detected",
        "calm false alarms/yr",
        "alarm days",
    ]
    body = []
    for row in rows:
        lags = {e.id: row.episodes[e.id] for e in EPISODES if in_window[e.id]}
        scored = [lag for lag in lags.values() if lag != "no data"]
        body.append([
            row.signal,
            row.detector,
            *([_format_params(row.params)] if parameters else []),
            *[_format_lag(lags[e.id]) if e.id in lags else "outside window" for e in EPISODES],
            f"{sum(isinstance(lag, int) for lag in scored)}/{len(scored)}",
            f"{row.calm_alarms_per_year:.1f}" if covers_calm else "n/a",
            f"{row.alarm_day_share:.0%}",
        ])  # fmt: skip
    return header, body


def markdown_table(header: list[str], body: list[list[str]], bold: Iterable[bool] = ()) -> str:
    """A markdown table of text cells; rows flagged in ``bold`` have every cell in bold."""
    flags = list(bold)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for number, cells in enumerate(body):
        if number < len(flags) and flags[number]:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render_markdown(result: EvaluationResult, command: str = "plumbline generate") -> str:
    """The evaluation table and notes, as the generated section of docs/detectors.md.

    Only figures that follow from the data (no timings), so the same data gives the same text.
    """
    header, body = episode_table(result.rows)
    lines = [
        GENERATED_BEGIN,
        f"Generated by `{command}` from the data directory (`$PLUMBLINE_DATA_DIR`); do not edit. "
        "Episode columns: business days from the "
        f"episode start to the first alarm day in the window [start - {DETECTION_LEAD_BUSINESS_DAYS} "
        "business days, end] (negative = lead), or `missed`. Calm stretch: "
        f"{CALM_STRETCH[0]} .. {CALM_STRETCH[1]}; false alarms are alarm onsets there, per year. "
        "**Bold** rows are the defaults (`DEFAULTS` in `streams/config.py`).",
        "",
        markdown_table(header, body, [row.default for row in result.rows]).rstrip("\n"),
        "",
        "Data notes (skipped, not invented):",
        "",
    ]
    lines += [f"- {note}" for note in result.notes] or ["- none"]
    lines += [
        "",
        f"Signals and default detectors over the whole history, in the in-process engine: "
        f"{result.prints} prints, {result.observations} detector observations.",
        GENERATED_END,
    ]
    return "\n".join(lines) + "\n"


def replace_generated_section(text: str, section: str) -> str:
    """``text`` with its generated section replaced by ``section`` (appended when it has none)."""
    if GENERATED_BEGIN in text and GENERATED_END in text:
        before = text[: text.index(GENERATED_BEGIN)]
        after = text[text.index(GENERATED_END) + len(GENERATED_END) :].lstrip("\n")
        return before + section + ("\n" + after if after else "")
    return text.rstrip("\n") + "\n\n" + section


def write_generated_section(doc_path: Path, section: str) -> None:
    """Replace the generated section of ``doc_path`` (or append it when there is none)."""
    text = doc_path.read_text() if doc_path.exists() else "# Detectors\n\n"
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    doc_path.write_text(replace_generated_section(text, section))
