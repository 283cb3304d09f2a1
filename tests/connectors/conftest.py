"""Fixtures for connector tests: the shared format samples, a fake clock, and a scriptable transport.

Payloads are read at test time from ``../shared/data/formats`` (never copied into the repository);
tests that need other days build payloads of exactly the same shape.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.archive import Archive
from connectors.clock import ManualClock
from connectors.httpclient import HttpPolicy

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def sample(formats_dir: Path) -> Callable[[str], str]:
    """Text of one sample file."""
    return lambda name: (formats_dir / name).read_text()


@pytest.fixture
def sample_json(formats_dir: Path) -> Callable[[str], Any]:
    """Parsed JSON of one sample file (a fresh copy each call, so tests may edit it)."""
    return lambda name: json.loads((formats_dir / name).read_text())


@pytest.fixture
def clock() -> ManualClock:
    """A fake clock at 2019-09-18 07:00 New York (11:00 UTC), the morning after the repo spike."""
    return ManualClock(dt.datetime(2019, 9, 18, 11, 0, tzinfo=dt.UTC))


@pytest.fixture
def fast_policy() -> HttpPolicy:
    """The default retry policy without the per-source spacing (tests of spacing set their own)."""
    return HttpPolicy(min_interval_seconds=0.0)


class Upstream:
    """A scriptable upstream for ``httpx.MockTransport``: handlers by URL path, every request logged.

    A handler is a function of the request, a ready response, or a list consumed one per request
    (the last one repeats), which is how fault bursts are scripted.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        self.requests: list[httpx.Request] = []

    def on(self, path: str, *responses: httpx.Response | Handler | BaseException) -> Upstream:
        self.routes[path] = list(responses)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        script = self.routes.get(request.url.path)
        if script is None:
            return httpx.Response(404, text=f"no route for {request.url.path}")
        step = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return step(request)
        return step

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]


@pytest.fixture
def upstream() -> Upstream:
    """A fresh scriptable upstream."""
    return Upstream()


@pytest.fixture
def archive() -> Iterator[Archive]:
    """An in-memory archive."""
    with Archive(":memory:") as store:
        yield store
