"""Synthetic benchmark with ground truth made in code: do the default detectors generalise?

``python -m benchmarks synthetic`` prints the table; ``--write`` also puts it into docs/detectors.md
between the ``BENCHMARK`` markers. Every series comes from a fixed seed, so every run gives the same
table. Each detector runs exactly as ``plumbline score`` runs it
(:func:`plumbline.commands.score.score_series`: timestamps read, calendar features only on
business-day dates, score then learn, alarm onsets).

The suite (:func:`make_suite`): six scenarios x three noises x four lengths (30, 200, 1000, 5000).

- Scenarios: ``calm`` (nothing happens); ``mean_shift`` (1 to 3 level shifts of 3 to 6 sigma);
  ``variance`` (the noise grows 3x, then shrinks back); ``slope`` (a trend of 0.1 to 0.3 sigma
  per point starts, later stops); ``spikes`` (isolated one-point spikes of 6 to 10 sigma);
  ``calendar`` (business days with month-end turns +4 sigma and quarter-end turns +8 sigma, which are
  *not* anomalies, plus one level shift that is).
- Noises: Gaussian, Student t with 3 degrees of freedom (heavy tails), AR(1) with coefficient 0.6
  (autocorrelated, unit marginal variance).
- Every series has its own level (uniform in [-50, 50]) and noise scale (log-uniform in [0.1, 10]),
  so no detector can rely on the units. Timestamps are business-day dates, integer indexes or
  year-months in turn (the calendar scenario always has dates); every second series has missing
  data: 3% of values empty and, for dates, 3% of business days absent.

Scoring, per method, from its alarm onsets (the ``alarm`` column of ``plumbline score``), positions
counted in rows:

- **Change-point F1** (margin 5 points, as in van den Burg and Williams' TCPDBench): true change
  points T = {0} + level, variance and slope changes; predicted P = {0} + onsets, leaving out onsets
  within 5 points of a true spike (a spike is an anomaly, not a change point; the windowed score
  judges it). A prediction within 5 points of a true change point matches it, one to one. F1 of
  precision |matched| / |P| and recall |matched| / |T|, averaged over series ("never alarm" scores
  1.0 on a series with no change point, as it should).
- **Covering**: the segmentation covering of the true segments by the predicted ones (same P),
  ``sum over true segments A of |A| * max over predicted A' of Jaccard(A, A') / n``, averaged.
- **Windowed score**: each true event (change point or spike) opens a window of 10 points starting
  at it. The first onset in a window earns ``1 - delay / 10`` (1 on time, 0.1 nine points late);
  more onsets in the same window count nothing. An onset in no window is a false page and costs
  0.5. Summed over all series and divided by the number of events, times 100: 100 is perfect,
  "never alarm" is 0, a detector that pages falsely more than it helps is negative.

Baselines in the same run: never alarm; a rolling z-score (mean and standard deviation of the
previous 30 values, alarm while ``|z| >= 4``); and binary segmentation from ``ruptures`` (offline:
it sees the whole series at once, so it is an upper reference, not a competitor), with a Gaussian
mean-and-variance cost and the BIC penalty ``3 log n``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from foundation.calendar import calendar_effects, is_business_day

__all__ = [
    "BENCHMARK_BEGIN",
    "BENCHMARK_END",
    "Series",
    "covering",
    "f1_with_margin",
    "main",
    "make_suite",
    "windowed_score",
]

SCENARIOS = ("calm", "mean_shift", "variance", "slope", "spikes", "calendar")
NOISES = ("gaussian", "student_t3", "ar1_0.6")
LENGTHS = (30, 200, 1000, 5000)
MARGIN_POINTS = 5
WINDOW_POINTS = 10
FALSE_PAGE_COST = 0.5
SEED = 20260113
BENCHMARK_BEGIN = "<!-- BEGIN BENCHMARK: python -m benchmarks synthetic --write -->"
BENCHMARK_END = "<!-- END BENCHMARK -->"
DETECTORS_DOC = Path(__file__).resolve().parents[1] / "docs" / "detectors.md"


@dataclasses.dataclass(frozen=True)
class Series:
    """One synthetic series and its truth, positions in rows."""

    name: str
    scenario: str
    noise: str
    timestamps: list[str]
    values: list[float]
    change_points: list[int]
    spikes: list[int]


# --- generation ------------------------------------------------------------------------------------


def _noise(rng: np.random.Generator, kind: str, length: int) -> np.ndarray:
    if kind == "gaussian":
        return rng.standard_normal(length)
    if kind == "student_t3":
        return rng.standard_t(3, length)
    phi = 0.6
    innovations = rng.standard_normal(length) * math.sqrt(1.0 - phi**2)
    out = np.empty(length)
    previous = rng.standard_normal()
    for i in range(length):
        previous = phi * previous + innovations[i]
        out[i] = previous
    return out


def _positions(rng: np.random.Generator, length: int, count: int, low: float, gap: int) -> list[int]:
    """``count`` sorted positions in [low * length, 0.9 * length), at least ``gap`` apart (fewer if
    they do not fit)."""
    chosen: list[int] = []
    for _ in range(50 * count):
        if len(chosen) == count:
            break
        candidate: int = int(rng.integers(int(low * length), max(int(low * length) + 1, int(0.9 * length))))
        if all(abs(candidate - other) >= gap for other in chosen):
            chosen.append(candidate)
    return sorted(chosen)


def _business_days(rng: np.random.Generator, count: int, drop_share: float) -> list[dt.date]:
    day, out = dt.date(2001, 1, 2), list[dt.date]()
    while len(out) < count:
        if is_business_day(day) and rng.random() >= drop_share:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def _series(index: int, scenario: str, noise: str, length: int) -> Series:
    rng = np.random.default_rng(SEED + index)
    missing = index % 2 == 1
    timestamp_kind = "dates" if scenario == "calendar" else ("dates", "index", "year-month")[index % 3]
    dates = _business_days(rng, length, 0.03 if missing else 0.0) if timestamp_kind == "dates" else None
    level = rng.uniform(-50.0, 50.0)
    sigma = math.exp(rng.uniform(math.log(0.1), math.log(10.0)))
    scale = np.ones(length)
    signal = np.zeros(length)
    change_points: list[int] = []
    spikes: list[int] = []
    gap = max(15, length // 10)
    if scenario == "mean_shift":
        change_points = _positions(rng, length, 1 + (length >= 200) + (length >= 1000), 0.2, gap)
        for point in change_points:
            signal[point:] += rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 6.0)
    elif scenario == "variance":
        change_points = _positions(rng, length, 2 if length >= 200 else 1, 0.2, gap)
        scale[change_points[0] :] = 3.0
        if len(change_points) > 1:
            scale[change_points[1] :] = 1.0
    elif scenario == "slope":
        change_points = _positions(rng, length, 2 if length >= 200 else 1, 0.2, gap)
        slope = rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.3)
        end = change_points[1] if len(change_points) > 1 else length
        ramp = slope * np.arange(1, end - change_points[0] + 1)
        signal[change_points[0] : end] += ramp
        signal[end:] += ramp[-1]
    elif scenario == "spikes":
        spikes = _positions(rng, length, max(1, length // 200), 0.1, 10)
        for point in spikes:
            signal[point] += rng.choice([-1.0, 1.0]) * rng.uniform(6.0, 10.0)
    elif scenario == "calendar":
        assert dates is not None
        for i, day in enumerate(dates):
            effects = calendar_effects(day)
            signal[i] += 8.0 if "quarter_end" in effects else 4.0 if "month_end" in effects else 0.0
        if length >= 200:
            change_points = _positions(rng, length, 1, 0.3, gap)
            signal[change_points[0] :] += rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 6.0)
    values = level + sigma * (signal + scale * _noise(rng, noise, length))
    value_list = [float(v) for v in values]
    if missing:
        for row in np.flatnonzero(rng.random(length) < 0.03).tolist():
            if row not in spikes:
                value_list[row] = math.nan
    if dates is not None:
        timestamps = [day.isoformat() for day in dates]
    elif timestamp_kind == "index":
        timestamps = [str(i) for i in range(length)]
    else:
        timestamps = [f"{1600 + i // 12}-{i % 12 + 1:02d}" for i in range(length)]
    name = f"{scenario}/{noise}/{length}{'/missing' if missing else ''}"
    return Series(name, scenario, noise, timestamps, value_list, change_points, spikes)


def make_suite() -> list[Series]:
    """Every series of the benchmark, deterministic."""
    suite: list[Series] = []
    for scenario in SCENARIOS:
        for noise in NOISES:
            for length in LENGTHS:
                suite.append(_series(len(suite), scenario, noise, length))
    return suite


# --- metrics ---------------------------------------------------------------------------------------


def _kept_predictions(onsets: Sequence[int], spikes: Sequence[int]) -> list[int]:
    return sorted({0} | {p for p in onsets if all(abs(p - s) > MARGIN_POINTS for s in spikes)})


def f1_with_margin(truth: Sequence[int], predicted: Sequence[int], margin: int = MARGIN_POINTS) -> float:
    """F1 of change points (both including 0), one-to-one matches within ``margin`` points.

    >>> f1_with_margin([0, 50], [0])
    0.666...
    >>> f1_with_margin([0, 50], [0, 53, 90])
    0.8
    """
    pairs = sorted((abs(t - p), t, p) for t in truth for p in predicted if abs(t - p) <= margin)
    used_truth: set[int] = set()
    used_predicted: set[int] = set()
    for _, t, p in pairs:
        if t not in used_truth and p not in used_predicted:
            used_truth.add(t)
            used_predicted.add(p)
    matched = len(used_truth)
    precision, recall = matched / len(predicted), matched / len(truth)
    return 0.0 if matched == 0 else 2 * precision * recall / (precision + recall)


def _segments(starts: Sequence[int], length: int) -> list[tuple[int, int]]:
    bounds = [*sorted({0, *(s for s in starts if 0 < s < length)}), length]
    return list(itertools.pairwise(bounds))


def covering(truth: Sequence[int], predicted: Sequence[int], length: int) -> float:
    """Segmentation covering of the true segments by the predicted ones, in [0, 1].

    >>> covering([0, 50], [0], 100)
    0.5
    >>> covering([0, 50], [0, 50], 100)
    1.0
    """
    total = 0.0
    predicted_segments = _segments(predicted, length)
    for start, end in _segments(truth, length):
        best = 0.0
        for other_start, other_end in predicted_segments:
            overlap = min(end, other_end) - max(start, other_start)
            if overlap > 0:
                best = max(best, overlap / (max(end, other_end) - min(start, other_start)))
        total += (end - start) * best
    return total / length


def windowed_score(events: Sequence[int], onsets: Sequence[int]) -> tuple[float, int]:
    """(reward minus false-page cost, false pages) of onsets against events, as defined above.

    >>> windowed_score([10], [10, 12, 40])
    (0.5, 1)
    """
    reward, false_pages = 0.0, 0
    credited: set[int] = set()
    for onset in sorted(onsets):
        window = next((e for e in events if e <= onset < e + WINDOW_POINTS), None)
        if window is None:
            false_pages += 1
        elif window not in credited:
            credited.add(window)
            reward += 1.0 - (onset - window) / WINDOW_POINTS
    return reward - FALSE_PAGE_COST * false_pages, false_pages


# --- methods ---------------------------------------------------------------------------------------

Method = Callable[[Series], list[int]]


def _detector_method(name: str) -> Method:
    from detectors import REGISTRY
    from plumbline.commands.score import score_series

    def onsets(series: Series) -> list[int]:
        rows, _ = score_series(series.timestamps, series.values, REGISTRY[name]())
        return [i for i, row in enumerate(rows) if row.alarm]

    return onsets


def _never(series: Series) -> list[int]:
    return []


def _rolling_zscore(
    series: Series, window: int = 30, threshold: float = 4.0, min_history: int = 10
) -> list[int]:
    past: list[float] = []
    onsets, was_on = [], False
    for i, value in enumerate(series.values):
        on = False
        if math.isfinite(value):
            if len(past) >= min_history:
                mean = sum(past) / len(past)
                spread = math.sqrt(sum((v - mean) ** 2 for v in past) / (len(past) - 1))
                on = spread > 0 and abs(value - mean) / spread >= threshold
            past = [*past, value][-window:]
        if on and not was_on:
            onsets.append(i)
        was_on = on
    return onsets


def _binary_segmentation(series: Series) -> list[int]:
    import ruptures

    rows = [i for i, v in enumerate(series.values) if math.isfinite(v)]
    signal = np.array([series.values[i] for i in rows])
    if len(signal) < 10:
        return []
    algorithm = ruptures.Binseg(custom_cost=_gaussian_cost_class()(), min_size=5, jump=1).fit(signal)
    ends = algorithm.predict(pen=3.0 * math.log(len(signal)))
    return [rows[end] for end in ends[:-1]]


def _gaussian_cost_class() -> type:
    from ruptures.base import BaseCost

    class GaussianCost(BaseCost):  # type: ignore[misc]
        """Gaussian mean-and-variance cost ``n log var`` from cumulative sums (O(1) per segment)."""

        model = "gaussian_cumsum"
        min_size = 2

        def fit(self, signal: np.ndarray) -> GaussianCost:
            values = np.asarray(signal, dtype=float).ravel()
            self.signal = values.reshape(-1, 1)  # ruptures reads the length from here
            self._sums = np.concatenate(([0.0], np.cumsum(values)))
            self._squares = np.concatenate(([0.0], np.cumsum(values**2)))
            # A floor so a perfectly flat stretch does not give log(0).
            self._floor = 1e-8 * max(float(np.var(values)), 1e-12)
            return self

        def error(self, start: int, end: int) -> float:
            count = end - start
            mean = (self._sums[end] - self._sums[start]) / count
            variance = (self._squares[end] - self._squares[start]) / count - mean**2
            return float(count * math.log(max(variance, self._floor)))

    return GaussianCost


# --- the run ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """One method's scores over the whole suite."""

    method: str
    kind: str
    f1: float
    covering: float
    windowed: float
    false_pages_per_1000: float
    seconds: float


