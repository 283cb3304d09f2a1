"""The shipped alert rules on real history, evaluated by a real Prometheus, delivered as Alertmanager would.

No copy of the rules lives here: the PromQL of ``deploy/prometheus/rules/funding.yml`` is evaluated
by Prometheus itself on the worker's metrics over history.

1. **Backfill.** The full-history backtest (the worker's engines in-process, ``offline/backtest.py``)
   is written as OpenMetrics by :func:`offline.backfill.write_openmetrics`, one sample per day at
   00:00 UTC holding the newest observation dated on or before it, labelled ``replay="false"``: the
   history is scored as if it had been live, so it takes the live routes. ``promtool tsdb
   create-blocks-from openmetrics`` turns it into blocks, and a temporary Prometheus
   (:mod:`offline.prometheus`) serves them.
2. **Recording rules**, in file order and layer by layer (a rule reading another's output comes after
   it): each one's expression is range-queried at one-day steps aligned to 00:00 UTC (a rule
   evaluation *is* an instant query at its evaluation time), the result is written under the rule's
   name and labels as blocks, and Prometheus restarts to load them. ``promtool tsdb
   create-blocks-from rules`` does the same but evaluates at the group's hashed offset within the
   interval (hours away from the daily samples, so it sees nothing through the 5-minute lookback)
   and issues one query per two-hour block, 37,000 per rule over this history.
3. **Alerting rules**: each expression is range-queried at the same steps; every result series is an
   alert (its labels plus the rule's), pending until it has held for ``for:`` and firing for
   ``keep_firing_for`` after it stops holding, both at daily resolution.
4. **Alertmanager**: the firing alerts of every step go through the routing tree, grouping,
   inhibition and repeat intervals of ``deploy/alertmanager/alertmanager.yml``
   (:mod:`offline.alertmanager`).

:func:`report` renders ``deploy/prometheus/BACKTEST.md`` with the page budget
(:data:`PAGE_BUDGET`) checked against the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from foundation.calendar import (
    business_days_between,
    date_of_timestamp,
    is_business_day,
    previous_business_day,
    timestamp_of_date,
)
from foundation.episodes import CALM_STRETCH, EPISODES, Episode
from offline.alertmanager import AlertmanagerConfig, Notification, load_config, notifications
from offline.alertmanager import parse_duration_seconds as _duration
from offline.backfill import create_blocks, write_openmetrics
from offline.backtest import BacktestResult
from offline.evaluation import detection_window_start
from offline.prometheus import PrometheusError, TemporaryPrometheus

__all__ = [
    "FED_FIRST_REACTION",
    "PAGE_BUDGET",
    "THRESHOLDS",
    "AlertHistory",
    "AlertRule",
    "RecordingRule",
    "RulesBacktest",
    "alert_histories",
    "deadline",
    "evaluate_rules",
    "history_prometheus",
    "load_rules",
    "report",
    "thresholds",
]

#: The repository the rule files belong to (this package's parent directory).
_ROOT = Path(__file__).resolve().parents[1]
#: The rule files evaluated on history. deploy/prometheus/rules/pipeline.yml watches the pipeline
#: itself (targets up, dead letters, lag): history has none of those inputs, so it is listed, not run.
RULE_FILES = (_ROOT / "deploy" / "prometheus" / "rules" / "funding.yml",)
NOT_EVALUATED = (_ROOT / "deploy" / "prometheus" / "rules" / "pipeline.yml",)
ALERTMANAGER_CONFIG = _ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

STEP_SECONDS = 86400

#: The central bank's first reaction to each episode (shared/DOMAIN.md, "When the Fed reacted"): a
#: page helps only if it comes on prints observed no later than the business day before. None: the
#: Fed did not react.
FED_FIRST_REACTION: dict[str, dt.date | None] = {
    "repo_spike_2019": dt.date(2019, 9, 17),  # first overnight repo operation since 2009, 09:30 ET
    "dash_for_cash_2020": dt.date(2020, 3, 9),  # overnight repo offer raised to $150bn
    "tga_rebuild_2023": None,  # no reaction: reserves stayed ample while ON RRP drained
    "q4_2025": dt.date(2025, 10, 29),  # FOMC announces the end of balance-sheet run-off
}


@dataclasses.dataclass(frozen=True)
class Budget:
    """The page budget the shipped rules must meet on history (issue 13)."""

    #: At most this many critical pages a year over ``quiet_years``.
    critical_pages_per_year: float = 0.5
    quiet_years: tuple[int, int] = (2021, 2024)
    #: No alert stays critical longer than this many business days (a standing condition is a regime).
    max_critical_business_days: int = 5


PAGE_BUDGET = Budget()


def thresholds(paths: Iterable[Path] = RULE_FILES) -> dict[str, float]:
    """Every level a rule compares with, by the name of its ``# threshold: NAME = VALUE`` marker.

    The rule file is the one place these numbers live; the marker names them for the selection
    procedure (``offline/selection.py``) and the demo.
    """
    found: dict[str, float] = {}
    for path in paths:
        for name, value in re.findall(r"# threshold: (\w+) = (\S+)\n", path.read_text()):
            found[name] = float(value)
    return found


#: The rules' thresholds, read from the rule files (see :func:`thresholds`).
THRESHOLDS: dict[str, float] = thresholds()


@dataclasses.dataclass(frozen=True)
class RecordingRule:
    """One recording rule of a rule file."""

    record: str
    expr: str
    labels: dict[str, str]


@dataclasses.dataclass(frozen=True)
class AlertRule:
    """One alerting rule of a rule file; ``position`` tells rules of one alert name apart."""

    alert: str
    expr: str
    labels: dict[str, str]
    for_seconds: float
    keep_firing_for_seconds: float
    position: int

    @property
    def severity(self) -> str:
        """The rule's severity label ("" when it has none)."""
        return self.labels.get("severity", "")

    @property
    def name(self) -> str:
        """The alert name with its severity, and its position when one alert has several rules of it."""
        return f"{self.alert} ({self.severity})"


