"""``plumbline demo``: the pipeline on the embedded stack over real history, alerts visible.

Brings a fresh local stack up, replays SOFR and the rate on reserves for two scarce-reserve
episodes (2019-08-19..2019-10-04 and 2025-09-22..2025-11-14) at an accelerated pace, and prints every
``SOFRAboveIORB`` notification as the webhook receiver gets it: which alert and severity, firing or
resolved, for which observation date, and how long after that day's SOFR print was produced.

Pacing. A critical state lasts one to three business days (2019-09-16..18, 2025-10-31): at days of
history a second that is less than one scrape, so Prometheus would never see it, and Alertmanager
sends a change of an alert group only at the group's next ``group_interval`` (5 s here): a state
that comes and goes between two of them is never sent. So before replaying, the demo runs the same
prints through the in-process engine (the objects the worker runs) and finds the prints that change
the alert's state: the persistence detector's alarm (warning), its first five days (the regime's
entry, critical) and the spread against the rule's critical threshold
(``offline.rules.THRESHOLDS["sofr_spike_bp"]``). The replay runs at
``--days-per-second`` and holds (:class:`connectors.replay.Hold`):

- each print that turns the critical state on or off, for at least two scrape-plus-evaluation
  intervals and until a notification shows the change, at most one group interval more;
- the first warning onset (a new group, sent after its short ``group_wait``), until it is sent;
- the first change of each window (in 2025: the end of the regime left over from 2019) until
  Prometheus's alert state shows it, so that the window's own regime is a new alert;
- the first print, until the worker has it (its consumer joins a few seconds after its metrics
  endpoint answers).

Warning regimes last weeks by construction and are otherwise replayed at the pace. Each change that
Alertmanager must send costs about one group interval: the first page comes about 10 s after the
start, the fourteen critical changes follow at about 5 s intervals, the last page about 80 s after the start.

The intervals are read from the local stack's configs (deploy/prometheus/prometheus.local.yml,
deploy/alertmanager/alertmanager.local.yml). The rules keep every funding alert firing for minutes after
its condition ends (``keep_firing_for``, against the scrape gap of a worker restart): minutes are
years of replayed history here, so the demo's copy of the rules drops it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import shutil
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundation.records import Print
from foundation.settings import Settings

if TYPE_CHECKING:
    from connectors.replay import Hold

# Each change of the critical state costs about one group interval; at the selected 12 bp level and
# with the regime's entry paging, 2019-07..10 and 2025-09..12 held 27 of them (over two minutes), so
# the windows keep to the episodes: 14 changes.
WINDOWS = (
    (dt.date(2019, 8, 19), dt.date(2019, 10, 4)),
    (dt.date(2025, 9, 22), dt.date(2025, 11, 14)),
)
SERIES = ("SOFR", "IORB", "IOER")
ALERT = "SOFRAboveIORB"
SIGNAL = "sofr_iorb_spread_bp"
DETECTOR = "persistence_threshold"  # the detector behind the warning (deploy/prometheus/rules/funding.yml)
DEFAULT_DAYS_PER_SECOND = 40.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the pipeline over 2019 and 2025 history; show the alerts"
    )
    parser.add_argument(
        "--days-per-second", type=float, default=DEFAULT_DAYS_PER_SECOND,
        help="replay pace between held prints, in calendar days of history per second "
             f"(default {DEFAULT_DAYS_PER_SECOND:g}); each change of the critical state is held "
             "until its notification arrives",
    )  # fmt: skip
    parser.add_argument(
        "--wait-seconds", type=float, default=20.0,
        help="after the replay, how long to wait for Alertmanager to deliver the last state (default 20)",
    )  # fmt: skip
    parser.add_argument("--down", action="store_true", help="stop the stack at the end")
    parser.set_defaults(func=run)


# --- what the replay will do: the alert states the in-process engine finds ------------------------


@dataclasses.dataclass(frozen=True)
class Change:
    """A print after which SOFRAboveIORB's state differs from before it."""

    published_at: dt.datetime
    observation_date: dt.date
    spread_bp: float
    warning: bool  # the persistence detector's alarm after this print
    critical: bool  # the spread at or above the critical threshold, or a regime's entry, after this print
    critical_changed: bool


