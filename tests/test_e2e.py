"""End to end on the real embedded broker, Prometheus and Alertmanager.

History is replayed with kafka-python onto the prints topic; the Faust worker runs the detector;
Prometheus scrapes it and evaluates SOFRAboveIORB; Alertmanager delivers to the webhook receiver.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request

import pytest

from connectors.producer import PrintProducer
from connectors.replay import plan_replay, run_replay
from foundation.settings import Settings
from plumbline.stack import alerts_file
from plumbline.webhook import iter_alerts

pytestmark = pytest.mark.e2e

SERIES = ("SOFR", "IORB", "IOER")
FOUR_DAYS_A_SECOND = 4 * 86400.0


def replay(settings: Settings, start: str, end: str) -> int:
    plan = plan_replay(settings.data_dir, SERIES, dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    with PrintProducer(settings) as producer:
        return run_replay(producer, plan.prints, speed=FOUR_DAYS_A_SECOND)


def prometheus_value(settings: Settings, query: str) -> float | None:
    url = f"http://127.0.0.1:{settings.prometheus_port}/api/v1/query?query={urllib.parse.quote(query)}"
    with urllib.request.urlopen(url, timeout=5) as response:
        result = json.load(response)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def wait_for(predicate, timeout_seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def firing(settings: Settings) -> list[dict]:  # type: ignore[type-arg]
    return [a for a in iter_alerts(alerts_file(settings)) if a["status"] == "firing"]


def test_september_2019_reaches_the_webhook_receiver_as_sofr_above_iorb(local_stack: Settings) -> None:
    sent = replay(local_stack, "2019-08-15", "2019-09-30")
    assert sent > 40
    assert wait_for(lambda: firing(local_stack), 60), "no alert reached the webhook receiver"
    alert = firing(local_stack)[0]
    assert alert["labels"]["alertname"] == "SOFRAboveIORB"
    # The regime's entry pages first (critical); the warning that carries the regime is inhibited by it.
    assert (alert["labels"]["severity"], alert["labels"].get("trigger")) == ("critical", "regime_entry")
    assert alert["labels"]["replay"] == "true"
    assert alert["receiver"] == "replay" and alert["path"] == "/alerts/replay"  # replays page nobody
    assert alert["annotations"]["episode_start"].startswith("2019-09-03")
    assert alert["annotations"]["runbook_url"].endswith("docs/runbooks/SOFRAboveIORB.md")
    # The last print of the window (2019-09-30, +55 bp) reaches Prometheus and stays visible after the
    # replay ends: no staleness gap between daily prints.
    spread_query = 'plumbline_signal_basis_points{signal="sofr_iorb_spread_bp"}'
    assert wait_for(lambda: prometheus_value(local_stack, spread_query) == 55.0, 30)
    time.sleep(3)
    assert prometheus_value(local_stack, spread_query) == 55.0


def test_calm_2021_window_sends_nothing(local_stack: Settings) -> None:
    replay(local_stack, "2021-03-01", "2021-05-31")
    # Wait until Prometheus has scraped the last day of the window and evaluated the rule on it,
    # then give Alertmanager more than its group_wait to deliver anything it had.
    last_day = dt.datetime(2021, 5, 28, tzinfo=dt.UTC).timestamp()
    assert wait_for(
        lambda: (
            prometheus_value(
                local_stack, 'plumbline_signal_observation_timestamp_seconds{signal="sofr_iorb_spread_bp"}'
            )
            == last_day
        ),
        30,
    ), "Prometheus never saw the end of the replay"
    assert prometheus_value(local_stack, "max(plumbline_detector_alarm)") == 0.0
    time.sleep(6)
    assert firing(local_stack) == []
    assert list(iter_alerts(alerts_file(local_stack))) == []
