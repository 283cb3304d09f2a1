"""The routing of deploy/alertmanager/alertmanager.yml in the real Alertmanager, checked at the webhook
receiver. The local stack runs deploy/alertmanager/alertmanager.local.yml: the same routing with demo
timings (tests/deploy/test_manifests.py keeps the two identical otherwise), so a test waits seconds.

One Alertmanager and one webhook recorder (the local stack's components, on free ports) serve the
module; each test posts alerts under its own alert names to ``POST /api/v2/alerts`` and reads what
the recorder got: which receiver (path), how the alerts were grouped, what was inhibited.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundation.settings import Settings
from plumbline import stack
from plumbline.webhook import read_notifications
from tests.conftest import make_settings

pytestmark = pytest.mark.e2e

# The config's group_wait is 1 s and group_interval 5 s: a first notification arrives within ~2 s.
DELIVERY_SECONDS = 6.0


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = make_settings(tmp_path_factory.mktemp("alertmanager") / "state")
    try:
        stack.up(settings, components=["webhook", "alertmanager"], say=lambda line: None)
        yield settings
    finally:
        stack.down(settings, say=lambda line: None)


def post_alerts(settings: Settings, *alerts: dict[str, Any]) -> None:
    body = [
        {
            "labels": alert,
            "annotations": {
                "summary": f"test {alert['alertname']}",
                "runbook_url": "https://example.invalid",
            },
        }
        for alert in alerts
    ]
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.alertmanager_port}/api/v2/alerts",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def notifications_for(settings: Settings, alertname: str) -> list[dict[str, Any]]:
    """Every notification holding an alert named ``alertname``: path, receiver and its alerts' labels."""
    out = []
    for entry in read_notifications(stack.alerts_file(settings)):
        alerts = [a["labels"] for a in entry["notification"]["alerts"]]
        if any(labels.get("alertname") == alertname for labels in alerts):
            receiver = entry["notification"]["receiver"]
            out.append({"path": entry["path"], "receiver": receiver, "alerts": alerts})
    return out


