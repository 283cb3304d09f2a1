"""`plumbline demo`: which prints it holds, how it prints pages, and end to end (marked e2e).

End to end, the demo runs as `make demo` runs it (its own fresh stack), on free ports under a
temporary state directory. What the webhook receiver recorded is read back independently of the
demo's own printing: each SOFRAboveIORB alert's observation date is what Prometheus held for the
spread when the alert started. Wall-clock times are measured and kept (``test-artifacts/demo.txt``),
not asserted tightly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.replay import plan_replay
from foundation.settings import Settings, load_settings
from plumbline import stack
from plumbline.commands import demo
from plumbline.stack import alerts_file
from plumbline.webhook import iter_alerts
from tests.conftest import REPO_ROOT, make_settings

ARTIFACTS = REPO_ROOT / "test-artifacts"


def test_the_engine_finds_the_prints_that_change_the_alert_state(data_dir: Path) -> None:
    settings = load_settings(env={}, data_dir=data_dir)
    plans = [plan_replay(data_dir, demo.SERIES, start, end) for start, end in demo.WINDOWS]
    changes = demo.alert_changes([p for plan in plans for p in plan.prints], settings)
    critical = [(str(c.observation_date), c.critical) for c in changes if c.critical_changed]
    # Spikes at or above the critical level (12 bp) and each regime's first five days (its entry).
    assert critical == [
        ("2019-09-03", True), ("2019-09-09", False), ("2019-09-16", True), ("2019-09-20", False),
        ("2019-09-24", True), ("2019-09-26", False), ("2019-09-30", True), ("2019-10-01", False),
        ("2025-10-02", True), ("2025-10-07", False), ("2025-10-15", True), ("2025-10-17", False),
        ("2025-10-21", True), ("2025-11-04", False),
    ]  # fmt: skip
    first = changes[0]
    assert (str(first.observation_date), first.warning, first.critical) == ("2019-09-03", True, True)
    # The 2019 regime ends when the 2025 window starts (six years without a print reset the detector).
    assert any(str(c.observation_date) == "2025-09-22" and not c.warning for c in changes)
    assert changes[-1].warning and not changes[-1].critical
    # Each change is the publication of its SOFR print (the next business day).
    spike = next(c for c in changes if str(c.observation_date) == "2019-09-16")
    assert spike.published_at.date() == dt.date(2019, 9, 17) and spike.spread_bp == 33.0


def test_the_intervals_come_from_the_local_stack_configs() -> None:
    timing = demo.Timing.from_configs(stack.deploy_dir())
    assert timing.scrape > 0 and timing.evaluation > 0 and timing.group_interval > 0
    assert timing.visible == 2 * (timing.scrape + timing.evaluation)
    assert timing.delivery == timing.visible + timing.group_interval
    assert demo._setting("  scrape_interval: 1m30s\n", "scrape_interval", 0) == 90.0
    assert demo._setting("group_interval: '500ms'\n", "group_interval", 0) == 0.5
    assert demo._setting("other: 1s\n", "group_interval", 7.0) == 7.0


def _notification(status: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    return {"received_at": "2026-01-01T00:00:10+00:00", "path": "/alerts/replay",
            "notification": {"receiver": "replay", "status": status, "alerts": list(alerts)}}  # fmt: skip


def _alert(severity: str, status: str, starts: str, ends: str = "0001-01-01T00:00:00Z") -> dict[str, Any]:
    labels = {"alertname": "SOFRAboveIORB", "severity": severity, "signal": "sofr_iorb_spread_bp"}
    annotations = {"episode_start": "2019-09-03 00:00:00 +0000 UTC"} if severity == "warning" else {}
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts,
        "endsAt": ends,
    }


def test_each_page_is_printed_once_with_its_date_and_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(env={}, state_dir=tmp_path)
    lines: list[str] = []
    started = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
    log = demo.PageLog(settings, started, say=lines.append)
    log.sent_wall[dt.date(2019, 9, 16)] = started + 7.5
    # What Prometheus held for the spread at each moment (no Prometheus here).
    dates = {
        "2026-01-01T00:00:04Z": (dt.date(2019, 9, 4), 7.0),
        "2026-01-01T00:00:09Z": (dt.date(2019, 9, 16), 33.0),
        "2026-01-01T00:00:12Z": (dt.date(2019, 9, 19), 15.0),
    }
    monkeypatch.setattr(log, "_observation_at", lambda when: dates.get(when, (None, None)))
    critical = _alert("critical", "firing", "2026-01-01T00:00:09Z")
    resolved = dict(critical, status="resolved", endsAt="2026-01-01T00:00:12Z")
    warning = _alert("warning", "firing", "2026-01-01T00:00:04Z")
    unknown = _alert("critical", "resolved", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z")
    entries = [
        _notification("firing", critical),
        _notification("firing", critical),
        _notification("firing", resolved, warning, unknown),
    ]
    alerts_file(settings).write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    log.poll()
    assert lines[0] == (
        "   10.0 s  SOFRAboveIORB critical firing: on the 2019-09-16 print (SOFR - IORB +33 bp), "
        "received 2.5 s after that print was produced"
    )
    assert (
        lines[1]
        == "   10.0 s  SOFRAboveIORB critical resolved: ended by the 2019-09-19 print (SOFR - IORB +15 bp)"
    )
    assert lines[2] == (
        "   10.0 s  SOFRAboveIORB warning firing: episode since 2019-09-03, seen with the 2019-09-04 print "
        "(SOFR - IORB +7 bp) (held back by the critical page, which inhibits it)"
    )
    assert lines[3] == "   10.0 s  SOFRAboveIORB critical resolved"  # no date known: none made up
    assert len(lines) == 4  # the repeated notification printed nothing
    assert log.delivered_state() == (True, False)
    assert log.critical_delivered(started, firing=True) and log.warning_delivered(started)
    assert not log.critical_delivered(started + 11, firing=False)


def observation_date_at(settings: Settings, when: str) -> dt.date | None:
    """The observation date of SOFR - IORB that Prometheus held at ``when`` (an alert's startsAt)."""
    moment = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    query = 'max(plumbline_signal_observation_timestamp_seconds{signal="sofr_iorb_spread_bp"})'
    url = f"http://127.0.0.1:{settings.prometheus_port}/api/v1/query?" + urllib.parse.urlencode(
        {"query": query, "time": f"{moment:.3f}"}
    )
    with urllib.request.urlopen(url, timeout=5) as response:
        result = json.load(response)["data"]["result"]
    return dt.datetime.fromtimestamp(float(result[0]["value"][1]), dt.UTC).date() if result else None


def firing_pages(settings: Settings, severity: str) -> list[tuple[dt.date | None, dict[str, Any]]]:
    return [
        (observation_date_at(settings, alert["startsAt"]), alert)
        for alert in iter_alerts(alerts_file(settings))
        if alert["status"] == "firing"
        and alert["labels"].get("alertname") == "SOFRAboveIORB"
        and alert["labels"].get("severity") == severity
    ]


def within(start: str, end: str) -> Callable[[dt.date | None], bool]:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return lambda day: day is not None and first <= day <= last


@pytest.fixture
def demo_settings(tmp_path: Path, data_dir: Path) -> Any:
    settings = make_settings(tmp_path / "state", data_dir)
    try:
        yield settings
    finally:
        stack.down(settings, say=lambda line: None)


@pytest.mark.e2e
def test_the_demo_pages_the_2019_and_2025_spikes_and_the_warning_regimes(
    demo_settings: Settings, capsys: pytest.CaptureFixture[str], record_property: Callable[[str, Any], None]
) -> None:
    args = argparse.Namespace(days_per_second=demo.DEFAULT_DAYS_PER_SECOND, wait_seconds=20.0, down=False)
    started = time.time()
    code = demo.run(args, demo_settings)
    elapsed = time.time() - started
    output = capsys.readouterr().out
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "demo.txt").write_text(output)

    critical = firing_pages(demo_settings, "critical")
    warning = firing_pages(demo_settings, "warning")
    received = [
        dt.datetime.fromisoformat(a["received_at"]).timestamp()
        for a in iter_alerts(alerts_file(demo_settings))
    ]
    assert received, output
    first_alert, last_page = min(received) - started, max(received) - started
    timings = f"first alert {first_alert:.1f} s, last page {last_page:.1f} s, demo {elapsed:.1f} s"
    record_property("demo_timings", timings)
    with capsys.disabled():
        print(f"\n[test_demo] {timings}")

    assert code == 0, output
    # Replayed history is routed to the receiver that pages nobody.
    assert {a["receiver"] for _, a in critical + warning} == {"replay"}
    assert any(within("2019-09-16", "2019-09-17")(day) for day, _ in critical), output
    assert any(within("2025-10-02", "2025-10-31")(day) for day, _ in critical), output
    assert any(within("2019-08-19", "2019-10-04")(day) for day, _ in warning), output
    assert any(within("2025-09-22", "2025-11-14")(day) for day, _ in warning), output
    # The printed lines name the date and the delay, and say resolved when it is.
    assert "began on :" not in output and "nan s" not in output
    assert "SOFRAboveIORB critical firing: on the 2019-09-16 print (SOFR - IORB +33 bp)" in output
    assert "SOFRAboveIORB critical firing: on the 2025-10-02 print" in output  # the regime's entry
    assert "SOFRAboveIORB critical resolved: ended by the 2019-09-20 print" in output
    lines = [line for line in output.splitlines() if "SOFRAboveIORB critical firing" in line]
    assert len(lines) == len(set(line.split(" s  ", 1)[1] for line in lines))  # each page printed once
    # Generous: the acceptance is under 60 s to the last page on a warm machine; shared CI is slower.
    assert last_page < 120, timings
