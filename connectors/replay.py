"""Replay history onto the prints topic in publication order, at an accelerated pace.

Each print is sent when it became known (``published_at`` from the catalogue: SOFR for day T on
T+1 at 08:00 New York, weekly H.4.1 on its Thursday release, the rate on reserves at the start of
its effective date), with the vintage first published and the replay flag set, so its alerts page
nobody. ``speed`` is historic seconds per wall-clock second; ``None`` sends as fast as the broker
takes them. ``hold`` keeps chosen prints in force longer than the pace would (a :class:`Hold`: at
least so many seconds, optionally until a condition is met), so that a state lasting one replayed
day stays visible long enough for a scraper to see it.

Where a series comes from: the connectors' archive when it holds that series (its first vintage,
i.e. the value as first published, at its publication time), else the data directory's CSV. A
series in neither is left out and reported in :attr:`ReplayPlan.sources` as ``missing``.

An interrupted replay resumes: :class:`ReplayProgress` keeps, under the state directory, how many
prints of a plan the broker has acknowledged, keyed by a hash of the window and series, and the id
of the prints topic that acknowledged them. A broker that lost its data (the embedded one keeps
topics in memory) has the topic created again with a new id: the prints acknowledged before are
gone, so the replay starts over (the prints a worker already processed are no-ops there).
:func:`plan_from_settings` and :class:`ResumableReplay` put these together for ``plumbline replay``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

from connectors.archive import Archive, default_archive_path
from connectors.history import HistoryError, iter_publication_order, read_history
from connectors.producer import PrintProducer
from connectors.publisher import prints_topic_id
from foundation.catalogue import get_series
from foundation.records import Print
from foundation.settings import Settings

__all__ = [
    "Hold",
    "ReplayPlan",
    "ReplayProgress",
    "ResumableReplay",
    "Source",
    "plan_from_settings",
    "plan_replay",
    "replay_id",
    "run_replay",
]

# Policy rates are step series: send a week before the window so the rate in force on its first day is known.
_POLICY_LEAD_DAYS = 7
_POLICY_SERIES = frozenset({"IORB", "IOER", "DFEDTARL", "DFEDTARU"})

Source = Literal["archive", "data_dir", "missing"]


@dataclasses.dataclass(frozen=True)
class ReplayPlan:
    """The prints of a replay, in the order they will be sent, and where each series came from."""

    start: dt.date
    end: dt.date
    prints: tuple[Print, ...]
    sources: dict[str, Source] = dataclasses.field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        """Series asked for that neither the archive nor the data directory has."""
        return [series_id for series_id, source in self.sources.items() if source == "missing"]

    @property
    def found(self) -> list[str]:
        """Series asked for that the archive or the data directory has."""
        return [series_id for series_id, source in self.sources.items() if source != "missing"]

    @property
    def origins(self) -> list[str]:
        """Where the prints come from: ``archive`` and/or ``data_dir``."""
        return sorted({source for source in self.sources.values() if source != "missing"})


def _first_day(series_id: str, start: dt.date) -> dt.date:
    return start - dt.timedelta(days=_POLICY_LEAD_DAYS) if series_id in _POLICY_SERIES else start


def _from_archive(archive: Archive, series_id: str, first: dt.date, end: dt.date) -> list[Print]:
    # The value as first published (vintage 1) at its publication time: no look-ahead into revisions.
    return [
        dataclasses.replace(record, replay=True)
        for record in archive.iter_prints([series_id], since=first)
        if record.vintage == 1 and record.observation_date <= end
    ]


def plan_replay(
    data_dir: Path | None,
    series: Sequence[str],
    start: dt.date,
    end: dt.date,
    *,
    archive: Archive | None = None,
    skip_missing: bool = False,
) -> ReplayPlan:
    """The window's prints of ``series``, in publication order, from the archive or the data directory.

    A series the archive holds (any date) is read from the archive; otherwise from ``data_dir``. A
    series in neither raises :class:`HistoryError`, or with ``skip_missing`` is left out and listed
    as ``missing``.
    """
    archived = set(archive.counts()) if archive is not None else set()
    collected: list[Print] = []
    sources: dict[str, Source] = {}
    for series_id in series:
        get_series(series_id)  # an unknown id fails here, with the catalogue's message
        first = _first_day(series_id, start)
        if archive is not None and series_id in archived:
            collected.extend(_from_archive(archive, series_id, first, end))
            sources[series_id] = "archive"
            continue
        if skip_missing and (data_dir is None or not (Path(data_dir) / f"{series_id}.csv").is_file()):
            sources[series_id] = "missing"
            continue
        collected.extend(read_history(data_dir, series_id, first, end, replay=True))
        sources[series_id] = "data_dir"
    if not collected and not skip_missing:
        raise HistoryError(f"no prints of {', '.join(series)} between {start} and {end}")
    return ReplayPlan(start, end, tuple(iter_publication_order(collected)), sources)


def plan_from_settings(
    settings: Settings, series: Sequence[str], start: dt.date, end: dt.date, *, skip_missing: bool = False
) -> ReplayPlan:
    """:func:`plan_replay` over ``PLUMBLINE_DATA_DIR`` and the connectors' archive, if there is one."""
    path = default_archive_path(settings)
    archive = Archive(path) if path.is_file() else None
    try:
        return plan_replay(settings.data_dir, series, start, end, archive=archive, skip_missing=skip_missing)
    finally:
        if archive is not None:
            archive.close()


