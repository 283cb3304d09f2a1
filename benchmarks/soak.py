"""Soak: the whole history through one worker several times, each time as new data, while its RSS is sampled.

Run with ``make soak`` (``python -m benchmarks soak --write``), which writes docs/soak.md; without
``--write`` the document goes to standard output. ``--short`` soaks a shorter window (what
tests/faults/test_soak.py runs in ``make test``).

**Why the passes are shifted in time.** The engine treats an exact repeat of a print (same series,
date and value) as a no-op, so replaying the same history again would only exercise the dedupe,
not the observations, signals, detectors, composite index and checkpoints that grow with new data.
Each pass is therefore the real history moved back by a multiple of 28 years: between 1901 and 2099
the Gregorian calendar repeats every 28 years (7 leap days, 10,227 days, 1,461 weeks), so every print
keeps its day of the month, its weekday (business days, the Thursday H.4.1 and Friday H.8 releases)
and its place in the month, quarter and year (the calendar effects). The passes go forward in data
time (with 5 passes: -112, -84, -56, -28 and 0 years), as live operation would, so to the worker they
are 5 x the history of new dates, learned by every detector once, in order; the last pass is the real
history itself. Publication times move by the same number of days, so the publication order within a
pass is the real one.

What differs from real data (docs/soak.md says the same):

- **the rate on reserves**: the engine takes IORB from 2021-07-29 and IOER before
  (``foundation.catalogue.reserves_rate_in_force``); every shifted date is before 2021-07-29, so a
  shifted IORB print is sent as IOER (same unit, source and range). The real IOER history ends
  2021-07-28, so without this the shifted passes would lose the SOFR - IORB family after their
  shifted 2021-07-28;
- **holidays**: the SIFMA calendar of the ``holidays`` package starts in 1996, so shifted dates in
  1901..1995 have no bond-market holidays, and 1996..1998 have those years' own. The prints keep the
  real dates' pattern (no print on a shifted holiday), but the calendar effects the detectors read
  (``foundation.calendar``: month end is the last *business* day, coupon settlement the 15th or the
  next business day) can land a day off around a holiday; alerts of shifted passes can differ from
  the real ones there;
- **gaps between passes**: the history spans less than 28 years, so between two passes the data
  jumps forward by the rest of the 28 years: every series is silent for ~20 years, as after a long
  outage (the 400-day windows, the gap limits of the detectors and the composite index see it);
- **time zones**: publication times move in UTC; in 1906 New York had no daylight saving time, so
  a shifted publication time can read an hour off in New York local time (only order matters here);
- **everything else is real**: the values (so the catalogue's plausible ranges hold), the vintages
  (the first, as ``plumbline replay`` sends), the replay flag, the series, their order. No check in
  the worker looks at a series' first date; the future-date check only bounds dates from above.

Completion is never read from the embedded broker's offsets (its ``end_offsets()`` under-reports):
a pass is consumed when the worker's ``plumbline_records_in_total`` of the prints topic reached the
copies produced (a print goes to every partition computing a signal it feeds,
``connectors.producer.print_partitions_of``) and that of the index-inputs topic the signals the
in-process run derives in that pass's dates (each is forwarded once). After the last pass, the
signals and alerts topics are read until every signal-date and alert of the in-process run of all
passes has appeared. RSS is VmRSS of /proc/PID/status, sampled by a thread every 0.5 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import itertools
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.pipeline import (
    REPO_ROOT,
    BenchmarkError,
    Config,
    History,
    _alert_key,
    _answers,
    _metric_sum,
    _Outputs,
    _settings,
    _stack,
    _status_bytes,
    _stderr,
    _wait,
    _Worker,
    in_work_directory,
    load_history,
    machine_facts,
    write_document,
)
from connectors.producer import PrintProducer, print_partitions_of
from foundation.catalogue import INDEX_SIGNAL, IORB_START
from foundation.records import Print
from foundation.settings import Settings, load_settings
from streams.config import detector_plan
from streams.inprocess import InProcessRun, run_in_process

__all__ = ["Pass", "SoakConfig", "SoakReport", "main", "render", "run_soak", "shifted_passes"]

DOCUMENT = REPO_ROOT / "docs" / "soak.md"
#: The Gregorian calendar repeats every 28 years between 1901 and 2099: 7 leap days, 1,461 weeks.
CYCLE_YEARS = 28
CYCLE_DAYS = 28 * 365 + 7
#: Issue 16: RSS growth over the last 4 of 5 passes stays under this share.
GROWTH_TARGET = 0.10


@dataclasses.dataclass(frozen=True)
class SoakConfig:
    """What to replay, how often, and the worker's settings."""

    start: dt.date = dt.date(2018, 4, 1)  # the full history, as `make bench` replays it
    end: dt.date | None = None  # None: the newest date in the data directory
    passes: int = 5
    partitions: int = 1
    sample_seconds: float = 0.5
    #: After a pass is consumed, RSS is read this much later (the last batch's sends and commits).
    settle_seconds: float = 1.0
    session_timeout_seconds: float = 6.0
    heartbeat_interval_seconds: float = 1.0
    index_grace_seconds: float | None = None  # None: the settings' default
    #: A pass whose counters do not move for this long is a failure (the worker lost messages).
    stall_seconds: float = 120.0
    short: bool = False

    @classmethod
    def short_run(cls) -> SoakConfig:
        """tests/faults/test_soak.py: the same 5 passes over one year of history, quick group joins."""
        return cls(
            start=dt.date(2019, 1, 1),
            end=dt.date(2019, 12, 31),
            session_timeout_seconds=2.0,
            heartbeat_interval_seconds=0.5,
            # The index's default grace (10 s): a shorter one releases composite-index dates past a
            # worker that stalls that long under load, and their values then differ from in process.
            stall_seconds=60.0,
            short=True,
        )


