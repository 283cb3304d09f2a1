"""A streaming replay of a window gives exactly the alerts of the in-process backtest of that window.

Real ``plumbline worker`` process on the embedded broker (two partitions), ``plumbline replay`` and
``plumbline backtest`` run as the commands people run; the alerts read back from the alerts topic are
compared, per signal and with repeats dropped (outputs are at-least-once), with alerts.json.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.records import Alert
from foundation.settings import Settings
from plumbline import stack
from tests.conftest import make_settings
from tests.streams.test_worker_faults import WorkerProcess, per_signal, wait_for_alerts

pytestmark = pytest.mark.e2e

START, END = "2019-06-01", "2020-04-30"


@pytest.fixture
def broker_with_data(tmp_path: Path, data_dir: Path) -> Iterator[Settings]:
    settings = make_settings(tmp_path / "state", data_dir, topic_partitions=2, index_grace_seconds=10.0)
    stack.up(settings, components=["broker"], say=lambda line: None)
    try:
        yield settings
    finally:
        stack.down(settings, say=lambda line: None)


def plumbline(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in settings.masked().items() if value}
    env["PATH"] = os.environ.get("PATH", "")
    return subprocess.run([sys.executable, "-m", "plumbline", *args], env=env, capture_output=True,
                          text=True, timeout=180)  # fmt: skip


def test_streaming_replay_raises_exactly_the_alerts_of_the_backtest(
    broker_with_data: Settings, tmp_path: Path
) -> None:
    settings = broker_with_data
    backtest = plumbline(settings, "backtest", "--from", START, "--to", END, "--output", str(tmp_path / "r"))
    assert backtest.returncode == 0, backtest.stderr
    expected = per_signal(
        [Alert.from_json(a) for a in json.loads((tmp_path / "r" / "alerts.json").read_text())]
    )
    assert sum(len(v) for v in expected.values()) >= 20 and len(expected) >= 5  # a real comparison

    worker = WorkerProcess(settings, "worker")
    try:
        started = time.monotonic()
        replay = plumbline(settings, "replay", "--from", START, "--to", END, "--speed", "max")
        assert replay.returncode == 0, replay.stderr
        assert "replayed" in replay.stdout and "data_dir" in replay.stdout
        got = wait_for_alerts(settings, expected, 120)
        elapsed = time.monotonic() - started
    finally:
        worker.kill(signal.SIGTERM)
    assert got == expected, f"streaming differs from the backtest after {elapsed:.0f} s"
    again = plumbline(settings, "replay", "--from", START, "--to", END, "--speed", "max")
    assert "already complete" in again.stdout  # the saved progress: nothing is sent twice