def alert_changes(prints: Sequence[Print], settings: Settings) -> list[Change]:
    """Every print (by publication time) that changes the warning or the critical state."""
    from offline.rules import THRESHOLDS
    from streams.config import detector_plan
    from streams.inprocess import run_in_process

    threshold = THRESHOLDS["sofr_spike_bp"]
    # The regime's entry pages too (funding.yml, trigger="regime_entry"): the persistence alarm
    # started fewer than this many days before the newest date the detector learned.
    entry_days = 5
    run = run_in_process(prints, detector_plan(settings))
    # (published_at, order, kind, record): signals before alerts of the same print, as the engine emits.
    events: list[tuple[dt.datetime, int, str, Any]] = []
    events += [(s.published_at, 0, "signal", s) for s in run.signals if s.signal_id == SIGNAL]
    events += [
        (a.published_at, 1, "alarm", a) for a in run.alerts if a.signal == SIGNAL and a.detector == DETECTOR
    ]
    events.sort(key=lambda event: (event[0], event[1]))
    changes: list[Change] = []
    warning = critical = spike = False
    date, spread, start = dt.date.min, float("nan"), dt.date.min
    index = 0
    while index < len(events):
        published = events[index][0]
        before = (warning, critical)
        while index < len(events) and events[index][0] == published:
            _, _, kind, record = events[index]
            if kind == "signal":
                date, spread, spike = record.observation_date, record.value, record.value >= threshold
            else:
                warning = record.state == "firing"
                if warning:
                    start = record.observation_date  # a firing alert is dated by the alarm's first day
            index += 1
        critical = spike or (warning and 0 <= (date - start).days < entry_days)
        if (warning, critical) != before:
            changes.append(Change(published, date, spread, warning, critical, critical != before[1]))
    return changes


# --- the stack's intervals --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Timing:
    """Prometheus's scrape and evaluation intervals and Alertmanager's group interval (seconds)."""

    scrape: float = 1.0
    evaluation: float = 1.0
    group_interval: float = 5.0

    @property
    def visible(self) -> float:
        """How long a state must last for Prometheus to scrape it and evaluate the rules on it, twice."""
        return 2 * (self.scrape + self.evaluation)

    @property
    def delivery(self) -> float:
        """The longest a held change may take to reach the webhook: visible, then a group interval."""
        return self.visible + self.group_interval

    @classmethod
    def from_configs(cls, deploy: Path) -> Timing:
        """Read from the local stack's configs (prometheus.local.yml, alertmanager.local.yml)."""
        prometheus = (deploy / "prometheus" / "prometheus.local.yml").read_text()
        alertmanager = (deploy / "alertmanager" / "alertmanager.local.yml").read_text()
        default = cls()
        return cls(
            scrape=_setting(prometheus, "scrape_interval", default.scrape),
            evaluation=_setting(prometheus, "evaluation_interval", default.evaluation),
            group_interval=_setting(alertmanager, "group_interval", default.group_interval),
        )


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _setting(text: str, key: str, default: float) -> float:
    """The first ``key: <duration>`` of a YAML file, in seconds (Prometheus duration syntax)."""
    match = re.search(rf"^\s*{key}:\s*['\"]?([0-9a-z]+)", text, re.MULTILINE)
    if match is None:
        return default
    parts = re.findall(r"(\d+)(ms|s|m|h)", match.group(1))
    return sum(int(number) * _DURATION_UNITS[unit] for number, unit in parts) if parts else default


# --- what the webhook receiver got --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Page:
    """One alert of one notification, the first time it arrived in that state."""

    received_wall: float  # time.time() when the webhook receiver got it
    alertname: str
    severity: str
    status: str  # firing | resolved
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str
    observation_date: dt.date | None  # the SOFR print Prometheus had when the state began (or ended)
    spread_bp: float | None
    inhibited_before: bool  # a warning that arrives with the end of a critical state of the same alert

    @property
    def episode(self) -> str:
        """The first date of the alarm episode, from the ``episode_start`` annotation ('' if none)."""
        return self.annotations.get("episode_start", "")[:10]