# --- the passes ----------------------------------------------------------------------------------------


def shift_print(record: Print, years_back: int) -> Print:
    """``record`` moved ``years_back`` years earlier (a multiple of 28); IORB as IOER before 2021-07-29."""
    if years_back % CYCLE_YEARS:
        raise ValueError(f"shifts are multiples of {CYCLE_YEARS} years, not {years_back}")
    delta = dt.timedelta(days=CYCLE_DAYS * years_back // CYCLE_YEARS)
    day = record.observation_date - delta
    if day.year < 1901 or record.observation_date.year > 2099:
        raise BenchmarkError(f"{record.key} moved {years_back} years lands outside 1901..2099")
    if day != record.observation_date.replace(year=record.observation_date.year - years_back):
        raise BenchmarkError(f"{record.key} moved {years_back} years changes its day of the year")
    series_id = "IOER" if record.series_id == "IORB" and day < IORB_START else record.series_id
    moved = dataclasses.replace(
        record, series_id=series_id, observation_date=day, published_at=record.published_at - delta
    )
    return moved.validate()  # the catalogue's checks, as the worker will apply them


@dataclasses.dataclass(frozen=True)
class Pass:
    """One pass: the history moved back ``years_back`` years, in publication order."""

    number: int
    years_back: int
    prints: tuple[Print, ...]

    @functools.cached_property
    def first(self) -> dt.date:
        return min(p.observation_date for p in self.prints)

    @functools.cached_property
    def last(self) -> dt.date:
        return max(p.observation_date for p in self.prints)

    def copies(self, partitions: int) -> int:
        """Messages the producer writes for this pass (one per partition a print feeds)."""
        have = set(range(partitions))
        return sum(len(print_partitions_of(p.series_id, have)) for p in self.prints)


def shifted_passes(history: History, count: int) -> list[Pass]:
    """``count`` passes of ``history``, the last one unshifted, each 28 years after the one before."""
    passes = []
    for number in range(1, count + 1):
        years_back = CYCLE_YEARS * (count - number)
        prints = tuple(shift_print(p, years_back) for p in history.prints) if years_back else history.prints
        # Sorted as `plumbline replay` sorts (a renamed IORB could tie-break differently).
        ordered = tuple(sorted(prints, key=lambda p: (p.published_at, p.observation_date, p.series_id)))
        passes.append(Pass(number, years_back, ordered))
    for before, after in itertools.pairwise(passes):
        if before.last >= after.first:
            raise BenchmarkError(
                f"the history spans more than {CYCLE_YEARS} years: pass {before.number} ends "
                f"{before.last}, after pass {after.number} begins {after.first}"
            )
    return passes


# --- figures -------------------------------------------------------------------------------------------


@dataclasses.dataclass
class PassFigures:
    """What one pass took and left."""

    number: int
    years_back: int
    window: str  # its observation dates
    prints: int
    copies: int  # messages on the prints topic
    index_inputs: int  # signals forwarded to the composite index
    seconds: float  # first send to the worker's counters reaching the pass's messages
    rss_end_bytes: int  # after the pass was consumed (and settle_seconds)
    peak_bytes: int  # the highest sample during the pass
    low_bytes: int  # the lowest sample during the pass
    samples: int

    @property
    def per_second(self) -> float:
        return self.prints / self.seconds if self.seconds > 0 else math.nan


@dataclasses.dataclass
class SoakReport:
    """Every figure of one soak, and what it ran on."""

    config: SoakConfig
    machine: dict[str, str]
    history_window: str
    history_prints: int
    history_series: int
    passes: list[PassFigures]
    rss_idle_bytes: int  # joined the group, before the first print
    hwm_bytes: int  # VmHWM at the end: the process's peak
    expected_signals: int
    expected_alerts: int
    missing_signals: int
    missing_alerts: int
    missing_examples: str
    prints_in: float  # the worker's plumbline_records_in_total, prints topic, at the end
    index_in: float
    in_process_seconds: float
    started: str
    seconds: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    #: (seconds since the first pass began, RSS bytes) every sample_seconds.
    trace: list[tuple[float, int]] = dataclasses.field(default_factory=list)

    @property
    def growth(self) -> float:
        """(RSS after the last pass - RSS after pass 2) / RSS after pass 2: growth over the last passes."""
        if len(self.passes) < 2:
            return math.nan
        base = self.passes[1].rss_end_bytes
        return (self.passes[-1].rss_end_bytes - base) / base if base else math.nan

    @property
    def complete(self) -> bool:
        return self.missing_signals == 0 and self.missing_alerts == 0

    @property
    def ok(self) -> bool:
        return self.complete and self.growth < GROWTH_TARGET


# --- sampling --------------------------------------------------------------------------------------------


class _Sampler:
    """VmRSS of one process every ``every`` seconds, in a thread, with monotonic times."""

    def __init__(self, pid: int, every: float) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = _status_bytes(self.pid, "VmRSS")
            if rss:
                self.samples.append((time.monotonic(), rss))
            self._stop.wait(self.every)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def between(self, begin: float, end: float) -> list[int]:
        return [rss for when, rss in list(self.samples) if begin <= when <= end]


def _counters(worker: _Worker, settings: Settings) -> tuple[float, float]:
    """The worker's records read from the prints and the index-inputs topics (0, 0 while it is busy)."""
    text = worker.metrics() or ""
    return (
        _metric_sum(text, "plumbline_records_in_total", f'topic="{settings.topic_prints}"'),
        _metric_sum(text, "plumbline_records_in_total", f'topic="{settings.topic_index_inputs}"'),
    )


def _index_inputs_per_pass(reference: InProcessRun, passes: Sequence[Pass]) -> list[int]:
    """Signals the prints agent forwards to the index in each pass (every non-index signal, once)."""
    counts = [0] * len(passes)
    bounds = [(one.first, one.last) for one in passes]
    for record in reference.signals:
        if record.signal_id == INDEX_SIGNAL:
            continue
        for n, (first, last) in enumerate(bounds):
            if first <= record.observation_date <= last:
                counts[n] += 1
                break
    return counts


# --- the run ---------------------------------------------------------------------------------------------


Check = Callable[[Settings, InProcessRun], None]


def run_soak(
    config: SoakConfig,
    data_dir: Path,
    workdir: Path,
    say: Callable[[str], None] = print,
    check: Check | None = None,
) -> SoakReport:
    """Start a broker and one worker, send every pass at full speed, sample the worker's RSS.

    ``check(settings, reference)`` runs after the last pass while the broker is still up (the test
    compares the topics with the in-process run there).
    """
    begun = time.perf_counter()
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()
    machine = machine_facts()
    history = load_history(data_dir, config.start, config.end)
    passes = shifted_passes(history, config.passes)
    say(
        f"history: {len(history.prints)} prints of {len(history.series)} series, "
        f"{history.start}..{history.end}; {config.passes} passes, shifted "
        f"{', '.join(f'{-p.years_back:+d}' for p in passes)} years"
    )
    every_print = [p for one in passes for p in one.prints]
    clock = time.perf_counter()
    reference = run_in_process(every_print, detector_plan(load_settings(env={})))
    in_process_seconds = time.perf_counter() - clock
    forwarded = _index_inputs_per_pass(reference, passes)
    say(f"in-process reference: {len(reference.signals)} signals, {len(reference.alerts)} alerts")

    workdir.mkdir(parents=True, exist_ok=True)
    grace = {} if config.index_grace_seconds is None else {"index_grace_seconds": config.index_grace_seconds}
    timings = Config(
        session_timeout_seconds=config.session_timeout_seconds,
        heartbeat_interval_seconds=config.heartbeat_interval_seconds,
    )
    settings = _settings(workdir / "state", data_dir, timings, topic_partitions=config.partitions, **grace)
    figures: list[PassFigures] = []
    with _stack(settings, ["broker"]):
        worker = _Worker(settings, "worker", workdir)
        sampler = _Sampler(worker.process.pid, config.sample_seconds)
        outputs: _Outputs | None = None
        try:
            _wait(functools.partial(_answers, worker), 60, "the worker's metrics endpoint")
            # The embedded broker holds a join for about half the session timeout: the worker is
            # in the group before the first print, so no rebalance falls inside a pass.
            time.sleep(config.session_timeout_seconds + 2.0)
            rss_idle = _status_bytes(worker.process.pid, "VmRSS")
            sampler.start()
            first_start = time.monotonic()
            want_prints = want_index = 0
            with PrintProducer(settings) as producer:
                for one, index_inputs in zip(passes, forwarded, strict=True):
                    copies = one.copies(config.partitions)
                    want_prints += copies
                    want_index += index_inputs
                    begin = time.monotonic()
                    producer.send_all(one.prints)
                    seen, moved = (-1.0, -1.0), time.monotonic()
                    while True:
                        got = _counters(worker, settings)
                        if got[0] >= want_prints and got[1] >= want_index:
                            break
                        now = time.monotonic()
                        if got != seen:
                            seen, moved = got, now
                        elif now - moved > config.stall_seconds:
                            raise BenchmarkError(
                                f"pass {one.number}: the worker read {got[0]:.0f} of {want_prints} prints "
                                f"and {got[1]:.0f} of {want_index} index inputs, nothing for "
                                f"{config.stall_seconds:.0f} s: see {worker.log}"
                            )
                        time.sleep(config.sample_seconds)
                    done = time.monotonic()
                    time.sleep(config.settle_seconds)
                    rss_end = _status_bytes(worker.process.pid, "VmRSS")
                    during = sampler.between(begin, time.monotonic())
                    figures.append(
                        PassFigures(
                            number=one.number,
                            years_back=one.years_back,
                            window=f"{one.first}..{one.last}",
                            prints=len(one.prints),
                            copies=copies,
                            index_inputs=index_inputs,
                            seconds=done - begin,
                            rss_end_bytes=rss_end,
                            peak_bytes=max([*during, rss_end]),
                            low_bytes=min([*during, rss_end]),
                            samples=len(during),
                        )
                    )
                    f = figures[-1]
                    say(
                        f"pass {one.number} ({-one.years_back:+d} years, {f.window}): {f.prints} prints in "
                        f"{f.seconds:.1f} s ({f.per_second:,.0f}/s), RSS {f.rss_end_bytes / 2**20:.1f} MB, "
                        f"peak {f.peak_bytes / 2**20:.1f} MB"
                    )
            # Every expected output of every pass, read back from the topics (keys, as make bench).
            expected_signals = {(s.signal_id, s.observation_date.isoformat()) for s in reference.signals}
            expected_alerts = {_alert_key(a) for a in reference.alerts}
            outputs = _Outputs(settings, expected_signals, expected_alerts)
            missing, progressed = outputs.missing, time.monotonic()
            while not outputs.complete and time.monotonic() - progressed < config.stall_seconds / 2:
                worker.check_alive()
                outputs.poll()
                if outputs.missing < missing:
                    missing, progressed = outputs.missing, time.monotonic()
            if check is not None:
                check(settings, reference)
            prints_in, index_in = _counters(worker, settings)
            hwm = _status_bytes(worker.process.pid, "VmHWM")
        finally:
            sampler.stop()
            if outputs is not None:
                outputs.close()
            worker.stop()
    return SoakReport(
        config=config,
        machine=machine,
        history_window=f"{history.start}..{history.end}",
        history_prints=len(history.prints),
        history_series=len(history.series),
        passes=figures,
        rss_idle_bytes=rss_idle,
        hwm_bytes=hwm,
        expected_signals=len(expected_signals),
        expected_alerts=len(expected_alerts),
        missing_signals=len(outputs.missing_signals),
        missing_alerts=len(outputs.missing_alerts),
        missing_examples=outputs.example_missing() if not outputs.complete else "",
        prints_in=prints_in,
        index_in=index_in,
        in_process_seconds=in_process_seconds,
        started=started,
        seconds=time.perf_counter() - begun,
        load_before=load_before,
        load_after=os.getloadavg(),
        trace=[(when - first_start, rss) for when, rss in sampler.samples],
    )


# --- the document ----------------------------------------------------------------------------------------


def _mb(value: float) -> str:
    return f"{value / 2**20:,.1f} MB"


def render(report: SoakReport) -> str:
    """docs/soak.md for ``report``."""
    r, c = report, report.config
    lines: list[str] = []
    add = lines.append
    kind = "the short soak of `make test`" if c.short else "the full history"
    add("# Soak" + (" (SHORT RUN: one year per pass, as tests/faults/test_soak.py)" if c.short else ""))
    add("")
    add(
        "Generated by `make soak` (`python -m benchmarks soak --write`, benchmarks/soak.py); do not edit by "
        f"hand. Issue 16: replay the full history {c.passes} times at full speed through one worker while "
        f"sampling its RSS; growth over the last {c.passes - 1} passes stays under {GROWTH_TARGET:.0%}. "
        "tests/faults/test_soak.py runs the same over one year of history in `make test` and asserts it."
    )
    add("")
    add(
        f"Run {r.started}, {r.seconds / 60:.1f} min; load average {r.load_before[0]:.2f} at the start and "
        f"{r.load_after[0]:.2f} at the end. The machine has 2 cores shared with other work (integration "
        "tests, other benchmarks), so the throughput figures are depressed and vary from run to run; the "
        "memory figures are what this document is for."
    )
    add("")
    add("## Result")
    add("")
    growth = r.growth
    verdict = "**met**" if growth < GROWTH_TARGET else "**missed**"
    add(
        f"**RSS growth over the last {len(r.passes) - 1} passes: {growth:+.1%}** (target < "
        f"{GROWTH_TARGET:.0%}: {verdict}), defined as (RSS after pass {len(r.passes)} - RSS after pass 2) / "
        "RSS after pass 2, each read once the worker had consumed the pass and "
        f"{c.settle_seconds:g} s more had passed. Pass 1 is left out: it is the warm-up (the 400-day "
        "windows and the detectors filling, Python's heap and SQLite's cache reaching their working size)."
    )
    add("")
    if r.complete:
        add(
            f"Every pass was consumed in full: the worker read {r.prints_in:,.0f} messages of the prints "
            f"topic (every copy produced) and {r.index_in:,.0f} of the index-inputs topic, and all "
            f"{r.expected_signals:,} signal-dates and {r.expected_alerts:,} alerts of the in-process run of "
            "the same passes appeared on the signals and alerts topics."
        )
    else:
        add(
            f"**Incomplete:** {r.missing_signals:,} of {r.expected_signals:,} expected signal-dates and "
            f"{r.missing_alerts:,} of {r.expected_alerts:,} expected alerts never appeared "
            f"({r.missing_examples})."
        )
    add("")
    add(
        "| pass | shift | observation dates | prints | messages (copies) | index inputs | seconds | "
        "prints/s | RSS at end | peak RSS in pass |"
    )
    add("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for f in r.passes:
        add(
            f"| {f.number} | {-f.years_back:+d} y | {f.window} | {f.prints:,} | {f.copies:,} | "
            f"{f.index_inputs:,} | {f.seconds:.1f} | {f.per_second:,.0f} | {_mb(f.rss_end_bytes)} | "
            f"{_mb(f.peak_bytes)} |"
        )
    add("")
    deltas = ", ".join(
        f"{b.number}: {(b.rss_end_bytes - a.rss_end_bytes) / 2**20:+.1f} MB"
        for a, b in itertools.pairwise(r.passes)
    )
    add(
        f"RSS after joining the group, before the first print: {_mb(r.rss_idle_bytes)}; VmHWM (the "
        f"process's peak) at the end: {_mb(r.hwm_bytes)}. Change of the RSS at the end of each pass from "
        f"the previous one: {deltas}."
    )
    add("")
    add(
        "Seconds run from the first print of a pass sent to the moment the worker's counters "
        f"(scraped every {c.sample_seconds:g} s, so within {c.sample_seconds:g} s) reached the pass's "
        "messages on both topics; the producer sends at full speed (kafka-python, acks=all, as the "
        "connectors) while the worker reads."
    )
    add("")
    add("## What was sent")
    add("")
    add(
        f"{kind.capitalize()}: what `plumbline replay --from {c.start} --to "
        f"{r.history_window.split('..')[1]}` sends ({r.history_prints:,} prints of {r.history_series} "
        "series, first vintages, publication "
        f"order, replay flag set), {c.passes} times, one worker, {c.partitions} partition(s) per topic, "
        "the worker's default settings"
        + (
            f" but a session timeout of {c.session_timeout_seconds:g} s (a quicker group join)"
            if c.session_timeout_seconds != load_settings(env={}).session_timeout_seconds
            else ""
        )
        + "."
    )
    add("")
    add(
        "The engine treats an exact repeat of a print (same series, date and value, or an older vintage) "
        "as a no-op, so sending the same history again would only exercise that check. Each pass is "
        f"instead the real history moved back by a multiple of {CYCLE_YEARS} years: between 1901 and 2099 "
        f"the Gregorian calendar repeats every {CYCLE_YEARS} years ({CYCLE_DAYS:,} days, an exact number of "
        "weeks), so each print keeps its day of the month and its weekday, and the passes go forward in "
        "data time, the last one being the real history. To the worker they are "
        f"{c.passes} x the history of new dates, derived, detected and checkpointed as live operation would "
        "over the same span."
    )
    add("")
    add("What differs from real data:")
    add("")
    add(
        "- **The rate on reserves.** The engine takes IORB from 2021-07-29 and IOER before it; every "
        "shifted date is before 2021-07-29, so in shifted passes an IORB print is sent as IOER (same "
        "unit, source and plausible range); otherwise the SOFR - IORB family would stop at the shifted "
        "2021-07-28, where the real IOER history ends."
    )
    add(
        "- **Holidays.** The SIFMA calendar of the `holidays` package starts in 1996: shifted dates before "
        "1996 have no bond-market holidays, 1996..1998 their own years'. The prints keep the real pattern "
        "(no print on a shifted holiday), but the calendar effects detectors read (month end is the last "
        "*business* day, coupon settlement the 15th or the next business day) can fall a day off next to "
        "a holiday, so the alerts of a shifted pass can differ from the real ones there."
    )
    add(
        f"- **Gaps.** The history spans less than {CYCLE_YEARS} years, so between passes every series is "
        "silent for the rest of the cycle (about 20 years for the full history), as after a long outage: "
        "the 400-day windows empty and refill, and the detectors' and composite index's gap limits apply."
    )
    add(
        "- **Time zones.** Publication times move in UTC by whole days, so the order of publication "
        "inside a pass is the real one; in New York local time a shifted time can read an hour off "
        "(daylight saving time did not exist in the early 1900s)."
    )
    add(
        "- **The same:** every value (so the catalogue's plausible ranges hold; each shifted print is "
        "validated as the worker validates it, the future-date check included), every vintage, series "
        "and publication order. No check in the worker looks at a series' first date."
    )
    add("")
    add("## Memory over time")
    add("")
    add(
        f"VmRSS of the worker (/proc/PID/status) sampled every {c.sample_seconds:g} s from the first print: "
        "the lowest and highest sample of each pass."
    )
    add("")
    add("| pass | samples | lowest | highest | at the end |")
    add("|---:|---:|---:|---:|---:|")
    for f in r.passes:
        add(
            f"| {f.number} | {f.samples} | {_mb(f.low_bytes)} | {_mb(f.peak_bytes)} | "
            f"{_mb(f.rss_end_bytes)} |"
        )
    add("")
    add("## Machine and versions")
    add("")
    add("| | |")
    add("|---|---|")
    for key, value in r.machine.items():
        add(f"| {key} | {value} |")
    add("")
    add("## How it is measured")
    add("")
    add(
        "benchmarks/soak.py starts the embedded broker (`plumbline.stack`, free ports) and one real "
        "`plumbline worker` process with the helpers of benchmarks/pipeline.py, waits for it to join the "
        "group, then sends each pass with the connectors' `PrintProducer`. The embedded broker's "
        "`end_offsets()` under-reports, so a pass counts as consumed when the worker's "
        "`plumbline_records_in_total` reached the messages of the passes so far: on the prints topic "
        "every copy produced (a print goes to every partition computing a signal it feeds), on the "
        "index-inputs topic every signal the in-process run derives for the pass's dates. After the last "
        "pass the signals and alerts topics are read until every output of the in-process run of all "
        f"passes has appeared ({r.in_process_seconds:.1f} s in process). tests/faults/test_soak.py runs "
        "the short version and also compares every signal's final value and every alert with the "
        "in-process run (tests/faults/harness.py)."
    )
    add("")
    return "\n".join(lines)


# --- the command -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks soak",
        description="Replay the history several times (shifted by 28 years each) through one worker, "
        "sampling its RSS; write docs/soak.md with --write.",
    )
    parser.add_argument("--short", action="store_true", help="one year per pass (the test's version)")
    parser.add_argument("--passes", type=int, default=None, help="default 5")
    parser.add_argument("--partitions", type=int, default=None, help="of each topic, default 1")
    parser.add_argument("--write", action="store_true", help=f"write {DOCUMENT.relative_to(REPO_ROOT)}")
    parser.add_argument("--output", type=Path, default=None, help="write the document here instead")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: PLUMBLINE_DATA_DIR")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    data_text = args.data_dir or os.environ.get("PLUMBLINE_DATA_DIR")
    if not data_text:
        print("benchmarks soak: set PLUMBLINE_DATA_DIR to the folder of date,value CSVs", file=sys.stderr)
        return 2
    config = SoakConfig.short_run() if args.short else SoakConfig()
    overrides = {
        name: value
        for name, value in (("passes", args.passes), ("partitions", args.partitions))
        if value is not None
    }
    config = dataclasses.replace(config, **overrides)
    if config.passes < 3:
        print("benchmarks soak: at least 3 passes (growth is read from pass 2 on)", file=sys.stderr)
        return 2
    report = in_work_directory(
        "soak", "plumbline-soak-", args.keep,
        lambda workdir: run_soak(config, Path(data_text).resolve(), workdir, say=_stderr),
    )  # fmt: skip
    if report is None:
        return 1
    write_document(render(report), args.output or (DOCUMENT if args.write else None))
    print(
        f"RSS growth over the last {len(report.passes) - 1} passes {report.growth:+.1%} "
        f"(target < {GROWTH_TARGET:.0%}); {'complete' if report.complete else 'INCOMPLETE'}",
        file=sys.stderr,
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
