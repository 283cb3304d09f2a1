"""Rolling order statistics shared by the robust detectors (sorted window, bounded memory)."""

from __future__ import annotations

import bisect
import collections
import math

__all__ = ["RollingOrder", "mad_scale"]

#: Multiplying a median absolute deviation by this gives a standard deviation for normal data.
MAD_TO_SIGMA = 1.4826


class RollingOrder:
    """The last ``size`` values, kept both in arrival order and sorted, for medians and quantiles."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.recent: collections.deque[float] = collections.deque()
        self.ordered: list[float] = []
        # Scores outnumber updates (every detector scores before it learns, the index scores each
        # signal again), and a MAD costs a sort of the window: it is kept until the window changes.
        self._mad_scale: float | None = None

    def __len__(self) -> int:
        return len(self.recent)

    def add(self, value: float) -> None:
        """Append one finite value, forgetting the oldest when full."""
        if len(self.recent) == self.size:
            oldest = self.recent.popleft()
            del self.ordered[bisect.bisect_left(self.ordered, oldest)]
        self.recent.append(value)
        bisect.insort(self.ordered, value)
        self._mad_scale = None

    def clear(self) -> None:
        """Forget every value."""
        self.recent.clear()
        self.ordered.clear()
        self._mad_scale = None

    def load(self, values: list[float]) -> None:
        """Replace the content with ``values`` (oldest first)."""
        self.recent = collections.deque(values[-self.size :])
        self.ordered = sorted(self.recent)
        self._mad_scale = None

    def median(self) -> float:
        """The median of the window; NaN when empty."""
        return _median(self.ordered)

    def mad_scale(self) -> float:
        """:func:`mad_scale` around the window's median (cached until the window changes)."""
        if self._mad_scale is None:
            self._mad_scale = mad_scale(self.ordered, self.median())
        return self._mad_scale

    def rank(self, value: float) -> float:
        """Mid-rank position of ``value`` in the window, in [0, 1]: the empirical CDF."""
        count = len(self.ordered)
        if count == 0:
            return math.nan
        below = bisect.bisect_left(self.ordered, value)
        equal = bisect.bisect_right(self.ordered, value) - below
        return (below + 0.5 * equal) / count

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (linear interpolation); NaN when empty."""
        count = len(self.ordered)
        if count == 0:
            return math.nan
        position = q * (count - 1)
        low = math.floor(position)
        high = min(low + 1, count - 1)
        return self.ordered[low] + (self.ordered[high] - self.ordered[low]) * (position - low)


def _median(ordered: list[float]) -> float:
    count = len(ordered)
    if count == 0:
        return math.nan
    middle = count // 2
    return ordered[middle] if count % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


def mad_scale(ordered: list[float], center: float) -> float:
    """Median absolute deviation around ``center``, scaled to a standard deviation."""
    return MAD_TO_SIGMA * _median(sorted(abs(v - center) for v in ordered))