class PageLog:
    """Reads the webhook receiver's file as it grows; prints each page once, as it arrives."""

    def __init__(
        self,
        settings: Settings,
        started: float,
        say: Callable[[str], None] = print,
    ) -> None:
        from plumbline.stack import alerts_file

        self.settings = settings
        self.path = alerts_file(settings)
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        self.started = started  # time.time() at the start of the demo
        #: When the SOFR print of each observation date was produced (time.time(); the replay fills it).
        self.sent_wall: dict[dt.date, float] = {}
        self.say = say
        self.pages: list[Page] = []
        #: (received wall time, warning firing, critical firing) per notification of SOFRAboveIORB's group.
        self.notifications: list[tuple[float, bool, bool]] = []
        self._seen: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="demo-pages", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.poll()

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            self.poll()

    def poll(self) -> None:
        """Read what arrived since the last call; print the new pages."""
        with self._lock:
            for entry in self._new_entries():
                self._take(entry)

    def _new_entries(self) -> Iterator[dict[str, Any]]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1  # only whole lines: the receiver may be writing the next one
        self.offset += end
        for line in data[:end].splitlines():
            if line.strip():
                yield json.loads(line)

    def _take(self, entry: dict[str, Any]) -> None:
        received = dt.datetime.fromisoformat(entry["received_at"]).timestamp()
        alerts = entry["notification"].get("alerts", [])
        ours = [a for a in alerts if _is_ours(a)]
        critical_ended = any(
            a["status"] == "resolved" and a["labels"].get("severity") == "critical" for a in ours
        )
        if ours:
            warning = any(a["status"] == "firing" and a["labels"].get("severity") == "warning" for a in ours)
            critical = any(
                a["status"] == "firing" and a["labels"].get("severity") == "critical" for a in ours
            )
            self.notifications.append((received, warning, critical))
        for alert in alerts:
            labels, status = alert.get("labels", {}), alert.get("status", "")
            key = (json.dumps(labels, sort_keys=True), alert.get("startsAt", ""), status)
            if key in self._seen:
                continue  # Alertmanager re-sends every alert of a group with each change of the group
            self._seen.add(key)
            when = alert.get("startsAt", "") if status == "firing" else alert.get("endsAt", "")
            date, spread = self._observation_at(when) if _is_ours(alert) else (None, None)
            severity = labels.get("severity", "?")
            page = Page(
                received_wall=received,
                alertname=labels.get("alertname", "?"),
                severity=severity,
                status=status,
                labels=labels,
                annotations=alert.get("annotations", {}),
                starts_at=alert.get("startsAt", ""),
                ends_at=alert.get("endsAt", ""),
                observation_date=date,
                spread_bp=spread,
                inhibited_before=critical_ended and severity == "warning" and status == "firing",
            )
            self.pages.append(page)
            self.say(self.describe(page))

    def _observation_at(self, when: str) -> tuple[dt.date | None, float | None]:
        """The observation date and value of the spread Prometheus had at ``when`` (RFC 3339)."""
        try:
            moment = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None, None
        selector = f'{{signal="{SIGNAL}"}}'
        stamp = _prometheus_value(
            self.settings, f"max(plumbline_signal_observation_timestamp_seconds{selector})", moment
        )
        value = _prometheus_value(self.settings, f"max(plumbline_signal_basis_points{selector})", moment)
        date = dt.datetime.fromtimestamp(stamp, dt.UTC).date() if stamp is not None else None
        return date, value

    def describe(self, page: Page) -> str:
        """One or two lines for a page, never with an unknown date or delay spelled as such."""
        head = f"  {page.received_wall - self.started:5.1f} s  {page.alertname} {page.severity} {page.status}"
        if page.alertname != ALERT or page.labels.get("signal", SIGNAL) != SIGNAL:
            return head
        what = "" if page.spread_bp is None else f" (SOFR - IORB {page.spread_bp:+.0f} bp)"
        if page.observation_date is None:
            text = head
        elif page.status == "resolved":
            text = f"{head}: ended by the {page.observation_date} print{what}"
        elif page.severity == "warning":
            episode = page.episode or str(page.observation_date)
            seen = (
                ""
                if episode == str(page.observation_date)
                else f", seen with the {page.observation_date} print"
            )
            text = f"{head}: episode since {episode}{seen}{what}"
        else:
            text = f"{head}: on the {page.observation_date} print{what}"
        sent = self.sent_wall.get(page.observation_date) if page.observation_date else None
        if sent is not None:
            text += f", received {page.received_wall - sent:.1f} s after that print was produced"
        if page.inhibited_before:
            text += " (held back by the critical page, which inhibits it)"
        if page.status == "firing" and page.severity == "critical":
            description = " ".join(page.annotations.get("description", "").split())
            if description:
                text += f"\n           {description}"
        return text

    def critical_delivered(self, since: float, firing: bool) -> bool:
        """A notification of the group received after ``since`` (wall) has the critical firing or not."""
        self.poll()
        return any(received >= since and critical == firing for received, _, critical in self.notifications)

    def warning_delivered(self, since: float) -> bool:
        """A notification of the group received after ``since`` (wall) has the warning firing."""
        self.poll()
        return any(received >= since and warning for received, warning, _ in self.notifications)

    def delivered_state(self) -> tuple[bool, bool] | None:
        """(warning firing, critical firing) in the group's latest notification, if there was one."""
        self.poll()
        return self.notifications[-1][1:] if self.notifications else None


