"""Polite HTTP for every connector: a per-source minimum interval, retries with backoff and jitter.

A connector never calls ``httpx`` directly; it asks its :class:`SourceClient`, which

* spaces requests to one source at least ``min_interval_seconds`` apart (a token bucket of size one),
* retries timeouts, connection errors, 429 and 5xx up to ``max_attempts`` times with exponential
  backoff and jitter, honouring ``Retry-After`` (seconds or an HTTP date),
* gives up on a ``Retry-After`` longer than ``retry_after_max_seconds`` with :class:`RateLimited`, so
  the poller reschedules instead of blocking every other source,
* never retries other 4xx (a wrong URL does not get better by asking again),
* masks API keys in every message.

Time is injected (:mod:`connectors.clock`), so tests check the exact waits without sleeping.

>>> import httpx
>>> from connectors.clock import ManualClock
>>> replies = iter([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, text="ok")])
>>> client = httpx.Client(transport=httpx.MockTransport(lambda request: next(replies)))
>>> clock = ManualClock(dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
>>> source = SourceClient("nyfed", client, HttpPolicy(min_interval_seconds=0.0), clock)
>>> source.get("https://markets.newyorkfed.org/api/rates/all/latest.json").text, clock.slept_seconds
('ok', [7.0])
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import random
import re
from collections.abc import Mapping

import httpx

from connectors.clock import Clock, SystemClock
from connectors.telemetry import ConnectorTelemetry
from foundation.settings import Settings

__all__ = [
    "HttpPolicy",
    "PayloadError",
    "RateLimited",
    "RateLimiter",
    "SourceClient",
    "SourceError",
    "SourceUnavailable",
    "mask_secrets",
]

_SECRET_PARAM = re.compile(r"(api_key=)[^&\s]+", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """Hide API keys in URLs before they reach a log line or an error message.

    >>> mask_secrets("https://api.stlouisfed.org/fred/series/observations?series_id=SOFR&api_key=abc123")
    'https://api.stlouisfed.org/fred/series/observations?series_id=SOFR&api_key=****'
    """
    return _SECRET_PARAM.sub(r"\1****", text)


class SourceError(RuntimeError):
    """A source could not deliver; ``retryable`` says whether asking later may help.

    ``outcome`` is the poll outcome it stands for (:data:`connectors.telemetry.POLL_OUTCOMES`):
    ``http_error``, ``timeout``, ``unreachable``, ``rate_limited`` or ``parse_error``.
    """

    outcome = "http_error"

    def __init__(
        self, source: str, message: str, *, retryable: bool = True, outcome: str | None = None
    ) -> None:
        super().__init__(f"{source}: {mask_secrets(message)}")
        self.source = source
        self.retryable = retryable
        if outcome is not None:
            self.outcome = outcome


class SourceUnavailable(SourceError):
    """The source's host could not be reached at all (no network, DNS failure, refused)."""

    outcome = "unreachable"


class RateLimited(SourceError):
    """The source asked us to wait longer than we block for; retry after ``retry_after_seconds``."""

    outcome = "rate_limited"

    def __init__(self, source: str, message: str, retry_after_seconds: float) -> None:
        super().__init__(source, message, retryable=True)
        self.retry_after_seconds = retry_after_seconds


class PayloadError(SourceError):
    """A response that cannot be parsed as a whole (truncated JSON, a renamed column, unknown units).

    ``reason`` is one of the record-error reasons of :mod:`foundation.records` (``not_json``,
    ``missing_field``, ``bad_field``, ``unit_mismatch``), so it can become a dead letter as it is.
    """

    outcome = "parse_error"

    def __init__(self, source: str, reason: str, message: str, payload: str = "") -> None:
        super().__init__(source, f"{reason}: {message}", retryable=True)
        self.reason = reason
        self.detail = mask_secrets(message)
        self.payload = payload


@dataclasses.dataclass(frozen=True)
class HttpPolicy:
    """Retry and rate-limit policy for one source (see the module docstring)."""

    max_attempts: int = 5
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    retry_after_max_seconds: float = 300.0
    min_interval_seconds: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpPolicy:
        """The policy configured by ``PLUMBLINE_HTTP_*`` and ``PLUMBLINE_SOURCE_MIN_INTERVAL_SECONDS``."""
        return cls(
            max_attempts=settings.http_max_attempts,
            backoff_base_seconds=settings.http_backoff_base_seconds,
            backoff_max_seconds=settings.http_backoff_max_seconds,
            retry_after_max_seconds=settings.http_retry_after_max_seconds,
            min_interval_seconds=settings.source_min_interval_seconds,
        )

    def backoff_seconds(self, attempt: int, rng: random.Random) -> float:
        """Wait before retry number ``attempt`` (1-based): exponential, capped, with "equal jitter".

        Half the delay is fixed so retries never hammer the source; the other half is random so many
        pollers that failed together do not retry together.
        """
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2.0 ** (attempt - 1))
        return ceiling / 2.0 + rng.uniform(0.0, ceiling / 2.0)


