"""The written procedure that chooses every detector default, persistence level and rule threshold.

**Training window** 2018-04-01 .. 2021-12-31 only (:data:`TRAIN`): the repo spike of 2019 and the
dash for cash of 2020, and the first calm year of the reserve glut (2021). **Test window**
2022-01-01 .. the end of the data (:data:`TEST`): the 2023 TGA rebuild, calm 2022-2024, Q4 2025.

Every candidate is an online detector (or a rule, evaluated by Prometheus, that reads only the
past), so one run over the whole history gives its state on every day with no look-ahead; the
selection reads only the days of the training window, and the test columns are the same runs'
other days.

For each signal (and each rule threshold), the candidates are ranked by, in order:

1. **calm**: at most :data:`MAX_CALM_ONSETS_PER_YEAR` alarm onsets a year in the calm part of the
   window (2021-01-04 .. 2021-12-31 in training); a candidate above it is out;
2. **caught**: most episodes with the alarm on between 10 business days before the episode's start
   and its deadline, the business day before the Fed's first reaction (``offline/rules.py:
   FED_FIRST_REACTION``; the episode's end when there was none);
3. **quiet**: fewest alarm onsets a year outside the episodes' windows (pages nobody needed);
4. **early**: the earliest mean first alarm relative to the episodes' starts;
5. **order**: the candidate listed first (the candidates of ``offline/evaluation.py: candidates``,
   then the persistence levels of :data:`PERSISTENCE_LEVELS`; for a threshold, the shipped value
   first, then the lattice of :func:`threshold_grid`).

For a critical rule's threshold, rule 1 also requires that no run of firing lasts more than 5
business days in the window (the page budget). A detector or threshold no candidate of which
catches a training episode keeps its shipped value and is reported as *not identified by the
training data* (a signal with no shipped detector stays without one). SOFR - IORB's detector
family is fixed by its role (the rules read ``persistence_threshold`` by name): only its levels
are chosen. Rule thresholds
are varied one at a time, the others at their shipped values, on the rule with the highest
severity that carries the marker; the rule's expression with the candidate substituted is
range-queried on the backfilled history by a temporary Prometheus (:mod:`offline.rules`).

**Leave-one-episode-out**: the same ranking with the training window replaced by the whole
history minus one episode (the calm check on the whole calm stretch 2021-01-04 .. 2023-05-31),
and whether the candidate chosen without it catches the episode left out.

``plumbline evaluate --select`` runs it and prints :func:`render_markdown`; the result is the
generated section of ``docs/selection.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from foundation.calendar import business_days_between, date_of_timestamp, is_business_day
from foundation.catalogue import INDEX_SIGNAL
from foundation.episodes import CALM_STRETCH, EPISODES, Episode
from offline.backtest import BacktestResult
from offline.evaluation import (
    EVALUATED_SIGNALS,
    _daily_alarm_days,
    _run,
    _univariate,
    alarms_by_detector,
    candidates,
    detection_window_start,
)
from offline.rules import (
    PAGE_BUDGET,
    RULE_FILES,
    AlertRule,
    alert_histories,
    deadline,
    history_prometheus,
    load_rules,
)
from streams.config import DEFAULTS, DetectorSpec
from streams.inprocess import run_in_process

__all__ = [
    "MAX_CALM_ONSETS_PER_YEAR",
    "TEST",
    "TRAIN",
    "Choice",
    "Score",
    "Selection",
    "render_markdown",
    "score",
    "select",
]

TRAIN = (dt.date(2018, 4, 1), dt.date(2021, 12, 31))
TEST = (dt.date(2022, 1, 1), dt.date(9999, 12, 31))
#: The calm part of the training window: the glut's first year.
TRAIN_CALM = (CALM_STRETCH[0], TRAIN[1])
#: The page budget's rate: at most one false onset every two calm years.
MAX_CALM_ONSETS_PER_YEAR = 0.5
#: Persistence levels (enter, exit) in bp tried on SOFR - IORB, besides the catalogue's.
PERSISTENCE_LEVELS = ((3.0, 1.0), (5.0, 2.0), (8.0, 3.0), (10.0, 5.0))
#: Composite-index thresholds tried.
INDEX_THRESHOLDS = (2.5, 3.0, 4.0, 5.0)
#: Rule thresholds are tried on a fixed lattice of round numbers (these mantissas times powers of ten,
#: with the shipped value's sign) from a quarter to four times the shipped value. The lattice does not
#: move with the shipped value, so a choice inside both ranges is a fixed point: rerunning the
#: procedure after shipping its choice chooses it again.
THRESHOLD_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
THRESHOLD_RANGE = 4.0


def threshold_grid(value: float) -> list[float]:
    """The shipped ``value`` first, then the lattice from ``value / 4`` to ``4 * value``.

    >>> threshold_grid(25.0)[:4]
    [25.0, 8.0, 10.0, 12.0]
    """
    if value == 0:
        return [0.0]
    size, sign = abs(value), math.copysign(1.0, value)
    lattice = {
        m * 10.0**power
        for power in range(math.floor(math.log10(size)) - 2, math.floor(math.log10(size)) + 2)
        for m in THRESHOLD_MANTISSAS
    }
    inside = sorted(x for x in lattice if size / THRESHOLD_RANGE <= x <= size * THRESHOLD_RANGE)
    return [value] + [sign * float(f"{x:.6g}") for x in inside if not math.isclose(x, size)]


@dataclasses.dataclass(frozen=True)
class Score:
    """One alarm history scored on one window."""

    calm_onsets_per_year: float
    caught: dict[str, int | None]  # per episode: lead (<0) or lag in business days, None: missed
    outside_onsets_per_year: float
    alarm_day_share: float
    longest_business_days: int = 0
    max_business_days: int | None = None  # a critical rule's limit on the longest run

    @property
    def caught_count(self) -> int:
        """Episodes caught by their deadline."""
        return sum(lag is not None for lag in self.caught.values())

    def key(self) -> tuple[bool, int, float, float]:
        """The ranking key, larger is better (rules 1-4 of the procedure)."""
        lags = [lag for lag in self.caught.values() if lag is not None]
        mean_lag = sum(lags) / len(lags) if lags else math.inf
        short = self.max_business_days is None or self.longest_business_days <= self.max_business_days
        return (
            self.calm_onsets_per_year <= MAX_CALM_ONSETS_PER_YEAR and short,
            self.caught_count,
            -round(self.outside_onsets_per_year, 6),
            -mean_lag,
        )


def _episode_deadline(episode: Episode) -> dt.date:
    return deadline(episode) or episode.end


def score(
    daily: list[tuple[dt.date, bool | None]],
    window: tuple[dt.date, dt.date],
    episodes: Iterable[Episode],
    calm: tuple[dt.date, dt.date],
    max_business_days: int | None = None,
) -> Score:
    """Score an alarm state per business day on ``window``: the episodes in it, the ``calm`` part."""
    start, end = window
    days = [(day, bool(on)) for day, on in daily if start <= day <= end]
    end = min(end, days[-1][0]) if days else end
    chosen = [e for e in episodes if start <= e.start and e.end <= end]
    caught: dict[str, int | None] = {}
    for episode in chosen:
        first = next(
            (
                d
                for d, on in days
                if on and detection_window_start(episode) <= d <= _episode_deadline(episode)
            ),
            None,
        )
        caught[episode.id] = None if first is None else business_days_between(episode.start, first)

    def onsets(inside: Callable[[dt.date], bool]) -> int:
        count, previous = 0, False
        for day, on in days:
            if inside(day):
                count += on and not previous
            previous = on
        return count

    calm_start, calm_end = max(calm[0], start), min(calm[1], end)
    calm_years = max((calm_end - calm_start).days, 1) / 365.25
    calm_onsets = onsets(lambda d: calm_start <= d <= calm_end)
    windows = [(detection_window_start(e), e.end) for e in episodes]
    outside = onsets(lambda d: not any(a <= d <= b for a, b in windows))
    years = max((end - start).days, 1) / 365.25
    known = [on for _, on in days]
    longest = run = 0
    for _, on in days:
        run = run + 1 if on else 0
        longest = max(longest, run)
    share = sum(known) / len(known) if known else 0.0
    return Score(calm_onsets / calm_years, caught, outside / years, share, longest, max_business_days)


@dataclasses.dataclass(frozen=True)
class Choice:
    """What the procedure chose for one signal or threshold, its training and test scores, and LOO."""

    name: str  # signal id or threshold name
    chosen: str  # the candidate, as text
    shipped: str  # what is shipped now, as text
    train: Score | None
    test: Score | None
    leave_one_out: dict[str, int | str | None]  # per episode: lag of the choice made without it
    note: str = ""

    @property
    def agrees(self) -> bool:
        """Whether the shipped value is the chosen one."""
        return self.chosen == self.shipped


@dataclasses.dataclass
class Selection:
    """Every choice of the procedure."""

    detectors: list[Choice]
    thresholds: list[Choice]
    end: dt.date


def _spec_text(spec: DetectorSpec | None) -> str:
    if spec is None:
        return "none"
    params = ", ".join(
        f"{k}={v}" for k, v in spec.params.items() if k not in ("lower_is_stress", "min_scales")
    )
    return f"{spec.name}({params})"


def _best(
    runs: list[tuple[str, list[tuple[dt.date, bool | None]]]],
    window: tuple[dt.date, dt.date],
    episodes: list[Episode],
    calm: tuple[dt.date, dt.date],
    limit: int | None = None,
) -> tuple[int, Score]:
    scored = [score(daily, window, episodes, calm, limit) for _, daily in runs]
    best = max(range(len(runs)), key=lambda i: (*scored[i].key(), -i))
    return best, scored[best]


def _choose(
    name: str,
    runs: list[tuple[str, list[tuple[dt.date, bool | None]]]],
    shipped: str,
    end: dt.date,
    keep_when_nothing_caught: int | None,
    limit: int | None = None,
) -> Choice:
    """Rank ``runs`` (text, daily alarm state) on training; score the winner on test; leave-one-out."""
    training_episodes = [e for e in EPISODES if TRAIN[0] <= e.start and e.end <= TRAIN[1]]
    best, train = _best(runs, TRAIN, training_episodes, TRAIN_CALM, limit)
    note = ""
    if train.caught_count == 0:
        if keep_when_nothing_caught is None:
            chosen_text, test = "none", None
            note = "no candidate caught a training episode: not shipped"
            return Choice(name, chosen_text, shipped, train, test, _leave_one_out(runs, limit), note)
        best = keep_when_nothing_caught
        train = score(runs[best][1], TRAIN, training_episodes, TRAIN_CALM, limit)
        note = "not identified by the training data: the shipped value is kept"
    test_episodes = [e for e in EPISODES if e.start >= TEST[0]]
    test = score(runs[best][1], (TEST[0], end), test_episodes, (TEST[0], CALM_STRETCH[1]))
    return Choice(name, runs[best][0], shipped, train, test, _leave_one_out(runs, limit), note)


def _leave_one_out(
    runs: list[tuple[str, list[tuple[dt.date, bool | None]]]], limit: int | None
) -> dict[str, int | str | None]:
    out: dict[str, int | str | None] = {}
    everything = (TRAIN[0], dt.date(9999, 12, 31))
    for left_out in EPISODES:
        others = [e for e in EPISODES if e is not left_out]
        best, without = _best(runs, everything, others, CALM_STRETCH, limit)
        if without.caught_count == 0:
            out[left_out.id] = "none chosen"
            continue
        held = score(runs[best][1], everything, [left_out], CALM_STRETCH)
        out[left_out.id] = held.caught.get(left_out.id, "no data")
    return out


# --- detectors ----------------------------------------------------------------------------------


def _detector_candidates(signal_id: str) -> list[DetectorSpec]:
    found = candidates(signal_id)
    if signal_id == "sofr_iorb_spread_bp":
        # The family is fixed by its role: SOFRAboveIORB's regime state and its entry page read
        # persistence_threshold by name; only its levels are chosen.
        found = [
            DetectorSpec(signal_id, "persistence_threshold", {"enter_level": enter, "exit_level": exit_})
            for enter, exit_ in PERSISTENCE_LEVELS
        ]
    shipped = next((d for d in DEFAULTS if d.signal == signal_id), None)
    unique: list[DetectorSpec] = []
    for spec in ([shipped] if shipped else []) + found:
        if all(spec.name != u.name or spec.params != u.params for u in unique):
            unique.append(spec)
    return unique


def select_detectors(result: BacktestResult) -> list[Choice]:
    """Choose the detector of every evaluated signal, and the composite index's threshold."""
    choices = []
    end = result.end
    for signal_id in EVALUATED_SIGNALS:
        series = result.signals.get(signal_id)
        if series is None:
            continue
        observations = _univariate(series)
        runs = []
        for spec in _detector_candidates(signal_id):
            runs.append((_spec_text(spec), _daily_alarm_days(_run(spec.build(), observations))))
        shipped = next((d for d in DEFAULTS if d.signal == signal_id), None)
        choices.append(_choose(signal_id, runs, _spec_text(shipped), end, 0 if shipped else None))
    index = next(d for d in DEFAULTS if d.signal == INDEX_SIGNAL)
    runs = []
    for threshold in sorted(INDEX_THRESHOLDS, key=lambda t: t != index.params.get("threshold")):
        spec = dataclasses.replace(index, params={**index.params, "threshold": threshold})
        run = run_in_process(result.plan.prints, {INDEX_SIGNAL: [spec]}, trace=True)
        alarms = alarms_by_detector(run).get((INDEX_SIGNAL, spec.name), {})
        runs.append((_spec_text(spec), _daily_alarm_days(alarms)))
    choices.append(_choose(INDEX_SIGNAL, runs, _spec_text(index), end, 0))
    return choices


