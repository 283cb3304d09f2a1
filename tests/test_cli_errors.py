"""Every CLI failure is one line on stderr naming the fix, with a non-zero exit, never a traceback.

Each case runs the real command in a subprocess, on free ports of its own: a broker that is not
there, a port another process holds, a Prometheus that is not installed, a data directory that is
missing or empty; and the safety net of ``plumbline.cli.main`` for a failure no command expected.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from plumbline import cli
from tests.conftest import free_port, make_settings


def plumbline(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plumbline", *args],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", **env},
    )  # fmt: skip


def settings_env(tmp_path: Path, data_dir: Path | None = None, **overrides: str) -> dict[str, str]:
    """The environment of ``make_settings`` (free ports, state under ``tmp_path``), then ``overrides``."""
    settings = make_settings(tmp_path / "state", data_dir)
    env = {name: value for name, value in settings.environment().items() if value}
    return {**env, **{"PLUMBLINE_" + name.upper(): value for name, value in overrides.items()}}


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (asserting that it failed and said one line)."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 this test holds (listening), as another process would."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield int(sock.getsockname()[1])


def test_replay_without_a_broker_names_it_and_how_to_start_one(tmp_path: Path, data_dir: Path) -> None:
    env = settings_env(tmp_path, data_dir)  # the broker port is free: nothing answers there
    result = plumbline(
        "replay", "--from", "2019-09-01", "--to", "2019-09-30", "--series", "SOFR", "IORB", env=env
    )
    line = one_line(result)
    assert line.startswith(
        f"plumbline replay: no Kafka broker answers at 127.0.0.1:{env['PLUMBLINE_BROKER_PORT']}"
    )
    assert "plumbline stack up" in line and "PLUMBLINE_BOOTSTRAP_SERVERS" in line


def test_stack_up_with_a_port_in_use_names_the_setting(tmp_path: Path, taken_port: int) -> None:
    env = settings_env(tmp_path, webhook_port=str(taken_port))
    line = one_line(plumbline("stack", "up", "--only", "webhook", env=env))
    assert line == (
        f"plumbline stack up: port {taken_port} (webhook) on 127.0.0.1 is already in use by another process: "
        "stop it or set PLUMBLINE_WEBHOOK_PORT"
    )


def test_worker_without_a_broker_waits_then_says_so(tmp_path: Path) -> None:
    env = settings_env(tmp_path, bootstrap_servers=f"127.0.0.1:{free_port()}", broker_wait_seconds="2")
    result = plumbline("worker", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("plumbline worker: waiting for the broker at 127.0.0.1:")
    assert lines[-1].startswith("plumbline worker: no Kafka broker answers at 127.0.0.1:")
    assert len(lines) == 2 and "Traceback" not in result.stderr


def test_worker_with_its_metrics_port_in_use_says_so(tmp_path: Path, taken_port: int) -> None:
    line = one_line(plumbline("worker", env=settings_env(tmp_path, metrics_port=str(taken_port))))
    assert line.startswith("plumbline worker: ") and "in use" in line


def test_stack_up_without_prometheus_says_how_to_install_it(tmp_path: Path) -> None:
    env = {**settings_env(tmp_path), "PATH": str(tmp_path / "empty-bin")}
    line = one_line(plumbline("stack", "up", "--only", "prometheus", env=env))
    assert line.startswith("plumbline stack up: prometheus not found on PATH: run `make install`")


def test_backfill_without_promtool_says_how_to_install_it(tmp_path: Path, data_dir: Path) -> None:
    env = {**settings_env(tmp_path, data_dir), "PATH": str(tmp_path / "empty-bin")}
    line = one_line(plumbline("backfill", "--from", "2019-09-01", "--to", "2019-10-31", env=env))
    assert (
        line
        == "plumbline backfill: promtool not found: `make install` (apt-get install prometheus) provides it"
    )


def test_a_missing_data_directory_is_a_bad_setting(tmp_path: Path) -> None:
    env = {**settings_env(tmp_path), "PLUMBLINE_DATA_DIR": str(tmp_path / "nowhere")}
    line = one_line(plumbline("backtest", "--from", "2019-09-01", "--to", "2019-09-30", env=env))
    assert line == f"plumbline: bad setting: PLUMBLINE_DATA_DIR: {tmp_path / 'nowhere'} is not a directory"


@pytest.mark.parametrize(
    "args",
    [("evaluate",), ("generate", "--check"), ("replay", "--from", "2019-09-01", "--to", "2019-09-30")],
    ids=["evaluate", "generate", "replay"],
)
def test_no_data_directory_says_which_setting_to_set(tmp_path: Path, args: tuple[str, ...]) -> None:
    line = one_line(plumbline(*args, env=settings_env(tmp_path)))
    assert line.startswith(f"plumbline {args[0]}: ") and "set PLUMBLINE_DATA_DIR" in line


def test_replay_from_an_empty_data_directory_says_so_before_any_broker(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_line(plumbline("replay", "--from", "2019-09-01", "--to", "2019-09-30",
                              env=settings_env(tmp_path, empty)))  # fmt: skip
    assert line.startswith("plumbline replay: no prints between 2019-09-01 and 2019-09-30")
    assert "set PLUMBLINE_DATA_DIR" in line


def test_an_unexpected_failure_is_one_line_with_how_to_see_the_traceback(tmp_path: Path) -> None:
    env = settings_env(tmp_path)
    (Path(env["PLUMBLINE_STATE_DIR"]) / "alerts.jsonl").mkdir(parents=True)  # a folder where a file belongs
    line = one_line(plumbline("alerts", env=env))
    assert line.startswith("plumbline alerts: IsADirectoryError: ")
    assert line.endswith("(run with PLUMBLINE_DEBUG=1 for the traceback)")
    debug = plumbline("alerts", env={**env, "PLUMBLINE_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_the_safety_net_prints_type_and_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from plumbline.commands import alerts

    def boom(*_: object) -> int:
        raise RuntimeError("the index\nbroke")

    monkeypatch.setenv("PLUMBLINE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("PLUMBLINE_DEBUG", raising=False)
    monkeypatch.setattr(alerts, "run", boom)
    assert cli.main(["alerts"]) == 1
    assert capsys.readouterr().err == (
        "plumbline alerts: RuntimeError: the index broke (run with PLUMBLINE_DEBUG=1 for the traceback)\n"
    )
    monkeypatch.setenv("PLUMBLINE_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["alerts"])


def test_ctrl_c_ends_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from plumbline.commands import alerts

    def interrupted(*_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setenv("PLUMBLINE_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(alerts, "run", interrupted)
    assert cli.main(["alerts"]) == 130
    assert capsys.readouterr().err == ""