class RateLimiter:
    """At most one request per ``min_interval_seconds`` (a token bucket holding one token).

    >>> from connectors.clock import ManualClock
    >>> clock = ManualClock(dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    >>> limiter = RateLimiter(2.0, clock)
    >>> limiter.acquire(); limiter.acquire(); clock.advance(5.0); limiter.acquire()
    >>> clock.slept_seconds
    [2.0]
    """

    def __init__(self, min_interval_seconds: float, clock: Clock) -> None:
        self.min_interval_seconds = min_interval_seconds
        self._clock = clock
        self._next_free: float | None = None

    def acquire(self) -> None:
        """Block (on the injected clock) until a request may be sent, and take the slot."""
        now = self._clock.monotonic()
        if self._next_free is not None and now < self._next_free:
            self._clock.sleep(self._next_free - now)
            now = self._clock.monotonic()
        self._next_free = now + self.min_interval_seconds


def _retry_after_seconds(response: httpx.Response, now: dt.datetime) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


class SourceClient:
    """An :class:`httpx.Client` plus the policy of one source. Share one per host.

    Every attempt (its status code or failure, and each retry) is reported to ``telemetry``.
    """

    def __init__(
        self,
        name: str,
        client: httpx.Client,
        policy: HttpPolicy | None = None,
        clock: Clock | None = None,
        *,
        rng: random.Random | None = None,
        telemetry: ConnectorTelemetry | None = None,
    ) -> None:
        self.name = name
        self.telemetry = telemetry or ConnectorTelemetry()
        self.client = client
        self.policy = policy or HttpPolicy()
        self.clock: Clock = clock or SystemClock()
        self.limiter = RateLimiter(self.policy.min_interval_seconds, self.clock)
        self._rng = rng or random.Random()
        self.requests_sent = 0

    def get(self, url: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        """GET with the policy applied; returns a 2xx response or raises :class:`SourceError`."""
        shown = mask_secrets(str(httpx.URL(url, params=params)))
        failures: list[str] = []
        only_unreachable = True
        got_status = timed_out = False
        for attempt in range(1, self.policy.max_attempts + 1):
            self.limiter.acquire()
            if attempt > 1:
                self.telemetry.http_retry(self.name)
            self.telemetry.tick()
            self.requests_sent += 1
            try:
                response = self.client.get(url, params=params)
            except httpx.TimeoutException as exc:
                only_unreachable = False
                timed_out = True
                self.telemetry.http_failure(self.name, "timeout")
                failures.append(f"timed out ({type(exc).__name__})")
                wait = self.policy.backoff_seconds(attempt, self._rng)
            except httpx.TransportError as exc:
                # ConnectError covers DNS failures and refused connections: the host is unreachable.
                only_unreachable = only_unreachable and isinstance(exc, httpx.ConnectError)
                self.telemetry.http_failure(self.name, "connection")
                failures.append(f"{type(exc).__name__}: {exc}")
                wait = self.policy.backoff_seconds(attempt, self._rng)
            else:
                status = response.status_code
                self.telemetry.http_response(self.name, status)
                if 200 <= status < 300:
                    return response
                only_unreachable = False
                got_status = True
                if status != 429 and not 500 <= status < 600:
                    raise SourceError(self.name, f"HTTP {status} for {shown}", retryable=False)
                failures.append(f"HTTP {status}")
                retry_after = _retry_after_seconds(response, self.clock.now())
                if retry_after is not None and retry_after > self.policy.retry_after_max_seconds:
                    raise RateLimited(
                        self.name, f"HTTP {status} for {shown}, Retry-After {retry_after:.0f} s", retry_after
                    )
                wait = (
                    retry_after
                    if retry_after is not None
                    else self.policy.backoff_seconds(attempt, self._rng)
                )
            if attempt < self.policy.max_attempts:
                self.clock.sleep(wait)
        summary = f"{shown} failed {len(failures)} times (last: {failures[-1]})"
        if only_unreachable:
            raise SourceUnavailable(self.name, f"cannot reach the host: {summary}")
        outcome = "http_error" if got_status else ("timeout" if timed_out else "unreachable")
        raise SourceError(self.name, summary, outcome=outcome)