def load_rules(paths: Iterable[Path] = RULE_FILES) -> tuple[list[RecordingRule], list[AlertRule]]:
    """Every recording and alerting rule of ``paths``, in file order."""
    recording: list[RecordingRule] = []
    alerting: list[AlertRule] = []
    for path in paths:
        try:
            body = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise PrometheusError(f"{path}: cannot read the rule file ({exc})") from None
        for group in body.get("groups") or ():
            for rule in group.get("rules") or ():
                labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
                if "record" in rule:
                    recording.append(RecordingRule(str(rule["record"]), str(rule["expr"]), labels))
                else:
                    alerting.append(
                        AlertRule(
                            str(rule["alert"]),
                            str(rule["expr"]),
                            labels,
                            _duration(str(rule["for"])) if "for" in rule else 0.0,
                            _duration(str(rule["keep_firing_for"])) if "keep_firing_for" in rule else 0.0,
                            len(alerting),
                        )
                    )
    return recording, alerting


def _layers(recording: list[RecordingRule]) -> list[list[RecordingRule]]:
    """Recording rules in evaluation layers: a rule after every earlier rule whose output it reads."""
    depth: dict[str, int] = {}
    for rule in recording:
        reads = [
            depth[other.record]
            for other in recording[: recording.index(rule)]
            if re.search(rf"(?<![\w:]){re.escape(other.record)}(?![\w:])", rule.expr)
        ]
        depth[rule.record] = 1 + max(reads, default=-1)
    return [
        [r for r in recording if depth[r.record] == level]
        for level in range(max(depth.values(), default=-1) + 1)
    ]


@dataclasses.dataclass
class AlertHistory:
    """One alert (one label set of one rule) and the steps it fired at."""

    rule: AlertRule
    labels: dict[str, str]
    firing: list[bool]
    values: list[float]


@dataclasses.dataclass
class RulesBacktest:
    """The rules evaluated on history: steps, every alert's firing history, the notifications."""

    days: list[dt.date]
    rules: list[AlertRule]
    alerts: list[AlertHistory]
    notifications: list[Notification]
    config: AlertmanagerConfig
    samples: int
    signal_values: dict[str, dict[dt.date, float]]


