"""Fault injection at the transport: 429 + Retry-After, bursts of 500s, timeouts, no network, rate limits."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from typing import Any

import httpx
import pytest

from connectors.clock import ManualClock
from connectors.httpclient import (
    HttpPolicy,
    RateLimited,
    SourceClient,
    SourceError,
    SourceUnavailable,
)

URL = "https://markets.newyorkfed.org/api/rates/secured/sofr/search.json"
PATH = "/api/rates/secured/sofr/search.json"


def _source(upstream: Any, clock: ManualClock, **policy: Any) -> SourceClient:
    settings = {"min_interval_seconds": 0.0, **policy}
    return SourceClient("nyfed", upstream.client(), HttpPolicy(**settings), clock, rng=random.Random(7))


def test_429_with_retry_after_seconds_waits_exactly_that_long(upstream: Any, clock: ManualClock) -> None:
    upstream.on(PATH, httpx.Response(429, headers={"Retry-After": "42"}), httpx.Response(200, text="ok"))
    assert _source(upstream, clock).get(URL).text == "ok"
    assert clock.slept_seconds == [42.0]
    assert len(upstream.requests) == 2


def test_429_with_retry_after_http_date_is_honoured(upstream: Any, clock: ManualClock) -> None:
    when = email.utils.format_datetime(clock.now() + dt.timedelta(seconds=90), usegmt=True)
    upstream.on(PATH, httpx.Response(429, headers={"Retry-After": when}), httpx.Response(200, text="ok"))
    _source(upstream, clock).get(URL)
    assert clock.slept_seconds == [pytest.approx(90.0)]


def test_retry_after_longer_than_the_cap_hands_back_to_the_poller(upstream: Any, clock: ManualClock) -> None:
    upstream.on(PATH, httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as caught:
        _source(upstream, clock, retry_after_max_seconds=300.0).get(URL)
    assert caught.value.retry_after_seconds == 3600.0
    assert clock.slept_seconds == []  # it did not block the other sources for an hour
    assert len(upstream.requests) == 1


def test_burst_of_500s_backs_off_exponentially_with_jitter_then_succeeds(
    upstream: Any, clock: ManualClock
) -> None:
    upstream.on(PATH, *[httpx.Response(500)] * 3, httpx.Response(503), httpx.Response(200, text="ok"))
    source = _source(upstream, clock, max_attempts=5, backoff_base_seconds=1.0, backoff_max_seconds=60.0)
    assert source.get(URL).text == "ok"
    waits = clock.slept_seconds
    assert len(waits) == 4
    for attempt, wait in enumerate(waits, start=1):
        ceiling = 2.0 ** (attempt - 1)
        assert ceiling / 2 <= wait <= ceiling, (attempt, wait)  # "equal jitter": half fixed, half random
    assert waits == sorted(waits)


def test_jitter_differs_between_pollers_that_failed_together() -> None:
    policy = HttpPolicy(backoff_base_seconds=1.0)
    waits = {round(policy.backoff_seconds(3, random.Random(seed)), 6) for seed in range(20)}
    assert len(waits) == 20 and all(2.0 <= wait <= 4.0 for wait in waits)


def test_500s_beyond_max_attempts_raise_a_retryable_source_error(upstream: Any, clock: ManualClock) -> None:
    upstream.on(PATH, httpx.Response(500))
    with pytest.raises(SourceError, match=r"failed 3 times \(last: HTTP 500\)") as caught:
        _source(upstream, clock, max_attempts=3).get(URL)
    assert caught.value.retryable and not isinstance(caught.value, SourceUnavailable)
    assert len(upstream.requests) == 3 and len(clock.slept_seconds) == 2


def test_timeout_is_retried(upstream: Any, clock: ManualClock) -> None:
    upstream.on(PATH, httpx.ReadTimeout("slow"), httpx.Response(200, text="ok"))
    assert _source(upstream, clock).get(URL).text == "ok"
    assert len(clock.slept_seconds) == 1


def test_unreachable_host_is_reported_as_unavailable(upstream: Any, clock: ManualClock) -> None:
    upstream.on(PATH, httpx.ConnectError("[Errno -3] Temporary failure in name resolution"))
    with pytest.raises(SourceUnavailable, match="cannot reach the host"):
        _source(upstream, clock, max_attempts=2).get(URL)


def test_client_errors_other_than_429_are_not_retried(upstream: Any, clock: ManualClock) -> None:
    upstream.on(PATH, httpx.Response(404))
    with pytest.raises(SourceError, match="HTTP 404") as caught:
        _source(upstream, clock).get(URL)
    assert not caught.value.retryable
    assert len(upstream.requests) == 1 and clock.slept_seconds == []


def test_requests_to_one_source_are_spaced_by_the_minimum_interval(upstream: Any, clock: ManualClock) -> None:
    upstream.on(PATH, httpx.Response(200, text="ok"))
    source = _source(upstream, clock, min_interval_seconds=2.5)
    for _ in range(4):
        source.get(URL)
    assert clock.slept_seconds == [2.5, 2.5, 2.5]


def test_api_key_never_appears_in_an_error(clock: ManualClock) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(400)))
    source = SourceClient("fred", client, HttpPolicy(min_interval_seconds=0.0), clock)
    with pytest.raises(SourceError) as caught:
        source.get("https://api.stlouisfed.org/fred/series/observations", params={"api_key": "s3cr3tkey"})
    assert "s3cr3tkey" not in str(caught.value)
    assert "api_key=****" in str(caught.value)