# --- rule thresholds ----------------------------------------------------------------------------

_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def _marked_rules(paths: Iterable[Path] = RULE_FILES) -> dict[str, tuple[float, list[int]]]:
    """Each ``# threshold:`` marker: its value and the positions (in load order) of the rules it marks."""
    found: dict[str, tuple[float, list[int]]] = {}
    position = -1
    for path in paths:
        for line in path.read_text().splitlines():
            if re.match(r"\s*- alert: ", line):
                position += 1
            marker = re.match(r"\s*# threshold: (\w+) = (\S+)$", line)
            if marker and position >= 0:
                # A marker is a comment inside the rule it belongs to, after its `- alert:` line.
                value, positions = found.get(marker.group(1), (float(marker.group(2)), []))
                found[marker.group(1)] = (value, [*positions, position])
    return found


def _substitute(expr: str, old: float, new: float) -> str:
    literal = f"{old:g}"
    return re.sub(rf"(?<![\w.]){re.escape(literal)}(?![\w.])", f"{new:g}", expr)


def _rule_daily(histories: list[Any], days: list[dt.date]) -> list[tuple[dt.date, bool | None]]:
    firing = [any(h.firing[i] for h in histories) for i in range(len(days))]
    return [(day, on) for day, on in zip(days, firing, strict=True) if is_business_day(day)]