def _om_name_labels(metric: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(metric.items()) if k != "__name__")
    return "{" + inner + "}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _materialise(
    prometheus: TemporaryPrometheus, layer: list[RecordingRule], start: float, end: float, scratch: Path
) -> int:
    """Evaluate one layer of recording rules at every step and load the results as blocks."""
    text = scratch / "recorded.om.txt"
    samples = 0
    with text.open("w") as handle:
        for rule in layer:
            handle.write(f"# TYPE {rule.record} gauge\n")
            for series in prometheus.query_range(rule.expr, start, end, STEP_SECONDS):
                labels = {**series["metric"], **rule.labels}
                name_labels = _om_name_labels(labels)
                for moment, value in series["values"]:
                    handle.write(f"{rule.record}{name_labels} {value} {moment:.0f}\n")
                    samples += 1
        handle.write("# EOF\n")
    if samples:
        create_blocks(text, prometheus.data_dir)
        prometheus.restart()
    return samples


def _alert_histories(
    prometheus: TemporaryPrometheus, rule: AlertRule, steps: list[float]
) -> list[AlertHistory]:
    position = {moment: index for index, moment in enumerate(steps)}
    out = []
    for series in prometheus.query_range(rule.expr, steps[0], steps[-1], STEP_SECONDS):
        labels = {k: v for k, v in series["metric"].items() if k != "__name__"}
        labels.update(rule.labels, alertname=rule.alert)
        active = [False] * len(steps)
        values = [math.nan] * len(steps)
        for moment, value in series["values"]:
            active[position[float(moment)]] = True
            values[position[float(moment)]] = float(value)
        out.append(AlertHistory(rule, labels, _pending_and_kept(active, steps, rule), values))
    return out


def _pending_and_kept(active: list[bool], steps: list[float], rule: AlertRule) -> list[bool]:
    """Firing at each step: active for at least ``for:``, or within ``keep_firing_for`` of being so."""
    firing = [False] * len(steps)
    since: float | None = None
    last_firing: float | None = None
    for index, moment in enumerate(steps):
        if active[index]:
            since = moment if since is None else since
            firing[index] = moment - since >= rule.for_seconds
        else:
            since = None
            # keep_firing_for holds a firing alert after its condition ends (a pending one just resets).
            firing[index] = last_firing is not None and moment - last_firing <= rule.keep_firing_for_seconds
        if firing[index] and active[index]:
            last_firing = moment
    return firing