def wait_for_notifications(settings: Settings, alertname: str, count: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DELIVERY_SECONDS
    while time.monotonic() < deadline:
        found = notifications_for(settings, alertname)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    return notifications_for(settings, alertname)


def unique(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(
    ("severity", "path"),
    [
        ("critical", "/alerts/page"),
        ("warning", "/alerts/notify"),
        ("info", "/alerts/record"),
        ("", "/alerts/page"),  # no severity: the default receiver pages
    ],
)
def test_each_severity_reaches_its_receiver(alertmanager: Settings, severity: str, path: str) -> None:
    name = unique("Routing")
    labels = {"alertname": name, "signal": "sofr_iorb_spread_bp", "replay": "false"}
    if severity:
        labels["severity"] = severity
    post_alerts(alertmanager, labels)
    found = wait_for_notifications(alertmanager, name)
    assert [n["path"] for n in found] == [path], found


def test_replayed_alerts_page_nobody(alertmanager: Settings) -> None:
    name = unique("Replay")
    post_alerts(
        alertmanager,
        {"alertname": name, "signal": "sofr_iorb_spread_bp", "severity": "critical", "replay": "true"},
        {"alertname": name, "signal": "srf_usage_usd_bn", "severity": "warning", "replay": "true"},
    )
    found = wait_for_notifications(alertmanager, name, count=2)
    assert sorted(n["path"] for n in found) == ["/alerts/replay", "/alerts/replay"]
    assert {n["receiver"] for n in found} == {"replay"}


def test_a_live_alert_beside_a_replay_pages_and_the_replay_does_not(alertmanager: Settings) -> None:
    # The rules label each alert with its own inputs' replay flag: a replay running beside live data
    # must neither page nor silence the live alert.
    name = unique("LiveBesideReplay")
    post_alerts(
        alertmanager,
        {"alertname": name, "signal": "sofr_iorb_spread_bp", "severity": "critical", "replay": "false"},
        {"alertname": name, "signal": "srf_usage_usd_bn", "severity": "critical", "replay": "true"},
    )
    found = wait_for_notifications(alertmanager, name, count=2)
    delivered = {(a["signal"], n["path"]) for n in found for a in n["alerts"]}
    assert delivered == {("sofr_iorb_spread_bp", "/alerts/page"), ("srf_usage_usd_bn", "/alerts/replay")}


def test_a_replayed_critical_does_not_inhibit_the_live_warning_of_its_signal(alertmanager: Settings) -> None:
    name = unique("ReplayInhibit")
    replayed = {"alertname": name, "signal": "sofr_iorb_spread_bp", "severity": "critical", "replay": "true"}
    post_alerts(alertmanager, replayed)
    assert wait_for_notifications(alertmanager, name), "the replayed critical never arrived"
    live_warning = {**replayed, "severity": "warning", "replay": "false", "detector": "persistence_threshold"}
    post_alerts(alertmanager, live_warning)
    found = wait_for_notifications(alertmanager, name, count=2)
    delivered = {(a["severity"], a["replay"], n["path"]) for n in found for a in n["alerts"]}
    assert ("warning", "false", "/alerts/notify") in delivered, found


def test_pipeline_alerts_without_a_replay_label_route_by_severity(alertmanager: Settings) -> None:
    absent = unique("WorkersAbsent")
    missing = unique("SignalMissing")
    post_alerts(
        alertmanager,
        {"alertname": absent, "job": "plumbline-worker", "severity": "critical", "team": "platform"},
        {"alertname": missing, "signal": "reserves_usd_bn", "severity": "critical", "team": "platform"},
    )
    assert [n["path"] for n in wait_for_notifications(alertmanager, absent)] == ["/alerts/page"]
    assert [n["path"] for n in wait_for_notifications(alertmanager, missing)] == ["/alerts/page"]


def test_alerts_are_grouped_by_alert_name_and_signal(alertmanager: Settings) -> None:
    name = unique("Grouping")
    stale = [{"alertname": name, "severity": "warning", "series": s} for s in ("SOFR", "EFFR", "WRESBAL")]
    other_signal = {"alertname": name, "severity": "warning", "signal": "tgcr_iorb_spread_bp"}
    post_alerts(alertmanager, *stale, other_signal)
    found = wait_for_notifications(alertmanager, name, count=2)
    time.sleep(1.5)  # nothing else may arrive for these groups
    found = notifications_for(alertmanager, name)
    assert len(found) == 2, found
    by_size = sorted(found, key=lambda n: len(n["alerts"]))
    assert [a.get("signal") for a in by_size[0]["alerts"]] == ["tgcr_iorb_spread_bp"]
    # The three stale series arrive together, in one notification.
    assert sorted(a["series"] for a in by_size[1]["alerts"]) == ["EFFR", "SOFR", "WRESBAL"]


def test_a_critical_alert_inhibits_its_own_warning_only(alertmanager: Settings) -> None:
    name = unique("Inhibit")
    critical = {"alertname": name, "signal": "sofr_iorb_spread_bp", "severity": "critical", "replay": "false"}
    post_alerts(alertmanager, critical)
    assert wait_for_notifications(alertmanager, name), "the critical alert never arrived"
    own_warning = {**critical, "severity": "warning", "detector": "persistence_threshold"}
    other_signal = {**critical, "severity": "warning", "signal": "effr_iorb_spread_bp"}
    post_alerts(alertmanager, own_warning, other_signal)
    time.sleep(DELIVERY_SECONDS)
    found = notifications_for(alertmanager, name)
    delivered = {(a["severity"], a["signal"]) for n in found for a in n["alerts"]}
    assert ("critical", "sofr_iorb_spread_bp") in delivered
    assert ("warning", "effr_iorb_spread_bp") in delivered  # a different signal is not inhibited
    assert ("warning", "sofr_iorb_spread_bp") not in delivered  # its own warning is
    assert {n["path"] for n in found if n["alerts"][0]["severity"] == "critical"} == {"/alerts/page"}


def test_a_warning_inhibits_its_own_info(alertmanager: Settings) -> None:
    name = unique("InhibitInfo")
    warning = {"alertname": name, "signal": "usdjpy_change_20d_pct", "severity": "warning", "replay": "false"}
    post_alerts(alertmanager, warning)
    assert wait_for_notifications(alertmanager, name)
    post_alerts(alertmanager, {**warning, "severity": "info"})
    time.sleep(DELIVERY_SECONDS)
    delivered = {a["severity"] for n in notifications_for(alertmanager, name) for a in n["alerts"]}
    assert delivered == {"warning"}


def test_config_file_is_the_one_under_test(alertmanager: Settings) -> None:
    rendered = Path(alertmanager.state_dir / "alertmanager" / "alertmanager.yml").read_text()
    assert f"127.0.0.1:{alertmanager.webhook_port}/alerts/page" in rendered
    assert "19095" not in rendered
