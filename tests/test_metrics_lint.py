"""A real ``plumbline worker`` with state loaded: its /metrics passes ``promtool check metrics``.

The worker runs on the embedded broker, processes a month of real prints (so every family of the
state collector has samples: series, signals of each unit, detectors, the index), and its exposition
is piped into promtool, which must report nothing. The same worker answers its liveness check.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from foundation.catalogue import INDEX_SIGNAL
from tests.streams.test_worker_faults import WorkerProcess, broker_with_two_partitions, produce, window

pytestmark = pytest.mark.e2e


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_worker_metrics_pass_promtool_lint_and_the_loop_is_live(data_dir: Path, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make install` (apt-get install prometheus) provides it"
    with broker_with_two_partitions(tmp_path, index_grace_seconds=1.0) as settings:
        produce(settings, window(data_dir, "2019-08-01", "2019-09-30"))
        worker = WorkerProcess(settings, "worker")
        try:
            text = ""
            deadline = time.monotonic() + 60
            # Wait for the state of every unit family, the composite index included.
            while time.monotonic() < deadline:
                _, text = get(worker.metrics_port, "/metrics")
                if all(
                    f"{name}{{" in text
                    for name in ("plumbline_signal_basis_points", "plumbline_signal_dollars",
                                 "plumbline_signal_ratio", "plumbline_series_ratio")
                ) and f'signal="{INDEX_SIGNAL}"' in text:  # fmt: skip
                    break
                time.sleep(0.5)
            status, live = get(worker.metrics_port, "/livez")
        finally:
            worker.kill(signal.SIGTERM)
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, ""), text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert status == 200 and live.startswith("ok"), live
    # Standard collectors and the build info, as on every other exporter.
    assert {
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "python_info",
        "python_gc_collections",
    } <= set(families)
    (build,) = families["plumbline_build_info"].samples
    assert build.name == "plumbline_build_info" and build.labels["version"]
    # A restart counter that survives restarts, exposed as a counter (no _created: not this process's).
    assert families["plumbline_worker_starts"].type == "counter"
    assert "plumbline_worker_starts_created" not in text
    # Base units: reserves in dollars (about 1.4 trillion in September 2019), not billions.
    (reserves,) = [
        s for s in families["plumbline_signal_dollars"].samples if s.labels["signal"] == "reserves_usd_bn"
    ]
    assert 1e12 < reserves.value < 2e12
    assert "plumbline_signal_value" not in families and "plumbline_series_value" not in families