@contextlib.contextmanager
def history_prometheus(
    result: BacktestResult, scratch: Path | None = None
) -> Iterator[tuple[TemporaryPrometheus, list[float], int]]:
    """A temporary Prometheus holding the backtest's history and every recording rule's output.

    Yields it with the daily steps (seconds, 00:00 UTC) of the window and the number of samples
    loaded; stopped and deleted afterwards.
    """
    recording, _alerting = load_rules()
    with tempfile.TemporaryDirectory(prefix="plumbline-rules-", dir=scratch) as directory:
        work = Path(directory)
        data = work / "data"
        text = work / "history.om.txt"
        summary = write_openmetrics(result, text, STEP_SECONDS, replay=False)
        create_blocks(text, data)
        start, end = timestamp_of_date(result.start), timestamp_of_date(result.end)
        steps = [start + i * STEP_SECONDS for i in range(int((end - start) // STEP_SECONDS) + 1)]
        with TemporaryPrometheus(data) as prometheus:
            samples = summary.samples
            for layer in _layers(recording):
                samples += _materialise(prometheus, layer, start, end, work)
            yield prometheus, steps, samples


def alert_histories(
    prometheus: TemporaryPrometheus, rule: AlertRule, steps: list[float]
) -> list[AlertHistory]:
    """Every alert ``rule`` raises at ``steps``: its expression range-queried, ``for:`` and
    ``keep_firing_for`` applied."""
    return _alert_histories(prometheus, rule, steps)


def evaluate_rules(result: BacktestResult, scratch: Path | None = None) -> RulesBacktest:
    """Evaluate every rule of :data:`RULE_FILES` on the backtest's history in a temporary Prometheus.

    About 10 s for 2018..2026; raises :class:`PrometheusError` (one line) when Prometheus or
    promtool is missing or fails.
    """
    _recording, alerting = load_rules()
    config = load_config(ALERTMANAGER_CONFIG)
    with history_prometheus(result, scratch) as (prometheus, steps, samples):
        alerts = [history for rule in alerting for history in _alert_histories(prometheus, rule, steps)]
    firing_at = [[a.labels for a in alerts if a.firing[index]] for index in range(len(steps))]
    sent = notifications(config, steps, firing_at)
    days = [date_of_timestamp(moment) for moment in steps]
    signal_values = {
        signal_id: {stamp.date(): float(v) for stamp, v in series.values.items()}
        for signal_id, series in result.signals.items()
    }
    return RulesBacktest(days, alerting, alerts, sent, config, samples, signal_values)


# --- the report ---------------------------------------------------------------------------------


def deadline(episode: Episode) -> dt.date | None:
    """The last observation date a page for ``episode`` helps: the business day before the reaction."""
    reaction = FED_FIRST_REACTION.get(episode.id)
    return None if reaction is None else previous_business_day(reaction)


@dataclasses.dataclass(frozen=True)
class Run:
    """Consecutive days an alert fired."""

    start: dt.date
    end: dt.date
    business_days: int
    low: float
    high: float


def _runs(days: list[dt.date], alert: AlertHistory) -> list[Run]:
    out: list[Run] = []
    first: int | None = None
    for index in range(len(days) + 1):
        on = index < len(days) and alert.firing[index]
        if on and first is None:
            first = index
        elif not on and first is not None:
            span = days[first:index]
            values = [v for v in alert.values[first:index] if not math.isnan(v)] or [math.nan]
            business = sum(is_business_day(day) for day in span)
            out.append(Run(span[0], span[-1], business, min(values), max(values)))
            first = None
    return out


def _rule_runs(backtest: RulesBacktest, rule: AlertRule) -> list[Run]:
    runs = [run for alert in backtest.alerts if alert.rule == rule for run in _runs(backtest.days, alert)]
    return sorted(runs, key=lambda run: run.start)


def _pages(
    backtest: RulesBacktest, severity: str, kinds: tuple[str, ...] = ("new", "update")
) -> list[Notification]:
    return [n for n in backtest.notifications if n.kind in kinds and severity in n.severities]


def _group_name(notification: Notification) -> str:
    return ", ".join(value for _, value in notification.group if value)


def budget_checks(backtest: RulesBacktest) -> list[tuple[str, bool, str]]:
    """Each check of :data:`PAGE_BUDGET`: what it says, whether it holds, and the evidence."""
    checks: list[tuple[str, bool, str]] = []
    critical = _pages(backtest, "critical")
    for episode in EPISODES:
        last = deadline(episode)
        first_day = detection_window_start(episode)
        if last is None:
            inside = [n for n in critical if first_day <= date_of_timestamp(n.time_seconds) <= episode.end]
            text = (
                ", ".join(f"{date_of_timestamp(n.time_seconds)} {_group_name(n)}" for n in inside) or "none"
            )
            checks.append(
                (
                    f"{episode.id}: no critical page (the Fed did not react; docs/backtest.md says why)",
                    not inside,
                    f"critical pages {first_day} .. {episode.end}: {text}",
                )
            )
            continue
        inside = [n for n in critical if first_day <= date_of_timestamp(n.time_seconds) <= last]
        evidence = (
            f"first: {date_of_timestamp(inside[0].time_seconds)} ({_group_name(inside[0])}), "
            f"{business_days_between(date_of_timestamp(inside[0].time_seconds), last)} business "
            "day(s) before the deadline"
            if inside
            else "none"
        )
        checks.append(
            (
                f"{episode.id}: a critical page from {first_day} to {last} (the business day before "
                f"the Fed's first reaction on {FED_FIRST_REACTION[episode.id]})",
                bool(inside),
                evidence,
            )
        )
    first_year, last_year = PAGE_BUDGET.quiet_years
    quiet = [n for n in critical if first_year <= date_of_timestamp(n.time_seconds).year <= last_year]
    years = last_year - first_year + 1
    rate = len(quiet) / years
    listed = ", ".join(f"{date_of_timestamp(n.time_seconds)} {_group_name(n)}" for n in quiet) or "none"
    checks.append(
        (
            f"at most {PAGE_BUDGET.critical_pages_per_year} critical pages a year over "
            f"{first_year}-{last_year}",
            rate <= PAGE_BUDGET.critical_pages_per_year,
            f"{len(quiet)} in {years} years ({rate:.2f} a year): {listed}",
        )
    )
    longest: tuple[int, str, Run | None] = (0, "", None)
    for rule in backtest.rules:
        if rule.severity == "critical":
            for candidate in _rule_runs(backtest, rule):
                if candidate.business_days > longest[0]:
                    longest = (candidate.business_days, rule.alert, candidate)
    days, alert, worst = longest
    where = f"{alert} {worst.start} .. {worst.end}" if worst else "no critical alert fired"
    checks.append(
        (
            f"no alert critical for more than {PAGE_BUDGET.max_critical_business_days} business days",
            days <= PAGE_BUDGET.max_critical_business_days,
            f"longest: {days} business day(s), {where}",
        )
    )
    return checks


def _per_year_table(backtest: RulesBacktest) -> list[str]:
    years = sorted({day.year for day in backtest.days})
    severities = sorted({r.severity for r in backtest.rules}, key=["critical", "warning", "info", ""].index)
    header = "| severity (receiver) | notifications | " + " | ".join(str(y) for y in years) + " | total |"
    lines = [header, "|---|---|" + "---|" * (len(years) + 1)]
    for severity in severities:
        receivers = sorted({n.receiver for n in backtest.notifications if severity in n.severities})
        for label, kinds in (("pages/new", ("new", "update")), ("repeats", ("repeat",))):
            sent = _pages(backtest, severity, kinds)
            counts = [sum(date_of_timestamp(n.time_seconds).year == y for n in sent) for y in years]
            lines.append(
                f"| {severity} ({', '.join(receivers) or '-'}) | {label} | "
                + " | ".join(str(c) for c in counts)
                + f" | {sum(counts)} |"
            )
    return lines


def _episode_table(backtest: RulesBacktest) -> list[str]:
    lines = [
        "| episode | deadline | first critical | first warning | first info | critical pages "
        "| all notifications |",
        "|---|---|---|---|---|---|---|",
    ]
    for episode in EPISODES:
        first_day = detection_window_start(episode)
        in_window = [
            n for n in backtest.notifications if first_day <= date_of_timestamp(n.time_seconds) <= episode.end
        ]
        cells = []
        for severity in ("critical", "warning", "info"):
            sent = [n for n in in_window if n.kind in ("new", "update") and severity in n.severities]
            cells.append(f"{date_of_timestamp(sent[0].time_seconds)} {_group_name(sent[0])}" if sent else "-")
        pages = len([n for n in in_window if n.kind in ("new", "update") and "critical" in n.severities])
        last = deadline(episode)
        lines.append(
            f"| {episode.id} ({first_day} .. {episode.end}) | {last or 'no reaction'} | "
            + " | ".join(cells)
            + f" | {pages} | {len(in_window)} |"
        )
    return lines


def _rule_table(backtest: RulesBacktest) -> list[str]:
    calm_start, calm_end = CALM_STRETCH
    lines = [
        "| alert | severity | "
        + " | ".join(e.id for e in EPISODES)
        + f" | calm {calm_start:%Y-%m}..{calm_end:%Y-%m} | firing business days"
        " | longest (business days) | runs |",
        "|---|---|" + "---|" * len(EPISODES) + "---|---|---|---|",
    ]
    for rule in backtest.rules:
        runs = _rule_runs(backtest, rule)
        hits = [
            "fires" if any(r.start <= e.end and r.end >= detection_window_start(e) for r in runs) else "-"
            for e in EPISODES
        ]
        calm = [r for r in runs if r.start <= calm_end and r.end >= calm_start]
        lines.append(
            f"| {rule.alert} | {rule.severity} | "
            + " | ".join(hits)
            + f" | {'quiet' if not calm else f'**{len(calm)} run(s)**'}"
            f" | {sum(r.business_days for r in runs)}"
            f" | {max((r.business_days for r in runs), default=0)} | {len(runs)} |"
        )
    return lines


def _tga_evidence(backtest: RulesBacktest) -> list[str]:
    episode = next(e for e in EPISODES if e.id == "tga_rebuild_2023")
    out = []
    for signal, what in (
        ("reserves_usd_bn", "reserves"),
        ("onrrp_usd_bn", "ON RRP"),
        ("tga_usd_bn", "TGA"),
        ("sofr_iorb_spread_bp", "SOFR - IORB"),
    ):
        values = {
            d: v
            for d, v in backtest.signal_values.get(signal, {}).items()
            if episode.start <= d <= episode.end
        }
        if not values:
            continue
        days = sorted(values)
        unit = "bp" if signal.endswith("_bp") else "bn USD"
        out.append(
            f"- {what}: {values[days[0]]:,.0f} on {days[0]}, {values[days[-1]]:,.0f} on {days[-1]} "
            f"(range {min(values.values()):,.0f} .. {max(values.values()):,.0f} {unit})"
        )
    return out


def report(backtest: RulesBacktest) -> str:
    """``deploy/prometheus/BACKTEST.md``: the budget, pages per year and episode, every rule's firing."""
    checks = budget_checks(backtest)
    first, last = backtest.days[0], backtest.days[-1]
    lines = [
        "# Funding alert rules on real history (generated)",
        "",
        "Generated by `plumbline generate` from the data directory (`$PLUMBLINE_DATA_DIR`) with",
        "`offline/rules.py`; do not edit. The worker's metrics over history (the in-process engines,",
        "detectors `DEFAULTS` of `streams/config.py`) were backfilled into Prometheus' TSDB, one sample a",
        'day at 00:00 UTC dated by observation date, labelled `replay="false"` so that history takes',
        "the live routes. A temporary Prometheus evaluated the recording rules and then every alerting",
        f"rule of `deploy/prometheus/rules/funding.yml` by range queries at one-day steps, {first} ..",
        f"{last} ({backtest.samples:,} samples; `for:` and `keep_firing_for` applied at daily resolution).",
        "The firing alerts went through the routing, grouping, inhibition and repeat intervals read",
        "from `deploy/alertmanager/alertmanager.yml`. Not evaluated: "
        + ", ".join(f"`{p.relative_to(_ROOT)}`" for p in NOT_EVALUATED)
        + " (it watches the pipeline itself; history has none of its inputs).",
        "",
        "## Page budget",
        "",
        "| check | holds | evidence |",
        "|---|---|---|",
        *[f"| {text} | {'yes' if ok else '**no**'} | {evidence} |" for text, ok, evidence in checks],
        "",
        "A page is a notification that opens an alert group or adds an alert to it (`new`/`update`);",
        "repeats are the same group re-sent every `repeat_interval` while it fires.",
        "",
        "## Notifications per year",
        "",
        *_per_year_table(backtest),
        "",
        "## Per episode",
        "",
        "Notifications from 10 business days before each episode to its end; the deadline is the",
        "business day before the Fed's first reaction (`FED_FIRST_REACTION` in `offline/rules.py`).",
        "",
        *_episode_table(backtest),
        "",
        "The 2023 TGA rebuild in the data (`tga_rebuild_2023`):",
        "",
        *_tga_evidence(backtest),
        "",
        "## Every alerting rule",
        "",
        "`fires`: the rule fired from 10 business days before the episode to its end. Runs are",
        "consecutive days firing; their length counts business days.",
        "",
        *_rule_table(backtest),
        "",
        "## Firing runs",
        "",
    ]
    for rule in backtest.rules:
        runs = _rule_runs(backtest, rule)
        lines.append(f"### {rule.alert}, {rule.severity} (rule {rule.position + 1})")
        lines.append("")
        if not runs:
            lines.append("never fires")
        for run in runs:
            span = f"{run.start}" if run.start == run.end else f"{run.start} .. {run.end}"
            value = f"{run.low:.6g}" if run.low == run.high else f"{run.low:.6g} .. {run.high:.6g}"
            lines.append(f"- {span}: {run.business_days} business day(s), value {value}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
