"""Faults: Prometheus or Alertmanager down, then back. What the person on call sees: the page, once.

On the whole embedded stack, a live SOFR print 30 bp above IORB makes SOFRAboveIORB critical fire
(the spike rule: no ``for:``, ``keep_firing_for: 5m``), which goes to the paging receiver.

- **Prometheus down** while the print arrives, for longer than an evaluation and Alertmanager's
  group_wait, then back: it scrapes the worker's state (still exported), fires at its first
  evaluation and the page arrives once. Then Prometheus is killed (``kill -9``) while the alert
  fires and started again: no ``resolved``, no second ``firing``. Prometheus' last send is valid for
  4 x its resend delay, so Alertmanager keeps the alert through the outage; the new Prometheus fires
  again at once, and Alertmanager merges that into the alert it holds (no ``for:`` state to restore:
  the rule has none, the TSDB under the state directory survives anyway).
- **Alertmanager down** while the alert starts firing, then back: Prometheus' sends fail (counted),
  it re-sends at its resend delay, and the page arrives once. Then Alertmanager is killed
  (``kill -9``) and started again, and later restarted (``stack down``, SIGTERM): its notification
  log persists under ``--storage.path`` (written every maintenance interval and at exit), so the
  alert Prometheus re-sends to the new process is known as sent, and nothing is sent twice.

Each test also checks the topics against an uninterrupted in-process run (tests/faults/harness.py),
and prints how long after the component was back the page arrived.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import urllib.request
from typing import Any

import pytest

from connectors.producer import PrintProducer
from foundation.records import Print
from foundation.settings import Settings
from plumbline import stack
from plumbline.webhook import read_notifications
from tests.faults.harness import check_delivery, expected_run, pages, repeated_pages, wait_for

pytestmark = pytest.mark.e2e

# The live prints of tests/test_replay_isolation.py: SOFR 30 bp above IORB, over the 12 bp spike level.
PAGE = ("page", "firing", "SOFRAboveIORB", "critical")
GROUP_INTERVAL_SECONDS = 5.0  # deploy/alertmanager/alertmanager.local.yml
RESEND_DELAY_SECONDS = 15.0  # plumbline/stack.py: Prometheus' --rules.alert.resend-delay
AM_MAINTENANCE_SECONDS = 5.0  # plumbline/stack.py: Alertmanager's --data.maintenance-interval


def _live(series_id: str, day: dt.date, value: float) -> Print:
    published = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(13, 0), dt.UTC)
    return Print(series_id, day, value, "percent", "nyfed", published, vintage=1, replay=False)


PRINTS = [_live("IORB", dt.date(2026, 11, 25), 3.65), _live("SOFR", dt.date(2026, 11, 27), 3.95)]


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _said(settings: Settings) -> list[tuple[str, str, str, str]]:
    return [(p.receiver, p.status, p.alertname, p.severity) for p in pages(settings)]


def _firing_in_prometheus(settings: Settings) -> bool:
    try:
        body = _get_json(f"http://127.0.0.1:{settings.prometheus_port}/api/v1/alerts")
    except OSError:
        return False
    alerts = body["data"]["alerts"]
    return any(
        a["labels"]["alertname"] == "SOFRAboveIORB" and a["labels"]["severity"] == "critical"
        for a in alerts
        if a["state"] == "firing"
    )


def _prometheus_counter(settings: Settings, name: str) -> float:
    """Sum of Prometheus' own counter ``name`` over its labels (0 if not exported yet)."""
    url = f"http://127.0.0.1:{settings.prometheus_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def _held_by_alertmanager(settings: Settings) -> bool:
    try:
        alerts = _get_json(f"http://127.0.0.1:{settings.alertmanager_port}/api/v2/alerts")
    except OSError:
        return False
    return any(a["labels"].get("alertname") == "SOFRAboveIORB" for a in alerts)


