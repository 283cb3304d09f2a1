"""The connector service's metrics pass promtool's lint and count what happened; its probes answer."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from connectors.archive import Archive
from connectors.base import FetchResult, make_print
from connectors.clock import ManualClock
from connectors.poller import Poller, PollPolicy
from connectors.publisher import Publisher
from connectors.service import ConnectorService
from connectors.sources import SourceSet
from connectors.telemetry import ConnectorTelemetry, archive_writable
from foundation.settings import load_settings
from plumbline.connector_metrics import METRICS, ConnectorEndpoint, connector_registry
from tests.connectors.conftest import Upstream

SOFR_PATH = "/api/rates/secured/sofr/search.json"


class _NoBroker:
    def __call__(self) -> object:
        raise ConnectionError("NoBrokersAvailable")


def _samples(telemetry: ConnectorTelemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(connector_registry(telemetry)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _failing_sofr_then_ok(upstream: Upstream, sample_json: object) -> ConnectorTelemetry:
    """One route polled three times: a 500 burst, a timeout burst, then the real payload."""
    payload = sample_json("nyfed_api_rates_secured_sofr_search.json")  # type: ignore[operator]
    upstream.on(
        SOFR_PATH,
        httpx.Response(500), httpx.Response(503),
        httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow"),
        httpx.Response(200, json=payload),
    )  # fmt: skip
    telemetry = ConnectorTelemetry()
    clock = ManualClock(dt.datetime(2025, 10, 31, 13, 0, tzinfo=dt.UTC))
    settings = load_settings(env={}, source_min_interval_seconds="0", http_max_attempts="2")
    sources = SourceSet.from_settings(settings, upstream.client(), clock, telemetry=telemetry)
    archive = Archive(":memory:")
    publisher = Publisher(archive, _NoBroker(), telemetry=telemetry)
    poller = Poller(
        sources,
        publisher,
        clock,
        routes=sources.routes_for(["SOFR"]),
        policy=PollPolicy(),
        telemetry=telemetry,
    )
    task = poller.tasks[0]
    assert [poller.poll(task).status for _ in range(3)] == ["http_error", "timeout", "ok"]
    publisher.ingest(FetchResult(prints=[make_print("SOFR", dt.date(2025, 10, 31), 4.22, source="nyfed")]))
    return telemetry


def test_polls_http_answers_archive_rows_and_backlog_are_counted(
    upstream: Upstream, sample_json: object
) -> None:
    telemetry = _failing_sofr_then_ok(upstream, sample_json)
    samples = _samples(telemetry)
    route = (("outcome", "http_error"), ("route", "nyfed:SOFR"), ("source", "nyfed"))
    assert samples[("plumbline_connector_polls_total", route)] == 1
    assert samples[("plumbline_connector_polls_total", (("outcome", "timeout"), *route[1:]))] == 1
    assert samples[("plumbline_connector_polls_total", (("outcome", "ok"), *route[1:]))] == 1
    # every outcome is exported from 0, so increase() sees the first failure
    assert samples[("plumbline_connector_polls_total", (("outcome", "parse_error"), *route[1:]))] == 0
    assert samples[("plumbline_connector_consecutive_failed_polls", route[1:])] == 0
    assert samples[("plumbline_connector_http_responses_total", (("code", "500"), ("source", "nyfed")))] == 1
    assert samples[("plumbline_connector_http_responses_total", (("code", "200"), ("source", "nyfed")))] == 1
    assert (
        samples[
            ("plumbline_connector_http_request_failures_total", (("reason", "timeout"), ("source", "nyfed")))
        ]
        == 2
    )
    assert samples[("plumbline_connector_http_retries_total", (("source", "nyfed"),))] == 2
    assert samples[
        ("plumbline_connector_last_successful_fetch_timestamp_seconds", (("series", "SOFR99"),))
    ] == pytest.approx(dt.datetime(2025, 10, 31, 13, 0, tzinfo=dt.UTC).timestamp(), abs=60)  # sim clock
    new = samples[("plumbline_connector_archived_prints_total", (("outcome", "new"), ("series", "SOFR")))]
    assert new >= 2  # the sample's days plus the 2025-10-31 print
    archived = sum(
        v for (name, _), v in samples.items() if name == "plumbline_connector_archived_prints_total"
    )
    assert samples[("plumbline_connector_produce_backlog_records", (("record", "print"),))] == archived
    assert samples[("plumbline_connector_producer_errors_total", (("stage", "connect"),))] >= 2
    assert samples[("plumbline_connector_next_poll_timestamp_seconds", route[1:])] > 0
    assert samples[("plumbline_build_info", (("version", "0.1.0"),))] == 1
    assert any(name == "process_cpu_seconds_total" for name, _ in samples)
    exported = {name.removesuffix("_total") for name, _ in samples}
    assert {spec.name for spec in METRICS} - exported == {"plumbline_connector_archived_dead_letters"}


def test_connector_metrics_pass_promtool_check_metrics(upstream: Upstream, sample_json: object) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not installed: `make install` installs it"
    telemetry = _failing_sofr_then_ok(upstream, sample_json)
    telemetry.archived_dead_letter("nyfed", "missing_field")
    exposition = generate_latest(connector_registry(telemetry))
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0 and not result.stdout and not result.stderr, (
        result.stdout.decode() + result.stderr.decode()
    )


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_endpoint_serves_metrics_and_the_probes_say_why_they_fail() -> None:
    telemetry = ConnectorTelemetry()
    alive = {"ok": True}
    endpoint = ConnectorEndpoint(
        connector_registry(telemetry), "127.0.0.1", 0,
        liveness=lambda: (alive["ok"], "poll loop made progress 3 s ago"),
        readiness=lambda: (False, "/state/archive.sqlite3 cannot be written (readonly database)"),
    )  # fmt: skip
    with endpoint:
        base = f"http://127.0.0.1:{endpoint.port}"
        status, body = http_get(f"{base}/metrics")
        assert status == 200 and 'plumbline_build_info{version="0.1.0"} 1.0' in body
        assert http_get(f"{base}/livez") == (200, "ok: poll loop made progress 3 s ago\n")
        alive["ok"] = False
        assert http_get(f"{base}/livez")[0] == 503
        status, body = http_get(f"{base}/readyz")
        assert status == 503 and "readonly database" in body
        assert http_get(f"{base}/other")[0] == 404


def test_a_port_in_use_is_an_os_error_at_construction() -> None:
    registry = connector_registry(ConnectorTelemetry())
    with (
        ConnectorEndpoint(
            registry, "127.0.0.1", 0, liveness=lambda: (True, ""), readiness=lambda: (True, "")
        ) as first,
        pytest.raises(OSError),
    ):
        ConnectorEndpoint(
            registry, "127.0.0.1", first.port, liveness=lambda: (True, ""), readiness=lambda: (True, "")
        )


def test_liveness_follows_the_poll_loop_and_readiness_the_archive(tmp_path: Path) -> None:
    settings = load_settings(env={}, state_dir=tmp_path / "state")
    with ConnectorService(
        settings, ["SOFR"], produce=False, transport=httpx.MockTransport(httpx.Response)
    ) as service:
        assert service.liveness_limit_seconds == 600.0  # twice the longest wait: Retry-After 300 s
        assert service.liveness()[0]
        service.telemetry._heartbeat_monotonic = time.monotonic() - 601.0  # the loop stopped 10 min ago
        ok, detail = service.liveness()
        assert not ok and "no progress for 601 s" in detail
        assert service.readiness() == (False, f"{tmp_path / 'state'} does not exist")
        (tmp_path / "state").mkdir()
        assert service.readiness()[0]
        Archive.open(settings).close()
        assert service.readiness() == (True, f"{service.archive_path} is writable")
    assert archive_writable(tmp_path / "missing" / "archive.sqlite3")[0] is False


def test_connectors_run_with_its_metrics_port_in_use_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from plumbline.cli import build_parser
    from plumbline.commands import connectors as connectors_command

    registry = connector_registry(ConnectorTelemetry())
    with ConnectorEndpoint(
        registry, "127.0.0.1", 0, liveness=lambda: (True, ""), readiness=lambda: (True, "")
    ) as busy:
        settings = load_settings(env={}, state_dir=tmp_path / "state", connectors_metrics_port=str(busy.port))
        args = build_parser().parse_args(["connectors", "run", "--series", "SOFR", "--no-produce"])
        assert connectors_command.run(args, settings, transport=httpx.MockTransport(httpx.Response)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"plumbline connectors: cannot serve metrics on 127.0.0.1:{busy.port}")
    assert "PLUMBLINE_CONNECTORS_METRICS_PORT" in err[-1] and not any("Traceback" in line for line in err)
