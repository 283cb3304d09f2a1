"""Liveness of a worker: is its event loop still making progress? Served beside ``/metrics``.

prometheus_client serves ``/metrics`` from a thread of its own, so a worker whose Faust event loop
is stuck (a blocking call in an agent, a deadlock) still answers a scrape, and a liveness probe on
``/metrics`` never restarts it. Here a :class:`Heartbeat` is touched by a callback that re-arms
itself on the event loop every :data:`HEARTBEAT_INTERVAL_SECONDS`; ``/livez`` (and ``/healthz``,
the older spelling many probes still use) answers 503 once it has not been touched for
``max_silence_seconds``, and 200 otherwise. The same heartbeat is exported as
``plumbline_event_loop_heartbeat_timestamp_seconds``.

The check is a plain WSGI app over ``prometheus_client.make_wsgi_app``: one port, one server thread
pool, and testable with a fake clock and no socket.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Gauge, make_wsgi_app

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "HEARTBEAT_INTERVAL_SECONDS",
    "LIVENESS_PATHS",
    "MAX_SILENCE_SECONDS",
    "Heartbeat",
    "keep_beating",
    "metrics_and_liveness_app",
    "serve",
]

#: How often the event loop touches the heartbeat.
HEARTBEAT_INTERVAL_SECONDS = 1.0
#: How long the loop may go without running the heartbeat before the worker counts as stalled. Far
#: above a batch's processing time (milliseconds) and a checkpoint write; rebuilds and Kafka calls
#: are awaited, so they do not hold the loop. Below the k8s probe's period x failure threshold, so a
#: stalled worker is restarted within about a minute.
MAX_SILENCE_SECONDS = 30.0
#: The paths that answer the liveness check; everything else is the metrics exposition.
LIVENESS_PATHS = ("/livez", "/healthz")


class Heartbeat:
    """The last time the event loop ran: monotonic for the check, wall clock for the gauge.

    It starts touched (at construction), so a worker has ``max_silence_seconds`` to bring its loop
    up before it counts as stalled.
    """

    def __init__(
        self,
        gauge: Gauge | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._gauge = gauge
        self._clock = clock
        self._wall_clock = wall_clock
        self._last = clock()
        self._touch_gauge()

    def _touch_gauge(self) -> None:
        if self._gauge is not None:
            self._gauge.set(self._wall_clock())

    def beat(self) -> None:
        """Record that the loop ran now."""
        # A float assignment is atomic under the GIL: the server threads read it without a lock.
        self._last = self._clock()
        self._touch_gauge()

    def silence_seconds(self) -> float:
        """Seconds since the last beat."""
        return self._clock() - self._last


def keep_beating(
    heartbeat: Heartbeat,
    loop: asyncio.AbstractEventLoop,
    interval_seconds: float = HEARTBEAT_INTERVAL_SECONDS,
) -> None:
    """Touch ``heartbeat`` from ``loop`` every ``interval_seconds``, for as long as the loop runs.

    A callback that re-arms itself rather than a task: it needs nothing of Faust (so it ticks while
    the app is still joining the group or waiting for the broker) and only the loop's own progress.
    """

    def tick() -> None:
        heartbeat.beat()
        loop.call_later(interval_seconds, tick)

    loop.call_soon_threadsafe(tick)


def metrics_and_liveness_app(
    registry: CollectorRegistry, heartbeat: Heartbeat, max_silence_seconds: float = MAX_SILENCE_SECONDS
) -> WSGIApplication:
    """``/livez``, ``/healthz``: 200 while the loop beats, 503 after ``max_silence_seconds``; else metrics."""
    metrics = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") not in LIVENESS_PATHS:
            return metrics(environ, start_response)
        silence = heartbeat.silence_seconds()
        if silence > max_silence_seconds:
            status, body = (
                "503 Service Unavailable",
                f"event loop stalled: no heartbeat for {silence:.0f} s\n",
            )
        else:
            status, body = "200 OK", f"ok: event loop heartbeat {silence:.1f} s ago\n"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")])
        return [body.encode()]

    return app


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    # One thread per request, as prometheus_client's own server: a slow scrape never delays a probe.
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    # Probes every few seconds would flood stderr with access lines.
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(app: WSGIApplication, host: str, port: int) -> WSGIServer:
    """Serve ``app`` on ``host:port`` from a daemon thread; raises OSError when the port is taken."""
    server = make_server(host, port, app, _ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="plumbline-metrics", daemon=True).start()
    return server
