"""Injectable time for connectors: the poller, retries and rate limits never call ``time`` directly.

Tests and dry runs use :class:`ManualClock`, whose ``sleep`` advances time instantly, so a day of
polling runs in milliseconds and a 429 with ``Retry-After: 120`` costs no wall-clock time.

>>> clock = ManualClock(dt.datetime(2019, 9, 18, 11, 59, tzinfo=dt.UTC))
>>> clock.sleep(90.0)
>>> clock.now().isoformat(), clock.monotonic(), clock.slept_seconds
('2019-09-18T12:00:30+00:00', 90.0, [90.0])
>>> clock.step(-3600.0)   # the wall clock is set back an hour; monotonic time goes on
>>> clock.now().isoformat(), clock.monotonic()
('2019-09-18T11:00:30+00:00', 90.0)
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Wall time (aware UTC), a monotonic counter for intervals, and a sleep."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware, UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for rate limits and backoff)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (may return early when the process is asked to stop)."""
        ...


class SystemClock:
    """The real clock. ``sleep`` waits on ``stop`` so a stop request ends any wait at once."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()

    def now(self) -> dt.datetime:
        """The current time in UTC."""
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Wait, but wake up as soon as ``stop`` is set."""
        if seconds > 0:
            self.stop.wait(seconds)


class ManualClock:
    """A clock that only moves when slept on or advanced; it records every sleep."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(dt.UTC)
        self._elapsed_seconds = 0.0
        self.slept_seconds: list[float] = []

    def now(self) -> dt.datetime:
        """The simulated time."""
        return self._now

    def monotonic(self) -> float:
        """Simulated seconds since the clock was created."""
        return self._elapsed_seconds

    def sleep(self, seconds: float) -> None:
        """Advance instantly and remember how long was asked for."""
        self.slept_seconds.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        if seconds > 0:
            self._now += dt.timedelta(seconds=seconds)
            self._elapsed_seconds += seconds

    def step(self, seconds: float) -> None:
        """Step the wall clock alone by ``seconds`` (negative: backwards), as NTP or an operator does;
        the monotonic counter does not move."""
        self._now += dt.timedelta(seconds=seconds)
