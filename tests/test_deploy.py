"""Deploy configs are checked by the real tools: promtool and amtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from plumbline import stack
from tests.conftest import REPO_ROOT, make_settings

DEPLOY = REPO_ROOT / "deploy"


def run_tool(*argv: str, cwd: Path | None = None, timeout: float = 60) -> str:
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{argv[0]} is not installed: `make install` installs it", pytrace=False)
    result = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_alert_rules_are_valid() -> None:
    out = run_tool(
        "promtool", "check", "rules", *map(str, sorted((DEPLOY / "prometheus" / "rules").glob("*.yml")))
    )
    assert "SUCCESS" in out


def test_promtool_rule_tests_fire_and_stay_quiet() -> None:
    tests = sorted((DEPLOY / "prometheus" / "tests").glob("*_test.yml"))
    assert tests
    # funding_test.yml evaluates every rule each minute over weeks of daily series: about 140 s on
    # a busy two-core machine, so 60 s was too short.
    out = run_tool("promtool", "test", "rules", *map(str, tests), timeout=600)
    assert "SUCCESS" in out


def test_every_alert_rule_has_a_promtool_test() -> None:
    rules = "".join(p.read_text() for p in (DEPLOY / "prometheus" / "rules").glob("*.yml"))
    tests = "".join(p.read_text() for p in (DEPLOY / "prometheus" / "tests").glob("*.yml"))
    alerts = set(re.findall(r"^\s*- alert: (\w+)", rules, re.MULTILINE))
    assert alerts
    for alert in alerts:
        assert f"alertname: {alert}" in tests, f"{alert} has no promtool test"
        assert (REPO_ROOT / "docs" / "runbooks" / f"{alert}.md").is_file(), f"{alert} has no runbook"


def _alert_blocks(path: Path) -> list[str]:
    """The text of each alerting rule of a rule file, from its `- alert:` line to the next rule."""
    blocks = re.split(r"^\s*- (?=alert:|record:)", path.read_text(), flags=re.MULTILINE)[1:]
    return [block for block in blocks if block.startswith("alert:")]


def test_funding_alerts_keep_firing_through_a_worker_restart() -> None:
    # A restart, redeploy or rebalance hides a worker's series for a few scrapes; that gap must not
    # resolve a page (deploy/prometheus/tests/funding_continuity_test.yml shows it, docs/deploy.md
    # says what it costs). A new funding alert without it would flap on every deploy.
    alerts = _alert_blocks(DEPLOY / "prometheus" / "rules" / "funding.yml")
    assert alerts
    for alert in alerts:
        name = alert.splitlines()[0]
        assert "\n        keep_firing_for: 5m\n" in alert, f"{name} has no keep_firing_for: 5m"


def test_replay_is_never_taken_from_a_global_mode() -> None:
    # One replayed detector once labelled every level alert replay="true" and silenced live pages:
    # each alert takes `replay` from its own inputs (deploy/prometheus/tests/funding_replay_test.yml).
    rules = "".join(p.read_text() for p in (DEPLOY / "prometheus" / "rules").glob("*.yml"))
    assert "plumbline:replay:mode" not in rules
    assert "count(plumbline_detector_alarm" not in rules


def test_alertmanager_config_is_valid() -> None:
    out = run_tool("amtool", "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml"))
    assert "SUCCESS" in out


def test_local_prometheus_config_renders_to_the_configured_ports(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "state")
    stack._prepare_prometheus(settings)
    rendered = settings.state_dir / "prometheus" / "prometheus.yml"
    text = rendered.read_text()
    assert f"127.0.0.1:{settings.metrics_port}" in text
    assert f"127.0.0.1:{settings.alertmanager_port}" in text
    assert "19100" not in text
    run_tool("promtool", "check", "config", str(rendered))
