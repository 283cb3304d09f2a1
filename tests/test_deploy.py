"""Deploy configs are checked by the real tools: promtool and amtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from plumbline import stack
from tests.conftest import REPO_ROOT, make_settings

DEPLOY = REPO_ROOT / "deploy"


def run_tool(*argv: str, cwd: Path | None = None) -> str:
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{argv[0]} is not installed: `make install` installs it", pytrace=False)
    result = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=60)
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
    out = run_tool("promtool", "test", "rules", *map(str, tests))
    assert "SUCCESS" in out


def test_every_alert_rule_has_a_promtool_test() -> None:
    import re

    rules = "".join(p.read_text() for p in (DEPLOY / "prometheus" / "rules").glob("*.yml"))
    tests = "".join(p.read_text() for p in (DEPLOY / "prometheus" / "tests").glob("*.yml"))
    alerts = set(re.findall(r"^\s*- alert: (\w+)", rules, re.MULTILINE))
    assert alerts
    for alert in alerts:
        assert f"alertname: {alert}" in tests, f"{alert} has no promtool test"
        assert (REPO_ROOT / "docs" / "runbooks" / f"{alert}.md").is_file(), f"{alert} has no runbook"


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
