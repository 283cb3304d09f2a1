"""What every fault test checks, on the real embedded stack: nothing lost, nothing twice, the right pages.

- **No print lost.** Every print reaches the state that derives from it: the final value of every
  (signal, observation date) on the signals topic equals an uninterrupted in-process run over the
  same prints (a lost print leaves a signal date missing or stale).
- **No duplicate downstream.** On the alerts topic, each alert event (fingerprint, state, date) has
  one content; outputs are at-least-once with idempotent keys (docs/architecture.md), so a byte-equal
  repeat of the same key is a redelivery, counted and reported, never a second, different event. The
  per-signal alert sequence equals the in-process run's. At the webhook receiver, no notification
  repeats its group's previous notification unchanged (see :class:`Page`).
- **Exactly the expected pages.** Each test states the notifications it expects at the receiver
  (:func:`page_events`: each alert's firing and resolution once, whatever the grouping).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from foundation.records import Alert, Print, Signal
from foundation.settings import Settings
from plumbline import stack
from plumbline.webhook import read_notifications
from streams.config import detector_plan
from streams.inprocess import InProcessRun, run_in_process

__all__ = [
    "Delivery",
    "Page",
    "check_delivery",
    "expected_run",
    "page_events",
    "pages",
    "read_topic",
    "repeated_pages",
    "wait_for",
]

SignalKey = tuple[str, dt.date]
AlertKey = tuple[str, str, str, str]  # signal, detector, state, observation date


def wait_for(predicate: Callable[[], object], timeout_seconds: float, every_seconds: float = 0.5) -> bool:
    """Poll ``predicate`` until it is true or the time is up."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_seconds)
    return bool(predicate())


def expected_run(settings: Settings, prints: Iterable[Print]) -> InProcessRun:
    """The uninterrupted reference: the same prints through the engines in process, no Kafka."""
    return run_in_process(list(prints), detector_plan(settings), partitions=settings.topic_partitions)


def read_topic(settings: Settings, topic: str, idle_ms: int = 1500) -> list[tuple[bytes | None, bytes]]:
    """Every record of ``topic`` from the beginning, partition by partition in offset order.

    Reads until no record arrives for ``idle_ms``: the embedded broker's end offsets are not to be
    trusted (see README), so nothing here asks for them.
    """
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, consumer_timeout_ms=idle_ms)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(partitions)
        for partition in partitions:
            consumer.seek_to_beginning(partition)
        by_partition: dict[int, list[tuple[bytes | None, bytes]]] = {}
        for message in consumer:
            by_partition.setdefault(message.partition, []).append((message.key, message.value))
    finally:
        consumer.close()
    return [record for p in sorted(by_partition) for record in by_partition[p]]


@dataclasses.dataclass(frozen=True)
class Delivery:
    """How the topics compare with the uninterrupted run."""

    missing_signals: list[SignalKey]  # in the reference, absent from the signals topic
    wrong_signals: list[tuple[SignalKey, float, float]]  # (key, reference value, final value on the topic)
    conflicting_alerts: list[AlertKey]  # one alert event with two different contents
    missing_alerts: list[AlertKey]
    extra_alerts: list[AlertKey]
    redelivered_alerts: int  # byte-equal repeats of an alert already on the topic (at-least-once)

    @property
    def ok(self) -> bool:
        return not (
            self.missing_signals
            or self.wrong_signals
            or self.conflicting_alerts
            or self.missing_alerts
            or self.extra_alerts
        )

    def __str__(self) -> str:
        return (
            f"missing signals {self.missing_signals[:5]} ({len(self.missing_signals)}), "
            f"wrong signals {self.wrong_signals[:5]} ({len(self.wrong_signals)}), "
            f"conflicting alerts {self.conflicting_alerts[:5]}, missing alerts {self.missing_alerts[:5]} "
            f"({len(self.missing_alerts)}), extra alerts {self.extra_alerts[:5]} ({len(self.extra_alerts)}), "
            f"{self.redelivered_alerts} redelivered"
        )


def _alert_key(alert: Alert) -> AlertKey:
    return (alert.signal, alert.detector, alert.state, alert.observation_date.isoformat())


