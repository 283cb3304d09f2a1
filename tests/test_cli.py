"""The command line: help, config, and one clear line for missing data or bad settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def plumbline(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plumbline", *args],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", **(env or {})},
    )  # fmt: skip


def test_help_lists_the_commands() -> None:
    result = plumbline("--help")
    assert result.returncode == 0
    for command in ("config", "stack", "worker", "replay", "alerts", "demo"):
        assert command in result.stdout


def test_config_prints_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    result = plumbline(
        "config", env={"PLUMBLINE_FRED_API_KEY": "supersecretkey42", "PLUMBLINE_STATE_DIR": str(tmp_path)}
    )
    assert result.returncode == 0
    assert "PLUMBLINE_BROKER_PORT=19092" in result.stdout
    assert f"PLUMBLINE_STATE_DIR={tmp_path}" in result.stdout
    assert "supersecretkey" not in result.stdout


def test_bad_setting_fails_at_start_with_one_line() -> None:
    result = plumbline("config", env={"PLUMBLINE_METRICS_PORT": "many"})
    assert result.returncode == 2
    assert result.stderr.strip() == "plumbline: bad setting: PLUMBLINE_METRICS_PORT: 'many' is not an integer"


def test_demo_without_data_directory_says_so(tmp_path: Path) -> None:
    result = plumbline("demo", env={"PLUMBLINE_STATE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "no data directory" in result.stderr and "PLUMBLINE_DATA_DIR" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_replay_of_unknown_series_says_so(tmp_path: Path, data_dir: Path) -> None:
    result = plumbline(
        "replay", "--from", "2019-09-01", "--to", "2019-09-30", "--series", "NOPE",
        env={"PLUMBLINE_STATE_DIR": str(tmp_path), "PLUMBLINE_DATA_DIR": str(data_dir)},
    )  # fmt: skip
    assert result.returncode == 1
    assert "unknown series 'NOPE'" in result.stderr


def test_alerts_with_nothing_received(tmp_path: Path) -> None:
    result = plumbline("alerts", env={"PLUMBLINE_STATE_DIR": str(tmp_path)})
    assert result.returncode == 0
    assert "no alerts received yet" in result.stdout