def replay_id(plan: ReplayPlan) -> str:
    """Identity of a replay: its window and series (the same command resumes the same replay)."""
    text = f"{plan.start}|{plan.end}|{','.join(sorted(plan.sources))}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclasses.dataclass
class ReplayProgress:
    """How far a replay got, persisted as JSON so an interrupted replay resumes where it stopped.

    ``sent`` counts prints the broker acknowledged (written only after a flush). A plan whose prints
    changed since (new data) is recognised by the key and publication time of its last sent print,
    and starts over rather than skipping the wrong prints.
    """

    path: Path
    total: int = 0
    sent: int = 0
    last_key: str = ""
    last_published_at: str = ""
    done: bool = False
    topic_id: str = ""  # the prints topic that acknowledged them ("" when the broker gives no ids)

    @classmethod
    def load(cls, state_dir: Path, plan: ReplayPlan) -> ReplayProgress:
        """The saved progress of ``plan`` (fresh when none, or when it no longer matches the plan)."""
        path = Path(state_dir) / "replays" / f"{replay_id(plan)}.json"
        fresh = cls(path, total=len(plan.prints))
        try:
            data = json.loads(path.read_text())
            saved = cls(path, int(data["total"]), int(data["sent"]), str(data["last_key"]),
                        str(data["last_published_at"]), bool(data["done"]),
                        str(data.get("topic_id") or ""))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            return fresh
        if not 0 < saved.sent <= len(plan.prints):
            return fresh
        last = plan.prints[saved.sent - 1]
        if last.key != saved.last_key or last.published_at.isoformat() != saved.last_published_at:
            return fresh
        saved.total = len(plan.prints)
        return saved

    def record(self, plan: ReplayPlan, sent: int) -> None:
        """Save that the first ``sent`` prints of ``plan`` are acknowledged (atomic rename)."""
        self.sent = sent
        if sent:
            self.last_key = plan.prints[sent - 1].key
            self.last_published_at = plan.prints[sent - 1].published_at.isoformat()
        self.done = sent >= len(plan.prints)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {k: v for k, v in dataclasses.asdict(self).items() if k != "path"}
        body.update(start=plan.start.isoformat(), end=plan.end.isoformat(), series=sorted(plan.sources))
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(body, indent=1))
        os.replace(temporary, self.path)

    def clear(self) -> None:
        """Forget the progress (``--restart``)."""
        self.path.unlink(missing_ok=True)
        self.sent, self.done, self.last_key, self.last_published_at = 0, False, "", ""
        self.topic_id = ""


