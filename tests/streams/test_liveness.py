"""The worker's liveness check: 503 once its event loop stops beating, on the metrics port's server."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from streams.liveness import Heartbeat, keep_beating, metrics_and_liveness_app


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(app: Any, path: str) -> tuple[str, str]:
    """One GET through the WSGI app: (status line, body)."""
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(line)

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "wsgi.input": io.BytesIO()}
    body: Iterable[bytes] = app(environ, start_response)
    return status[0], b"".join(body).decode()


def test_liveness_fails_once_the_loop_has_not_beaten_for_the_allowed_silence() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    gauge = Gauge("plumbline_event_loop_heartbeat_timestamp_seconds", "test", registry=registry)
    heartbeat = Heartbeat(gauge, clock=clock, wall_clock=lambda: 1.7e9 + clock.now)
    app = metrics_and_liveness_app(registry, heartbeat, max_silence_seconds=30)
    # A fresh worker counts as alive: its loop has the allowed silence to come up.
    assert get(app, "/livez")[0] == "200 OK"
    clock.now += 30
    assert get(app, "/livez")[0] == "200 OK"
    clock.now += 0.5
    status, body = get(app, "/livez")
    assert status == "503 Service Unavailable" and "stalled" in body
    assert get(app, "/healthz")[0] == "503 Service Unavailable"  # the older spelling, same check
    # Scrapes still answer while the loop is stuck: that is why /metrics cannot be the probe.
    status, metrics = get(app, "/metrics")
    assert status.startswith("200")
    assert "plumbline_event_loop_heartbeat_timestamp_seconds 1.700001e+09" in metrics  # the last beat
    heartbeat.beat()
    assert get(app, "/livez")[0] == "200 OK"
    beat_at = registry.get_sample_value("plumbline_event_loop_heartbeat_timestamp_seconds")
    assert beat_at == 1.7e9 + clock.now  # the gauge follows the wall clock


def test_the_heartbeat_is_driven_by_the_event_loop_itself() -> None:
    clock = FakeClock()
    heartbeat = Heartbeat(clock=clock)

    async def run_loop_for_a_while() -> None:
        keep_beating(heartbeat, asyncio.get_running_loop(), interval_seconds=0.01)
        clock.now += 100  # silence, until the loop gets to run the heartbeat again
        assert heartbeat.silence_seconds() == 100
        await asyncio.sleep(0.05)

    asyncio.run(run_loop_for_a_while())
    assert heartbeat.silence_seconds() == 0