def _is_ours(alert: dict[str, Any]) -> bool:
    labels = alert.get("labels", {})
    return bool(labels.get("alertname") == ALERT and labels.get("signal", SIGNAL) == SIGNAL)


def _prometheus_firing(settings: Settings) -> set[str] | None:
    """The severities of SOFRAboveIORB that Prometheus has firing now (None if it does not answer)."""
    url = f"http://{settings.bind_host}:{settings.prometheus_port}/api/v1/alerts"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            alerts = json.load(response)["data"]["alerts"]
    except (OSError, ValueError, KeyError):
        return None
    return {
        a["labels"].get("severity", "")
        for a in alerts
        if a.get("state") == "firing" and _is_ours({"labels": a.get("labels", {})})
    }


def _prometheus_value(settings: Settings, query: str, at: float) -> float | None:
    url = f"http://{settings.bind_host}:{settings.prometheus_port}/api/v1/query?" + urllib.parse.urlencode(
        {"query": query, "time": f"{at:.3f}"}
    )
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            result = json.load(response)["data"]["result"]
    except (OSError, ValueError, KeyError):
        return None
    return float(result[0]["value"][1]) if result else None


# --- the command ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.history import HistoryError
    from connectors.replay import plan_replay
    from plumbline import stack

    if settings.data_dir is None:
        print(
            "plumbline demo: no data directory. Set PLUMBLINE_DATA_DIR to a folder of date,value CSVs "
            "(SOFR.csv, IORB.csv, IOER.csv; `make demo` uses ../shared/data/series).",
            file=sys.stderr,
        )
        return 2
    started, started_wall = time.monotonic(), time.time()
    try:
        plans = [plan_replay(settings.data_dir, SERIES, start, end) for start, end in WINDOWS]
    except HistoryError as exc:
        print(f"plumbline demo: {exc}", file=sys.stderr)
        return 1
    # The in-process run (which prints change the alert state) overlaps the stack's start.
    found: list[list[Change]] = []
    planner = threading.Thread(
        target=lambda: found.append(alert_changes([p for plan in plans for p in plan.prints], settings)),
        name="demo-plan",
    )
    planner.start()
    print("plumbline demo: starting a fresh embedded stack")
    try:
        _fresh_stack(settings)
    except stack.StackError as exc:
        print(f"plumbline demo: {exc}", file=sys.stderr)
        return 1
    finally:
        planner.join()
    if not found:
        print("plumbline demo: the in-process run of the windows failed (see above)", file=sys.stderr)
        return 1
    print(f"  stack ready in {time.monotonic() - started:.1f} s")
    print(
        "  replayed history goes to Alertmanager's `replay` receiver, which pages nobody; below, each "
        "SOFRAboveIORB notification the webhook receiver records, seconds after the demo started"
    )
    changes = found[0]
    pacer = Pacer(settings, changes, Timing.from_configs(stack.deploy_dir()), PageLog(settings, started_wall))
    pacer.pages.start()
    try:
        for plan in plans:
            pacer.replay(plan, args.days_per_second)
        pacer.settle(args.wait_seconds)
    finally:
        pacer.pages.stop()
        if args.down:
            stack.down(settings, say=lambda line: None)
    return _summary(settings, plans, pacer, started_wall, time.time())


