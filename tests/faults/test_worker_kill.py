"""Fault: the worker dies (`kill -9`) while funding alerts fire. What the person on call sees: nothing.

The whole embedded stack runs (broker, worker, Prometheus, Alertmanager, webhook receiver); a
replay of 2019-07..10 makes SOFRAboveIORB fire; the worker is killed with SIGKILL and started again.
Every series it exported must be back within 10 s of the start, and the receiver must get no
`resolved` and no repeated `firing` notification (state is loaded when the partition is assigned,
and the funding rules' ``keep_firing_for`` covers the seconds the target is down). Then the rest
of the window is replayed onto the restarted worker: the topics must hold exactly what an
uninterrupted in-process run gives (tests/faults/harness.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import urllib.request

import pytest

from connectors.producer import PrintProducer
from connectors.replay import plan_replay, run_replay
from foundation.settings import Settings
from offline.evaluation import SIGNAL_SERIES
from plumbline import stack
from plumbline.webhook import iter_alerts
from tests.faults.harness import check_delivery, expected_run, page_events, pages, repeated_pages, wait_for

pytestmark = pytest.mark.e2e


def exported_series(settings: Settings) -> set[str]:
    """Every ``plumbline_signal*`` sample line name + labels the worker exports now."""
    try:
        url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return set()
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line.startswith("plumbline_signal")}


def firing_in_prometheus(settings: Settings) -> list[str]:
    url = f"http://127.0.0.1:{settings.prometheus_port}/api/v1/alerts"
    with urllib.request.urlopen(url, timeout=5) as response:
        alerts = json.load(response)["data"]["alerts"]
    return sorted(a["labels"]["alertname"] for a in alerts if a["state"] == "firing")


def notifications(settings: Settings) -> list[tuple[str, str, str]]:
    return [
        (a["status"], a["labels"].get("alertname", ""), a["labels"].get("severity", ""))
        for a in iter_alerts(stack.alerts_file(settings))
    ]


def worker_pid(settings: Settings) -> int | None:
    return next(c.pid for c in stack.status(settings) if c.name == "worker")


def test_worker_kill_9_while_alerts_fire_sends_no_notification_and_loses_no_series(
    local_stack: Settings,
) -> None:
    settings = local_stack
    plan = plan_replay(
        settings.data_dir, SIGNAL_SERIES, dt.date(2019, 7, 1), dt.date(2019, 10, 31), skip_missing=True
    )
    # The kill lands between two parts of the window, so the restarted worker must go on from its
    # checkpoint for the second part to come out right.
    cut = dt.datetime(2019, 10, 1, tzinfo=dt.UTC)
    before_kill = [p for p in plan.prints if p.published_at < cut]
    after_kill = plan.prints[len(before_kill) :]
    with PrintProducer(settings) as producer:
        run_replay(producer, before_kill, speed=None)
    assert wait_for(lambda: "SOFRAboveIORB" in firing_in_prometheus(settings), 120), "no alert fired"
    assert wait_for(lambda: any(n[0] == "firing" for n in notifications(settings)), 60)
    time.sleep(12)  # past Alertmanager's group_interval: everything it had to say is said
    before = exported_series(settings)
    said_before = notifications(settings)
    assert len(before) > 20

    pid = worker_pid(settings)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: worker_pid(settings) is None and not exported_series(settings), 10)
    restarted = time.monotonic()
    stack.up(settings, components=["worker"], say=lambda line: None)
    assert wait_for(lambda: exported_series(settings) >= before, 10 - (time.monotonic() - restarted)), (
        f"10 s after the restart the worker exports {len(exported_series(settings))} of {len(before)} series"
    )
    back_after = time.monotonic() - restarted
    time.sleep(20)  # scrapes, rule evaluations and Alertmanager's group_interval, several times over
    assert exported_series(settings) >= before
    assert "SOFRAboveIORB" in firing_in_prometheus(settings)
    said_after = notifications(settings)
    assert said_after == said_before, f"new notifications after the restart: {said_after[len(said_before) :]}"

    with PrintProducer(settings) as producer:
        run_replay(producer, after_kill, speed=None)
    reference = expected_run(settings, plan.prints)
    assert wait_for(lambda: check_delivery(settings, reference).ok, 90, every_seconds=2.0), str(
        check_delivery(settings, reference)
    )
    delivery = check_delivery(settings, reference)
    got = pages(settings)
    assert not repeated_pages(got), repeated_pages(got)
    # Replayed history pages nobody: every notification went to the replay receiver.
    assert {p.receiver for p in got} == {"replay"}
    critical = [(p.status, p.alertname) for p in page_events(got) if p.severity == "critical"]
    assert critical.count(("firing", "SOFRAboveIORB")) == 1, critical
    print(
        f"series back {back_after:.1f} s after the restart; {len(before)} series; no notification; "
        f"{len(reference.signals)} signals and {len(reference.alerts)} alerts as in process; "
        f"{delivery.redelivered_alerts} alerts redelivered"
    )