def _exports_the_spread(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return False
    return any(
        line.startswith("plumbline_signal_basis_points{") and 'signal="sofr_iorb_spread_bp"' in line
        for line in text.splitlines()
    )


def _pid(settings: Settings, name: str) -> int:
    pid = next(c.pid for c in stack.status(settings) if c.name == name)
    assert pid is not None, f"{name} is not running"
    return pid


def _kill_9(settings: Settings, name: str) -> None:
    os.kill(_pid(settings, name), signal.SIGKILL)
    assert wait_for(lambda: next(c.pid for c in stack.status(settings) if c.name == name) is None, 10)


def _start(settings: Settings, name: str) -> dt.datetime:
    """Start ``name`` again; returns when it is ready (the wall clock the webhook stamps with)."""
    stack.up(settings, components=[name], say=lambda line: None)
    return dt.datetime.now(dt.UTC)


def _page_delay(settings: Settings, since: dt.datetime) -> float:
    """Seconds from ``since`` to the first notification the receiver got after it."""
    received = [
        dt.datetime.fromisoformat(entry["received_at"])
        for entry in read_notifications(stack.alerts_file(settings))
    ]
    return min((r - since).total_seconds() for r in received if r >= since)


def _check_topics(settings: Settings) -> None:
    reference = expected_run(settings, PRINTS)
    assert wait_for(lambda: check_delivery(settings, reference).ok, 60, every_seconds=2.0), str(
        check_delivery(settings, reference)
    )


def test_prometheus_down_then_back_pages_once_and_a_crash_while_firing_sends_nothing(
    local_stack: Settings,
) -> None:
    settings = local_stack
    stack.down(settings, components=["prometheus"], say=lambda line: None)
    assert [c.name for c in stack.status(settings) if not c.running] == ["prometheus"]
    with PrintProducer(settings) as producer:
        producer.send_all(PRINTS)
    assert wait_for(lambda: _exports_the_spread(settings), 60), "the worker never exported the spread"
    time.sleep(GROUP_INTERVAL_SECONDS)  # many evaluation intervals and group_waits: nobody evaluates
    assert _said(settings) == []

    back = _start(settings, "prometheus")
    assert wait_for(lambda: _said(settings), 60), "no page after Prometheus came back"
    first_delay = _page_delay(settings, back)
    time.sleep(GROUP_INTERVAL_SECONDS + 1)  # anything else Alertmanager had to say is said
    assert _said(settings) == [PAGE]

    # Down while the alert fires: killed, kept down for longer than Alertmanager's group interval.
    _kill_9(settings, "prometheus")
    time.sleep(GROUP_INTERVAL_SECONDS + 1)
    _start(settings, "prometheus")
    assert wait_for(lambda: _firing_in_prometheus(settings), 30), "the alert did not fire again"
    # Prometheus learns its Alertmanager through discovery a few seconds after it starts, so the
    # first send of an alert that fires at once goes nowhere; the next, a resend delay later, does.
    sent = "prometheus_notifications_sent_total"
    assert wait_for(lambda: _prometheus_counter(settings, sent) > 0, 3 * RESEND_DELAY_SECONDS)
    time.sleep(GROUP_INTERVAL_SECONDS + 1)  # a second firing or a resolved would be out by now
    got = pages(settings)
    assert _said(settings) == [PAGE], f"after Prometheus' restart the receiver got {_said(settings)}"
    assert repeated_pages(got) == []
    assert dict(got[0].labels)["replay"] == "false"
    _check_topics(settings)
    print(f"page {first_delay:.1f} s after Prometheus was back; nothing sent after the crash while firing")


def test_alertmanager_down_then_back_delivers_the_page_once_and_restarts_do_not_repeat_it(
    local_stack: Settings,
) -> None:
    settings = local_stack
    stack.down(settings, components=["alertmanager"], say=lambda line: None)
    assert [c.name for c in stack.status(settings) if not c.running] == ["alertmanager"]
    with PrintProducer(settings) as producer:
        producer.send_all(PRINTS)
    assert wait_for(lambda: _firing_in_prometheus(settings), 60), "the alert never fired in Prometheus"
    # Prometheus tried to send it and could not.
    assert wait_for(lambda: _prometheus_counter(settings, "prometheus_notifications_errors_total") > 0, 30), (
        "Prometheus never failed to send to the stopped Alertmanager"
    )
    assert _said(settings) == []

    back = _start(settings, "alertmanager")
    assert wait_for(lambda: _said(settings), 3 * RESEND_DELAY_SECONDS), "no page after Alertmanager came back"
    first_delay = _page_delay(settings, back)
    time.sleep(GROUP_INTERVAL_SECONDS + 1)
    assert _said(settings) == [PAGE]

    # Killed (one maintenance interval after the page: only the periodic snapshot has it on disk),
    # then restarted (SIGTERM, as a rollout does): each time Prometheus re-sends the firing alert to
    # the new process, which must not page again.
    for how in ("kill -9", "restart"):
        if how == "kill -9":
            time.sleep(AM_MAINTENANCE_SECONDS)
            _kill_9(settings, "alertmanager")
        else:
            stack.down(settings, components=["alertmanager"], say=lambda line: None)
        _start(settings, "alertmanager")
        assert wait_for(lambda: _held_by_alertmanager(settings), 3 * RESEND_DELAY_SECONDS), (
            f"after the {how} Prometheus never re-sent the alert"
        )
        time.sleep(GROUP_INTERVAL_SECONDS)  # past group_wait (1 s) and one group interval
        assert _said(settings) == [PAGE], f"after the {how} the receiver got {_said(settings)}"
    assert repeated_pages(pages(settings)) == []
    _check_topics(settings)
    print(f"page {first_delay:.1f} s after Alertmanager was back; nothing sent after a kill -9 or a restart")