def select_thresholds(result: BacktestResult) -> list[Choice]:
    """Choose every marked rule threshold (one at a time) on the history in a temporary Prometheus."""
    _recording, alerting = load_rules()
    marked = _marked_rules()
    choices = []
    with history_prometheus(result) as (prometheus, steps, _samples):
        days = [date_of_timestamp(moment) for moment in steps]
        for name, (value, positions) in marked.items():
            rules = sorted((alerting[p] for p in positions), key=lambda r: _SEVERITY_RANK.get(r.severity, 3))
            rule: AlertRule = rules[0]
            grid = threshold_grid(value)
            runs = []
            for candidate in grid:
                changed = dataclasses.replace(rule, expr=_substitute(rule.expr, value, candidate))
                runs.append(
                    (f"{candidate:g}", _rule_daily(alert_histories(prometheus, changed, steps), days))
                )
            limit = PAGE_BUDGET.max_critical_business_days if rule.severity == "critical" else None
            choice = _choose(name, runs, f"{value:g}", result.end, 0, limit)
            choices.append(dataclasses.replace(choice, name=f"{name} ({rule.alert}, {rule.severity})"))
    return choices


def select(result: BacktestResult) -> Selection:
    """Run the whole procedure on a full-history backtest (default detectors, replay off)."""
    return Selection(select_detectors(result), select_thresholds(result), result.end)


