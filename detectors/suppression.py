"""Suppression: turn raw exceedances into pages people will not learn to ignore.

A raw exceedance is one observation beyond a detector's threshold. :class:`Suppressor` pages only
when at least ``k`` of the last ``n`` observations exceed (one blip does not page), keeps the page
on for at least ``min_duration`` observations (no flapping), clears when fewer than ``k`` of the
last ``n`` exceed, and then stays silent for ``cooldown`` observations (no page storm when a
signal hovers around its threshold).

>>> suppressor = Suppressor(k=2, n=3, cooldown=2, min_duration=3)
>>> [int(suppressor.update(hit)) for hit in [1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1, 1]]
[0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]
>>> Suppressor(k=2, n=3).peek(True)
False
"""

from __future__ import annotations

import collections
from typing import Any

__all__ = ["Suppressor"]


class Suppressor:
    """k-of-n confirmation, minimum duration and cooldown over a stream of raw exceedances.

    Parameters
    ----------
    k, n
        Page when at least ``k`` of the last ``n`` observations exceed; clear below that.
    cooldown
        Observations after a page clears during which no new page starts.
    min_duration
        Observations a page stays on at least, once started.
    """

    def __init__(self, k: int = 1, n: int = 1, cooldown: int = 0, min_duration: int = 1) -> None:
        if not 1 <= k <= n:
            raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
        if cooldown < 0 or min_duration < 1:
            raise ValueError(f"need cooldown >= 0 and min_duration >= 1, got {cooldown}, {min_duration}")
        self.k, self.n, self.cooldown, self.min_duration = int(k), int(n), int(cooldown), int(min_duration)
        self._hits: collections.deque[bool] = collections.deque(maxlen=self.n)
        self._active = False
        self._age = 0  # observations since the page started (active) or cleared (inactive)
        self._ever_cleared = False

    @property
    def active(self) -> bool:
        """Whether a page is on after the last :meth:`update`."""
        return self._active

    def _next(self, hit: bool) -> tuple[bool, int]:
        hits = sum(self._hits) + hit - (self._hits[0] if len(self._hits) == self.n else 0)
        age = self._age + 1
        if self._active:
            if hits < self.k and age >= self.min_duration:
                return False, 0
            return True, age
        cooling = self._ever_cleared and age <= self.cooldown
        if hits >= self.k and not cooling:
            return True, 0
        return False, age

    def peek(self, hit: bool) -> bool:
        """Whether :meth:`update` with ``hit`` would leave a page on; changes nothing."""
        return self._next(bool(hit))[0]

    def update(self, hit: bool) -> bool:
        """Record one observation (True when it exceeds) and return whether a page is on."""
        hit = bool(hit)
        active, age = self._next(hit)
        if self._active and not active:
            self._ever_cleared = True
        self._active, self._age = active, age
        self._hits.append(hit)
        return active

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "hits": list(self._hits),
            "active": self._active,
            "age": self._age,
            "ever_cleared": self._ever_cleared,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore state produced by :meth:`to_state`."""
        self._hits = collections.deque((bool(h) for h in state["hits"]), maxlen=self.n)
        self._active = bool(state["active"])
        self._age = int(state["age"])
        self._ever_cleared = bool(state["ever_cleared"])