def check_delivery(settings: Settings, reference: InProcessRun, *, with_index: bool = True) -> Delivery:
    """Compare the signals and alerts topics with ``reference`` (see the module docstring)."""
    final: dict[SignalKey, float] = {}
    for _, value in read_topic(settings, settings.topic_signals):
        signal = Signal.from_json(value)
        final[(signal.signal_id, signal.observation_date)] = signal.value  # later offsets: corrections
    wanted: dict[SignalKey, float] = {}
    for signal in reference.signals:
        wanted[(signal.signal_id, signal.observation_date)] = signal.value

    def keep(signal_id: str) -> bool:
        return with_index or signal_id != "funding_stress_index"

    missing = sorted(k for k in wanted if k not in final and keep(k[0]))
    wrong = sorted(
        (k, wanted[k], final[k])
        for k in wanted
        if k in final and keep(k[0]) and abs(wanted[k] - final[k]) > 1e-9 * max(1.0, abs(wanted[k]))
    )

    contents: dict[AlertKey, bytes] = {}
    conflicting: set[AlertKey] = set()
    redelivered = 0
    for _, value in read_topic(settings, settings.topic_alerts):
        alert = Alert.from_json(value)
        key = _alert_key(alert)
        # Alerts carry data time only (no wall clock), so a re-send of the same event is byte-equal.
        content = alert.to_json()
        if key not in contents:
            contents[key] = content
        elif contents[key] == content:
            redelivered += 1
        else:
            conflicting.add(key)
    got = {k for k in contents if keep(k[0])}
    want = {_alert_key(a) for a in reference.alerts if keep(a.signal)}
    return Delivery(
        missing_signals=missing,
        wrong_signals=wrong,
        conflicting_alerts=sorted(conflicting),
        missing_alerts=sorted(want - got),
        extra_alerts=sorted(got - want),
        redelivered_alerts=redelivered,
    )


@dataclasses.dataclass(frozen=True)
class Page:
    """One alert in one notification the webhook receiver got.

    Alertmanager sends a group's every alert in each notification of the group (group_by), so an
    alert appears again whenever another alert of its group changes: that is not a duplicate. A
    duplicate is a notification that repeats its group's previous one unchanged (``repeat``), as a
    restarted Alertmanager that lost its notification log would send.
    """

    receiver: str
    status: str
    alertname: str
    severity: str
    labels: tuple[tuple[str, str], ...]
    starts_at: str
    repeat: bool = False


def pages(settings: Settings) -> list[Page]:
    """Every alert of every notification at the stack's webhook receiver, oldest first."""
    out = []
    last: dict[tuple[str, str], frozenset[tuple[str, tuple[tuple[str, str], ...], str]]] = {}
    for entry in read_notifications(stack.alerts_file(settings)):
        notification = entry["notification"]
        receiver = notification.get("receiver", "")
        alerts = notification.get("alerts", [])
        content = frozenset(
            (a.get("status", ""), tuple(sorted(a.get("labels", {}).items())), a.get("startsAt", ""))
            for a in alerts
        )
        group = (receiver, notification.get("groupKey", ""))
        repeat = last.get(group) == content
        last[group] = content
        for alert in alerts:
            labels: dict[str, Any] = alert.get("labels", {})
            out.append(
                Page(
                    receiver=receiver,
                    status=alert.get("status", ""),
                    alertname=labels.get("alertname", ""),
                    severity=labels.get("severity", ""),
                    labels=tuple(sorted(labels.items())),
                    starts_at=alert.get("startsAt", ""),
                    repeat=repeat,
                )
            )
    return out


def page_events(got: list[Page]) -> list[Page]:
    """Each alert's changes only: the first notification of each (receiver, status, labels, start)."""
    seen: set[tuple[str, str, tuple[tuple[str, str], ...], str]] = set()
    events = []
    for page in got:
        key = (page.receiver, page.status, page.labels, page.starts_at)
        if key not in seen:
            seen.add(key)
            events.append(page)
    return events


def repeated_pages(got: list[Page]) -> list[Page]:
    """Alerts of notifications that repeated their group's previous notification unchanged."""
    return [page for page in got if page.repeat]
