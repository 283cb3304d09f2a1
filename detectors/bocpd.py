"""Bayesian online change-point detection (Adams and MacKay, 2007)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detectors._rolling import RollingOrder, mad_scale
from detectors.base import Detector, calendar_effects_of, value_of
from detectors.suppression import Suppressor

__all__ = ["Bocpd"]


class Bocpd(Detector):
    """Run-length posterior of a Gaussian model with unknown mean and variance, constant hazard.

    The stream is cut into segments; within a segment observations are Normal with a Normal-Gamma
    prior on (mean, precision), so the predictive density of the next observation given the
    current run is a Student-t. With a constant hazard ``1 / expected_run_length`` the run-length
    posterior ``P(r_t | x_1..t)`` is updated exactly (Adams and MacKay, 2007, algorithm 1). Run
    lengths beyond ``max_run_length`` are merged into the longest one kept, so memory and time per
    update are bounded.

    The data are put on a unit scale first, so the prior (``alpha``, ``beta``, ``kappa``) is the
    same for every series, whatever its unit: the first ``warmup`` observations fix a center
    (median) and scale (MAD, floored at ``min_scale``) and form the first segment, fed in time
    order. The unit then follows the series: the median and MAD of the last ``scale_window``
    learned observations are checked after every update, and when the scale has moved by more
    than half (either way) or the center by more than one scale, every segment's statistics are
    re-expressed in the new unit (an affine change of variable: run-length probabilities are
    unchanged). A prior fixed by a calm warm-up would otherwise see every day of a noisier regime
    as a new segment, and a prior centred on a level long gone would misjudge new segments.

    Score: the change probability ``P(r_t < horizon)``, the posterior mass on a segment that
    started within the last ``horizon`` observations, in [0, 1]; 0.0 during warm-up, NaN for a
    missing value. Alarm: score at or above ``threshold``, held for ``hold`` observations.

    Parameters
    ----------
    expected_run_length
        The hazard is its inverse: prior expected observations between changes.
    max_run_length
        Truncation of the run-length posterior.
    horizon
        A change counts if the current segment is younger than this.
    threshold, hold
        Alarm level on the change probability, and how long the alarm stays on.
    alpha, beta, kappa
        Normal-Gamma prior on unit-scaled data (prior mean 0).
    warmup
        Observations that fix the first unit scale.
    scale_window
        Recent learned observations whose median and MAD keep the unit up to date.
    min_scale
        Floor on that scale, in the series' units, and on the predictive scale of any segment.
    calendar_aware
        Skip calendar-effect days (observations with any ``calendar_<effect>`` feature, see
        :func:`detectors.base.calendar_effects_of`): a one-day month-end jump in a flat series
        looks like a new segment to a Gaussian model, and known effects must not page alone.
        Skipped days score 0.0 and are not learned.

    Examples
    --------
    SOFR minus IOER (bp), with the pipeline's calendar handed in as features: the change of regime
    after the September 2019 spike. The spike itself (2019-09-17) falls on a coupon-settlement day
    (the business day after the mid-September settlement), which this detector skips; the next
    day, still 35 bp above the usual level, is a change.

    >>> from foundation.calendar import calendar_features
    >>> from detectors._examples import date_of, observations, spread_bp
    >>> detector = Bocpd(min_scale=2.0)
    >>> changes = []
    >>> for x in observations(spread_bp("2019-06-01", "2019-10-15"), calendar_features):
    ...     detector.learn_one(x)
    ...     if detector.alarm:
    ...         changes.append(date_of(x).isoformat())
    >>> [day for day in changes if day.startswith("2019-09")][:1]
    ['2019-09-18']

    Quiet on the spread pinned below IORB in the second half of 2021:

    >>> quiet = Bocpd(min_scale=2.0)
    >>> alarms = 0
    >>> for x in observations(spread_bp("2021-07-01", "2021-12-31"), calendar_features):
    ...     quiet.learn_one(x)
    ...     alarms += quiet.alarm
    >>> alarms
    0
    """

    name = "bocpd"

    def __init__(
        self,
        expected_run_length: float = 250.0,
        max_run_length: int = 300,
        horizon: int = 3,
        threshold: float = 0.5,
        hold: int = 3,
        alpha: float = 1.0,
        beta: float = 1.0,
        kappa: float = 1.0,
        warmup: int = 20,
        min_scale: float = 0.0,
        calendar_aware: bool = True,
        scale_window: int = 250,
    ) -> None:
        if expected_run_length <= 1 or max_run_length < 2 or not 1 <= horizon < max_run_length:
            raise ValueError(
                "need expected_run_length > 1, max_run_length >= 2 and 1 <= horizon < max_run_length"
            )
        if min(alpha, beta, kappa) <= 0 or warmup < 2 or hold < 1 or not 0 < threshold <= 1:
            raise ValueError("need alpha, beta, kappa > 0, warmup >= 2, hold >= 1, 0 < threshold <= 1")
        if scale_window < warmup:
            raise ValueError(f"scale_window must be at least warmup ({warmup}), got {scale_window}")
        self.expected_run_length = float(expected_run_length)
        self.max_run_length = int(max_run_length)
        self.horizon = int(horizon)
        self.threshold = float(threshold)
        self.hold = int(hold)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.kappa = float(kappa)
        self.warmup = int(warmup)
        self.min_scale = float(min_scale)
        self.calendar_aware = bool(calendar_aware)
        self.scale_window = int(scale_window)
        # Run length r has seen r observations, so its alpha and kappa depend on r alone.
        runs = np.arange(self.max_run_length + 1, dtype=float)
        self._alphas = self.alpha + runs / 2.0
        self._kappas = self.kappa + runs
        self._lgamma_ratio = np.array(
            [math.lgamma(a + 0.5) - math.lgamma(a) for a in self._alphas], dtype=float
        )
        self._log_hazard = math.log(1.0 / self.expected_run_length)
        self._log_survival = math.log1p(-1.0 / self.expected_run_length)
        self._warmup_values: list[float] = []
        self._center = math.nan
        self._scale = math.nan
        self._log_posterior = np.zeros(1)
        self._means = np.zeros(1)
        self._betas = np.full(1, self.beta)
        self._suppressor = Suppressor(min_duration=self.hold)
        self._recent = RollingOrder(self.scale_window)

    def _step(self, value: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The posterior, means and betas after ``value`` (unit-scaled); does not change state."""
        z = (value - self._center) / self._scale
        # Extreme inputs (a 300 bp spike on a 1 bp scale) stay finite: the t density handles them.
        z = max(-1e6, min(1e6, z))
        size = len(self._log_posterior)
        alphas, kappas = self._alphas[:size], self._kappas[:size]
        scale_sq = self._betas * (kappas + 1.0) / (alphas * kappas)
        # A segment of identical prints (a rate pinned for weeks) would otherwise predict zero
        # variance and call a 1 bp tick a change: the predictive is never sharper than min_scale.
        scale_sq = np.maximum(scale_sq, (self.min_scale / self._scale) ** 2)
        dof = 2.0 * alphas
        log_predictive = (
            self._lgamma_ratio[:size]
            - 0.5 * np.log(dof * math.pi * scale_sq)
            - (alphas + 0.5) * np.log1p((z - self._means) ** 2 / (dof * scale_sq))
        )
        joint = self._log_posterior + log_predictive
        change = _logsumexp(joint + self._log_hazard)
        growth = joint + self._log_survival
        posterior = np.concatenate(([change], growth))
        means = np.concatenate(([0.0], (kappas * self._means + z) / (kappas + 1.0)))
        betas = np.concatenate(
            ([self.beta], self._betas + kappas * (z - self._means) ** 2 / (2.0 * (kappas + 1.0)))
        )
        if len(posterior) > self.max_run_length:
            # Truncation: the longest run absorbs the mass of the one beyond the limit.
            posterior[-2] = np.logaddexp(posterior[-2], posterior[-1])
            posterior, means, betas = posterior[:-1], means[:-1], betas[:-1]
        posterior -= _logsumexp(posterior)
        return posterior, means, betas

    def _change_probability(self, posterior: np.ndarray) -> float:
        return float(np.exp(posterior[: self.horizon]).sum())

    def _is_calendar_day(self, x: dict[str, float]) -> bool:
        return self.calendar_aware and bool(calendar_effects_of(x))

    def score_one(self, x: dict[str, float]) -> float:
        value = value_of(x)
        if math.isnan(value):
            return math.nan
        if math.isnan(self._scale) or self._is_calendar_day(x):
            return 0.0
        return self._change_probability(self._step(value)[0])

    def learn_one(self, x: dict[str, float]) -> None:
        value = value_of(x)
        if math.isnan(value) or math.isinf(value) or self._is_calendar_day(x):
            return
        if math.isnan(self._scale):
            self._warmup_values.append(value)
            if len(self._warmup_values) == self.warmup:
                self._fix_scale()
            return
        self._log_posterior, self._means, self._betas = self._step(value)
        self._suppressor.update(self._change_probability(self._log_posterior) >= self.threshold)
        self._recent.add(value)
        self._follow_scale()

    def _robust_unit(self, values: list[float]) -> tuple[float, float]:
        """Median and scale (MAD to sigma, floored at ``min_scale``, never zero) of sorted values."""
        middle = len(values) // 2
        center = values[middle] if len(values) % 2 else 0.5 * (values[middle - 1] + values[middle])
        scale = max(mad_scale(values, center), self.min_scale)
        if scale <= 0.0:
            # A constant stretch: use a scale relative to the level so the model stays defined.
            scale = max(abs(center) * 1e-3, 1e-9)
        return center, scale

    def _fix_scale(self) -> None:
        self._center, self._scale = self._robust_unit(sorted(self._warmup_values))
        # The warm-up observations themselves form the first segment, in the order they came.
        for value in self._warmup_values:
            self._log_posterior, self._means, self._betas = self._step(value)
            self._recent.add(value)
        self._warmup_values = []

    def _follow_scale(self) -> None:
        center, scale = self._robust_unit(self._recent.ordered)
        ratio = scale / self._scale
        if 2.0 / 3.0 <= ratio <= 1.5 and abs(center - self._center) <= self._scale:
            return
        # z_new = (z_old * old_scale + old_center - center) / scale for every segment's mean; the
        # sums of squares in beta scale with the square. Only the prior part of beta is not
        # re-expressed exactly (it is re-stated in the new unit), which is the point of the change.
        self._means = (self._means * self._scale + self._center - center) / scale
        self._betas = self._betas / ratio**2
        self._center, self._scale = center, scale

    @property
    def alarm(self) -> bool:
        return self._suppressor.active

    @property
    def run_length_posterior(self) -> list[float]:
        """``P(r_t = r)`` for r = 0, 1, ... after the last update."""
        return [float(p) for p in np.exp(self._log_posterior)]

    def _state(self) -> dict[str, Any]:
        return {
            "warmup_values": list(self._warmup_values),
            "center": None if math.isnan(self._center) else self._center,
            "scale": None if math.isnan(self._scale) else self._scale,
            "log_posterior": [max(float(v), -1e300) for v in self._log_posterior],
            "means": [float(v) for v in self._means],
            "betas": [float(v) for v in self._betas],
            "suppressor": self._suppressor.to_state(),
            "recent": list(self._recent.recent),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._warmup_values = [float(v) for v in state["warmup_values"]]
        self._center = math.nan if state["center"] is None else float(state["center"])
        self._scale = math.nan if state["scale"] is None else float(state["scale"])
        self._log_posterior = np.array(state["log_posterior"], dtype=float)
        self._means = np.array(state["means"], dtype=float)
        self._betas = np.array(state["betas"], dtype=float)
        self._suppressor.set_state(state["suppressor"])
        self._recent.load([float(v) for v in state["recent"]])


def _logsumexp(values: np.ndarray) -> float:
    peak = float(values.max())
    if not math.isfinite(peak):
        return peak
    return peak + math.log(float(np.exp(values - peak).sum()))