@dataclasses.dataclass(frozen=True)
class Hold:
    """How long the state a print leaves must stay in force before a later print is sent.

    The next print published later than the held one is sent no sooner than ``seconds`` after the
    held one was acknowledged, whatever the pace; with ``until``, not before ``until()`` returns
    true either, unless ``max_seconds`` (counted from the same moment) have passed. ``until`` is
    polled every ``poll_seconds``.
    """

    seconds: float
    until: Callable[[], bool] | None = None
    max_seconds: float | None = None
    poll_seconds: float = 0.1

    def wait(self, since: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> bool:
        """Wait out this hold, begun at ``since`` on ``clock``; returns whether ``until`` was met."""
        remaining = since + self.seconds - clock()
        if remaining > 0:
            sleep(remaining)
        if self.until is None:
            return True
        deadline = since + max(self.seconds, self.max_seconds if self.max_seconds is not None else 0.0)
        while not self.until():
            left = deadline - clock()
            if left <= 0:
                return False
            sleep(min(self.poll_seconds, left))
        return True


def run_replay(
    producer: PrintProducer,
    prints: Iterable[Print],
    speed: float | None,
    max_pause_seconds: float = 1.0,
    on_sent: Callable[[Print], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    *,
    on_flushed: Callable[[int], None] | None = None,
    flush_every: int = 500,
    hold: Callable[[Print], Hold | None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Send ``prints`` (already in publication order), pausing by their publication gaps / ``speed``.

    Each print is flushed before the next pause, so the broker has it when ``on_sent`` is called.
    ``on_flushed(n)`` is called whenever the first ``n`` prints are known to be acknowledged (at
    least every ``flush_every`` prints, and at the end): the hook for progress and resumption.

    ``hold(print)`` may return a :class:`Hold` for a print: the print is flushed at once, and the
    next print published later waits (on ``clock``, with ``sleep``) until the hold is over, on top of
    the pace (the longer of the two; ``max_pause_seconds`` caps only the pace). Prints published at
    the same moment as a held one are sent without waiting. A hold on the last prints is waited out
    before returning, so the state they leave has been in force that long when this returns.
    Returns the number of prints sent.
    """
    sent = 0
    previous: dt.datetime | None = None
    holds: list[tuple[float, Hold]] = []

    def flushed() -> None:
        producer.flush()
        if on_flushed is not None:
            on_flushed(sent)

    def wait_holds() -> None:
        for since, pending in holds:
            pending.wait(since, clock, sleep)
        holds.clear()

    for record in prints:
        if previous is not None and record.published_at > previous:
            if speed is not None:
                gap_seconds = (record.published_at - previous).total_seconds() / speed
                if gap_seconds > 0:
                    flushed()
                    sleep(min(gap_seconds, max_pause_seconds))
            if holds:
                wait_holds()
        producer.send(record)
        previous = record.published_at
        sent += 1
        if on_sent is not None:
            producer.flush()
            on_sent(record)
        held = hold(record) if hold is not None else None
        if held is not None:
            flushed()
            holds.append((clock(), held))
        elif sent % flush_every == 0:
            flushed()
    flushed()
    wait_holds()
    return sent


class ResumableReplay:
    """Send a plan, saving progress after each acknowledged batch; a rerun resumes where it stopped.

    ``restart`` forgets saved progress first. :attr:`complete` says whether there is nothing left to
    send, :attr:`already_sent` how many prints an earlier run got acknowledged. Saved progress
    acknowledged by a prints topic the broker has since lost (``topic_id``, default: asked of the
    broker; it changes when the topic is created again) is forgotten too, and :attr:`topic_lost`
    says so: those prints are no longer on the topic.
    """

    def __init__(
        self,
        settings: Settings,
        plan: ReplayPlan,
        *,
        restart: bool = False,
        topic_id: Callable[[], str | None] | None = None,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.progress = ReplayProgress.load(settings.state_dir, plan)
        self.topic_id = (topic_id or (lambda: prints_topic_id(settings)))() or ""
        saved = self.progress.topic_id
        self.topic_lost = bool(self.progress.sent and saved and self.topic_id and saved != self.topic_id)
        if restart or self.topic_lost:
            self.progress.clear()
        self.progress.topic_id = self.topic_id
        self.topic_lost_while_sending = False

    @property
    def complete(self) -> bool:
        """Every print of the plan was acknowledged by an earlier run."""
        return self.progress.done

    @property
    def already_sent(self) -> int:
        """Prints acknowledged by earlier runs (skipped by :meth:`run`)."""
        return self.progress.sent

    def run(
        self,
        speed: float | None,
        *,
        on_progress: Callable[[int, Print | None], None] | None = None,
        producer: PrintProducer | None = None,
    ) -> int:
        """Send the prints not sent yet; returns how many were sent now.

        ``on_progress(done, latest)`` is called after each acknowledged batch with the number of the
        plan's prints acknowledged so far (earlier runs included) and the last of them. If the
        broker lost the prints topic while they were sent (its id changed), the progress is
        forgotten and :attr:`topic_lost_while_sending` is set: the same command sends it again.
        """
        skipped = self.progress.sent
        prints = self.plan.prints

        def flushed(count: int) -> None:
            done = skipped + count
            self.progress.record(self.plan, done)
            if on_progress is not None:
                on_progress(done, prints[done - 1] if done else None)

        if producer is not None:
            sent = run_replay(producer, prints[skipped:], speed, on_flushed=flushed)
        else:
            with PrintProducer(self.settings) as own:
                sent = run_replay(own, prints[skipped:], speed, on_flushed=flushed)
        now = prints_topic_id(self.settings) or ""
        if self.topic_id and now and now != self.topic_id:
            self.topic_lost_while_sending = True
            self.progress.clear()
        return sent