class Pacer:
    """Replays a window, holding the prints that change the alert state (see the module docstring).

    - the first print of the run, until the worker has it (its consumer joins the group a few
      seconds after its metrics endpoint answers; prints sent before would arrive in one burst);
    - each print that turns the critical state on or off: at least :attr:`Timing.visible`, and until
      a notification received after it shows the critical firing (or not), at most
      :attr:`Timing.delivery` (a missed one is listed in :attr:`missed`);
    - the first warning onset, before anything of this alert was sent (a new group, sent after its
      short group_wait): until that notification arrives, at most :attr:`Timing.delivery`. Later
      onsets are not held: Alertmanager keeps an emptied group for a while and sends them only at a
      group interval, which would cost the demo 5 s each;
    - otherwise the first change of a window (the end of a state left over from the window before,
      2019's regime when 2025 starts): until Prometheus's alert state shows it, at most
      :attr:`Timing.visible`, so that the window's own regime is a new alert.
    """

    def __init__(self, settings: Settings, changes: list[Change], timing: Timing, pages: PageLog) -> None:
        self.settings = settings
        self.changes = changes
        self.timing = timing
        self.pages = pages
        self._held: list[tuple[Change, list[bool]]] = []  # each held critical change, and whether it was sent
        self._first = True
        self._by_time = {c.published_at: c for c in changes}
        self._window_first: dt.datetime | None = None

    def replay(self, plan: Any, days_per_second: float) -> None:
        from connectors.producer import PrintProducer
        from connectors.replay import run_replay

        window = [c for c in self.changes if plan.start <= c.observation_date <= plan.end]
        critical = [c for c in window if c.critical_changed]
        self._window_first = window[0].published_at if window else None
        print(
            f"\nreplaying SOFR, IORB and IOER {plan.start} .. {plan.end} ({len(plan.prints)} prints, "
            f"{days_per_second:g} days of history a second; holding each of the {len(critical)} prints that "
            f"turn the critical state on or off until Alertmanager sends it)"
        )
        with PrintProducer(self.settings) as producer:
            run_replay(
                producer, plan.prints, speed=days_per_second * 86400.0, on_sent=self._sent, hold=self._hold
            )

    def settle(self, wait_seconds: float) -> None:
        """Wait until Alertmanager has sent the state the replay ended in (at most ``wait_seconds``)."""
        if not self.changes:
            return
        last = self.changes[-1]
        final = (last.warning and not last.critical, last.critical)  # a critical page inhibits the warning
        deadline = time.monotonic() + wait_seconds
        while self.pages.delivered_state() != final and time.monotonic() < deadline:
            time.sleep(0.2)

    def _sent(self, record: Print) -> None:
        if record.series_id == "SOFR":
            self.pages.sent_wall[record.observation_date] = time.time()

    def _hold(self, record: Print) -> Hold | None:
        from connectors.replay import Hold

        since = time.time()
        if self._first:
            self._first = False
            return Hold(0.0, until=lambda: _worker_has(self.settings, record), max_seconds=30.0)
        change = self._by_time.pop(record.published_at, None)
        if change is None:
            return None
        if change.critical_changed:
            met: list[bool] = []

            def critical_sent() -> bool:
                if not met and self.pages.critical_delivered(since, change.critical):
                    met.append(True)
                return bool(met)

            self._held.append((change, met))
            return Hold(self.timing.visible, until=critical_sent, max_seconds=self.timing.delivery)
        if change.warning and self.pages.delivered_state() is None:
            return Hold(
                0.0, until=lambda: self.pages.warning_delivered(since), max_seconds=self.timing.delivery
            )
        if change.published_at == self._window_first:
            expected = {"warning"} if change.warning else set()
            return Hold(
                0.0,
                until=lambda: _prometheus_firing(self.settings) == expected,
                max_seconds=self.timing.visible,
            )
        return None

    @property
    def missed(self) -> list[Change]:
        """Held critical changes whose notification did not arrive within :attr:`Timing.delivery`."""
        return [change for change, met in self._held if not met]


def _worker_has(settings: Settings, record: Print) -> bool:
    """Whether the worker's metrics show ``record``'s series at its observation date or later."""
    url = f"http://{settings.bind_host}:{settings.metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return False
    pattern = (
        rf'^plumbline_series_observation_timestamp_seconds\{{[^}}]*series="{record.series_id}"[^}}]*\}} (\S+)'
    )
    match = re.search(pattern, text, re.MULTILINE)
    midnight = dt.datetime.combine(record.observation_date, dt.time(), dt.UTC).timestamp()
    return match is not None and float(match.group(1)) >= midnight