# --- rendering ----------------------------------------------------------------------------------


def _lag(value: int | str | None) -> str:
    if value is None:
        return "missed"
    if isinstance(value, str):
        return value
    return f"{value:+d}"


def _table(choices: list[Choice]) -> list[str]:
    test_ids = [e.id for e in EPISODES if e.start >= TEST[0]]
    train_ids = [e.id for e in EPISODES if TRAIN[0] <= e.start and e.end <= TRAIN[1]]
    lines = [
        "| what | chosen on 2018-04..2021-12 | shipped | train: "
        + ", ".join(train_ids)
        + " | train calm onsets/yr | test: "
        + " | test: ".join(test_ids)
        + " | test false onsets/yr | leave-one-out: "
        + ", ".join(e.id for e in EPISODES)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(test_ids) + "---|---|",
    ]
    for c in choices:
        train = ", ".join(_lag(c.train.caught[i]) for i in train_ids) if c.train else "-"
        calm = f"{c.train.calm_onsets_per_year:.1f}" if c.train else "-"
        tests = [_lag(c.test.caught.get(i, "no data")) if c.test else "-" for i in test_ids]
        outside = f"{c.test.outside_onsets_per_year:.1f}" if c.test else "-"
        loo = ", ".join(_lag(c.leave_one_out[e.id]) for e in EPISODES)
        shipped = c.shipped if c.agrees else f"**{c.shipped}**"
        chosen = c.chosen + (f" ({c.note})" if c.note else "")
        lines.append(
            f"| {c.name} | {chosen} | {shipped} | {train} | {calm} | "
            + " | ".join(tests)
            + f" | {outside} | {loo} |"
        )
    return lines


def render_markdown(selection: Selection) -> str:
    """The selection's tables: detectors, then rule thresholds (a shipped value in bold differs)."""
    return "\n".join(
        [
            f"Out of sample: test columns are 2022-01-01 .. {selection.end}; lags in business days from the "
            "episode start to the first alarm day by the deadline (negative = lead), `missed`, or `no data`.",
            "Test false onsets/yr: alarm onsets outside the episodes' windows in the test window. "
            "Leave-one-out: the lag on each episode of the candidate chosen without it.",
            "",
            "### Detectors",
            "",
            *_table(selection.detectors),
            "",
            "### Rule thresholds",
            "",
            *_table(selection.thresholds),
            "",
        ]
    )
