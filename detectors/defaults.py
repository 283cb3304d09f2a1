"""The default detector for each funding signal, chosen from the backtest in docs/detectors.md.

The streams worker builds its detectors from here, so changing a default is one reviewed line
with its evidence (rerun ``plumbline evaluate``).

>>> DEFAULTS["sofr_iorb_spread_bp"].build().name
'persistence_threshold'
>>> sorted(MULTIVARIATE_DEFAULTS)
['funding_stress_index']
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from detectors.base import REGISTRY, Detector

__all__ = ["DEFAULTS", "MULTIVARIATE_DEFAULTS", "SIGNAL_PROFILES", "DetectorChoice", "SignalProfile"]


@dataclasses.dataclass(frozen=True)
class DetectorChoice:
    """A registered detector name and its hyper-parameters."""

    detector: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def build(self) -> Detector:
        """A fresh detector with these parameters."""
        import detectors  # noqa: F401  (registers every detector)

        return REGISTRY[self.detector](**self.params)


@dataclasses.dataclass(frozen=True)
class SignalProfile:
    """What stress looks like on one signal, in its own units."""

    unit: str
    stress_side: Literal["up", "down"]
    min_scale: float
    persistence_levels: tuple[float, float] | None = None


#: Direction of stress and the smallest meaningful move, per signal (1 bp ticks, $10bn, ...).
SIGNAL_PROFILES: dict[str, SignalProfile] = {
    "sofr_iorb_spread_bp": SignalProfile("bp", "up", 2.0, (5.0, 2.0)),
    "sofr99_iorb_spread_bp": SignalProfile("bp", "up", 2.0, (25.0, 15.0)),
    "effr_iorb_spread_bp": SignalProfile("bp", "up", 1.0, (0.0, -2.0)),
    "tgcr_iorb_spread_bp": SignalProfile("bp", "up", 2.0, (5.0, 2.0)),
    "sofr_range_position_ratio": SignalProfile("ratio", "up", 0.04, (0.8, 0.7)),
    "onrrp_usd_bn": SignalProfile("usd_bn", "down", 5.0),
    "reserves_usd_bn": SignalProfile("usd_bn", "down", 10.0),
    "reserves_weekly_change_usd_bn": SignalProfile("usd_bn", "down", 10.0),
    "tga_usd_bn": SignalProfile("usd_bn", "up", 10.0),
    "dgs10_target_top_spread_bp": SignalProfile("bp", "up", 2.0),
}

# Why each one: docs/detectors.md ("Chosen defaults"). A signal absent here has no detector that
# beat "never alarm" in the backtest (reserves_weekly_change_usd_bn); it still feeds the index.
DEFAULTS: dict[str, DetectorChoice] = {
    # The regime state: one page when SOFR sits above IORB for days, kept while it lasts.
    "sofr_iorb_spread_bp": DetectorChoice("persistence_threshold", {"enter_level": 5.0, "exit_level": 2.0}),
    # Acute tail stress (2019-09-17, 2020-03-17), quiet through calendar days.
    "sofr99_iorb_spread_bp": DetectorChoice(
        "robust_zscore", {"side": "up", "min_scale": 2.0, "threshold": 5.0}
    ),
    "tgcr_iorb_spread_bp": DetectorChoice(
        "robust_zscore", {"side": "up", "min_scale": 2.0, "threshold": 5.0}
    ),
    "effr_iorb_spread_bp": DetectorChoice(
        "calibrated",
        {
            "detector": "robust_zscore",
            "detector_params": {"side": "up", "min_scale": 1.0},
            "alarm_probability": 0.005,
            "k": 2,
            "n": 3,
        },
    ),
    # Pressure toward the ceiling builds slowly: Page-Hinkley saw Q4 2025 three days early.
    "sofr_range_position_ratio": DetectorChoice("page_hinkley", {"mode": "up", "min_scale": 0.04}),
    # The buffers: a new one-year low of ON RRP or reserves, confirmed.
    "onrrp_usd_bn": DetectorChoice(
        "quantile_exceedance", {"side": "down", "q": 0.99, "window": 250, "k": 3, "n": 5}
    ),
    "reserves_usd_bn": DetectorChoice("quantile_exceedance", {"side": "down", "q": 0.99, "window": 250}),
    # A TGA rebuild is a change of level over weeks: ADWIN's drift.
    "tga_usd_bn": DetectorChoice("adwin", {}),
    "dgs10_target_top_spread_bp": DetectorChoice(
        "calibrated",
        {
            "detector": "robust_zscore",
            "detector_params": {"side": "up", "min_scale": 2.0},
            "alarm_probability": 0.005,
            "k": 2,
            "n": 3,
        },
    ),
}

MULTIVARIATE_DEFAULTS: dict[str, DetectorChoice] = {
    "funding_stress_index": DetectorChoice(
        "funding_stress_index",
        {
            "lower_is_stress": [name for name, p in SIGNAL_PROFILES.items() if p.stress_side == "down"],
            "min_scales": {name: p.min_scale for name, p in SIGNAL_PROFILES.items()},
            "threshold": 3.0,
        },
    ),
}