def _fresh_stack(settings: Settings) -> None:
    """Stop the stack, drop what a previous run left (Prometheus, Alertmanager, worker state), start it."""
    from plumbline import stack
    from streams.app import checkpoint_dir

    stack.down(settings, say=lambda line: None)
    # The broker keeps its topics in memory: a worker checkpoint from an earlier run would take the
    # replayed prints for repeats and ignore them.
    stale = [settings.state_dir / "alertmanager" / "data", settings.state_dir / "prometheus" / "data"]
    stale += [checkpoint_dir(settings) / settings.app_id, settings.state_dir / "faust"]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    stack.up(settings, say=lambda line: print("  " + line))
    _without_wall_clock_grace(settings)


def _without_wall_clock_grace(settings: Settings) -> None:
    """Drop ``keep_firing_for`` from the demo's copy of the rules, if any, and reload Prometheus.

    It is a wall-clock grace against scrape gaps (a worker restart); in a replay that moves days of
    history a second, minutes of it would merge every state of both windows into one firing alert.
    """
    rules = sorted((settings.state_dir / "prometheus" / "rules").glob("*.yml"))
    changed = False
    for path in rules:
        text = path.read_text()
        stripped = re.sub(r"^[ \t]*keep_firing_for:[^\n]*\n", "", text, flags=re.MULTILINE)
        if stripped != text:
            path.write_text(stripped)
            changed = True
    if not changed:
        return
    url = f"http://{settings.bind_host}:{settings.prometheus_port}/-/reload"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10):
            pass
    except OSError as exc:
        print(f"  could not reload Prometheus without keep_firing_for ({exc}): alarm states will merge")
        return
    print("  demo rules without keep_firing_for: a wall-clock grace would span years of replayed history")


def _summary(
    settings: Settings, plans: list[Any], pacer: Pacer, started_wall: float, ended_wall: float
) -> int:
    """What each window paged against what the engine expects; the times; 0 when nothing is missing."""
    print()
    ok = bool(pacer.pages.pages)
    for plan in plans:
        ours = [
            p for p in pacer.pages.pages
            if p.alertname == ALERT and p.status == "firing" and p.observation_date is not None
            and plan.start <= p.observation_date <= plan.end
        ]  # fmt: skip
        expected = sorted(
            c.observation_date for c in pacer.changes
            if c.critical and c.critical_changed and plan.start <= c.observation_date <= plan.end
        )  # fmt: skip
        paged = sorted({p.observation_date for p in ours if p.severity == "critical" and p.observation_date})
        warned = sorted({p.episode or str(p.observation_date) for p in ours if p.severity == "warning"})
        print(
            f"{plan.start} .. {plan.end}: critical pages for {', '.join(map(str, paged)) or 'no date'} "
            f"(the in-process engine: {', '.join(map(str, expected)) or 'none'}); "
            f"warning pages for the episodes since {', '.join(warned) or 'no date'}"
        )
        ok = ok and bool(warned) and set(expected) <= set(paged)
    for change in pacer.missed:
        state = "on" if change.critical else "off"
        print(
            f"  the critical state turned {state} by the {change.observation_date} print was not sent in time"
        )
    firing = [p.received_wall for p in pacer.pages.pages if p.status == "firing"]
    if firing:
        print(
            f"first alert {firing[0] - started_wall:.1f} s, last page "
            f"{pacer.pages.pages[-1].received_wall - started_wall:.1f} s after `plumbline demo` started "
            f"(done after {ended_wall - started_wall:.1f} s)"
        )
    else:
        print(f"no alert arrived: see {settings.state_dir / 'logs'}")
    print(f"Prometheus   http://{settings.bind_host}:{settings.prometheus_port}/alerts")
    print(f"Alertmanager http://{settings.bind_host}:{settings.alertmanager_port}/#/alerts")
    print(f"Metrics      http://{settings.bind_host}:{settings.metrics_port}/metrics")
    print("All alerts:  plumbline alerts      Stop:  plumbline stack down")
    return 0 if ok and not pacer.missed else 1