def evaluate(method: str, kind: str, onsets_of: Method, suite: list[Series]) -> Result:
    started = time.perf_counter()
    f1s, coverings = [], []
    total, events, false_pages, points = 0.0, 0, 0, 0
    for series in suite:
        onsets = onsets_of(series)
        truth = [0, *series.change_points]
        kept = _kept_predictions(onsets, series.spikes)
        f1s.append(f1_with_margin(truth, kept))
        coverings.append(covering(truth, kept, len(series.values)))
        series_events = sorted(series.change_points + series.spikes)
        score, false = windowed_score(series_events, onsets)
        total += score
        events += len(series_events)
        false_pages += false
        points += len(series.values)
    return Result(
        method,
        kind,
        float(np.mean(f1s)),
        float(np.mean(coverings)),
        100.0 * total / events,
        1000.0 * false_pages / points,
        time.perf_counter() - started,
    )


def run_benchmark() -> list[Result]:
    """Every registered detector with its default parameters, and the three baselines."""
    from detectors import REGISTRY

    suite = make_suite()
    results = [
        evaluate("never alarm", "baseline", _never, suite),
        evaluate("rolling z-score (previous 30, z >= 4 either way)", "baseline", _rolling_zscore, suite),
        evaluate("binary segmentation (ruptures, offline)", "offline reference", _binary_segmentation, suite),
    ]
    for name in sorted(REGISTRY):
        results.append(evaluate(name, "detector, defaults", _detector_method(name), suite))
    return results


