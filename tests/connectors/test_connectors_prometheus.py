"""The connector service's metrics and alert rules, wired to a real Prometheus.

`plumbline connectors run` polls a NY Fed stand-in that answers 500 to everything; a real
Prometheus (2.42, as `make install` puts it) scrapes its /metrics every second with
deploy/prometheus/rules/connectors.yml loaded, and PlumblineConnectorSourceFailing must become
active through the HTTP API.

Timing is promtool's job (deploy/prometheus/tests/connectors_test.yml checks every `for:`); this
test checks the wiring: metric names, labels and the expressions against what the service really
exports. So the rule file is loaded as it is except that each `for:` and `keep_firing_for:` is cut
to 1 s, and the poller retries a failed poll after 1 s instead of 5 minutes; the rest (the
expression, the labels, the annotations) is the shipped rule. About 10 s on a warm machine.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from foundation.settings import Settings
from plumbline.cli import build_parser
from plumbline.commands import connectors as connectors_command
from tests.conftest import REPO_ROOT, free_port, make_settings

pytestmark = pytest.mark.e2e

RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "connectors.yml"


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _wait_for(what: str, check: Any, timeout_seconds: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path / "state", connectors_metrics_port=free_port(), source_min_interval_seconds="0",
        http_max_attempts="2", http_backoff_base_seconds="0.01", http_backoff_max_seconds="0.02",
        poll_retry_seconds="1",
    )  # fmt: skip


@pytest.fixture
def failing_connectors(settings: Settings) -> Iterator[str]:
    """`plumbline connectors run --series SOFR --no-produce` against a source answering 500."""
    stop = threading.Event()
    args = build_parser().parse_args(["connectors", "run", "--series", "SOFR", "--no-produce"])
    transport = httpx.MockTransport(lambda request: httpx.Response(500, text="upstream down"))
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(connectors_command.run(args, settings, transport=transport, stop=stop))
    )
    thread.start()
    target = f"{settings.bind_host}:{settings.connectors_metrics_port}"
    try:
        _wait_for(
            "the connectors' /readyz", lambda: urllib.request.urlopen(f"http://{target}/readyz").status == 200
        )
        yield target
    finally:
        stop.set()
        thread.join(timeout=20)
    assert codes == [0]


@pytest.fixture
def prometheus(failing_connectors: str, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus not installed: `make install` installs it"
    rules = re.sub(r"(\n\s+(?:for|keep_firing_for):) \S+", r"\1 1s", RULES.read_text())
    (tmp_path / "connectors.yml").write_text(rules)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{tmp_path / 'connectors.yml'}]\n"
        "scrape_configs:\n"
        f"  - job_name: plumbline-connectors\n    static_configs: [{{targets: ['{failing_connectors}']}}]\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for("Prometheus to be ready", lambda: urllib.request.urlopen(f"{url}/-/ready").status == 200)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    body = _get_json(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_a_failing_source_fires_its_alert_in_a_real_prometheus(prometheus: str) -> None:
    def firing() -> list[dict[str, Any]]:
        alerts = _get_json(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
        return [
            a
            for a in alerts
            if a["labels"]["alertname"] == "PlumblineConnectorSourceFailing" and a["state"] == "firing"
        ]

    alerts = _wait_for("PlumblineConnectorSourceFailing to fire", firing)
    assert alerts[0]["labels"] == {
        "alertname": "PlumblineConnectorSourceFailing", "source": "nyfed", "route": "nyfed:SOFR",
        "severity": "warning", "team": "platform",
    }  # fmt: skip
    assert alerts[0]["annotations"]["runbook_url"].endswith(
        "docs/runbooks/PlumblineConnectorSourceFailing.md"
    )
    # The series behind it, as Prometheus scraped them.
    failed = _query(prometheus, 'plumbline_connector_polls_total{route="nyfed:SOFR",outcome="http_error"}')
    assert failed and float(failed[0]["value"][1]) >= 2
    codes = _query(prometheus, 'plumbline_connector_http_responses_total{source="nyfed",code="500"}')
    assert codes and float(codes[0]["value"][1]) >= 4  # two attempts per poll
    assert _query(prometheus, 'plumbline_connector_http_retries_total{source="nyfed"} > 0')
    assert float(_query(prometheus, 'up{job="plumbline-connectors"}')[0]["value"][1]) == 1
    assert _query(prometheus, "process_resident_memory_bytes") and _query(prometheus, "plumbline_build_info")
    # Nothing succeeded, nothing was produced (--no-produce exports no backlog), the loop is alive.
    assert _query(prometheus, "plumbline_connector_last_successful_fetch_timestamp_seconds") == []
    assert _query(prometheus, "plumbline_connector_produce_backlog_records") == []
    stuck = _get_json(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
    assert not [a for a in stuck if a["labels"]["alertname"] == "PlumblineConnectorPollerStuck"]