def render(results: list[Result]) -> str:
    """The markdown section: the table and what the goals say about it."""
    suite = make_suite()
    never = next(r for r in results if r.method == "never alarm")
    offline = next(r for r in results if r.kind == "offline reference")
    detectors = [r for r in results if r.kind.startswith("detector")]
    best = max(detectors, key=lambda r: r.covering)
    lines = [
        f"Generated by `python -m benchmarks synthetic --write`: {len(suite)} series, "
        f"{sum(len(s.values) for s in suite)} points, {sum(len(s.change_points) for s in suite)} change "
        f"points, {sum(len(s.spikes) for s in suite)} spikes (seed {SEED}). Definitions: "
        "`benchmarks/synthetic.py` and the section above.",
        "",
        "| method | kind | change-point F1 (±5) | covering | windowed score | false pages per 1000 points "
        "| beats never alarm on all three |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        beats = (
            "-"
            if r.kind == "baseline" and r.method == "never alarm"
            else "yes"
            if (r.f1 > never.f1 and r.covering > never.covering and r.windowed > never.windowed)
            else "no"
        )
        lines.append(
            f"| {r.method} | {r.kind} | {r.f1:.3f} | {r.covering:.3f} | {r.windowed:.1f} | "
            f"{r.false_pages_per_1000:.2f} | {beats} |"
        )
    losers = [
        r.method
        for r in detectors
        if not (r.f1 > never.f1 and r.covering > never.covering and r.windowed > never.windowed)
    ]
    ratio = best.covering / offline.covering
    lines += [
        "",
        f'- Every default beats "never alarm" on every metric: '
        f"{'met' if not losers else 'not met; loses on at least one: ' + ', '.join(losers)}.",
        f"- Best online covering: {best.method} {best.covering:.3f}, {ratio:.0%} of binary segmentation's "
        f"{offline.covering:.3f} (goal: at least 90%): {'met' if ratio >= 0.9 else 'not met'}.",
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace the text between the benchmark markers of ``path`` (append the markers if absent)."""
    text = path.read_text()
    block = f"{BENCHMARK_BEGIN}\n{section}{BENCHMARK_END}"
    if BENCHMARK_BEGIN in text and BENCHMARK_END in text:
        start, end = text.index(BENCHMARK_BEGIN), text.index(BENCHMARK_END) + len(BENCHMARK_END)
        text = text[:start] + block + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv: Sequence[str] = ()) -> int:
    started = time.perf_counter()
    results = run_benchmark()
    section = render(results)
    print(section, end="")
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if "--write" in argv:
        write_section(DETECTORS_DOC, section)
        print(f"wrote {DETECTORS_DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
