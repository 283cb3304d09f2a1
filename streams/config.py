"""Which detectors run on which signal, with which parameters and alert severity.

Defaults are :data:`DEFAULTS` below (chosen by the backtest in docs/detectors.md); the
SOFR - IORB persistence detector takes its levels from the ``PLUMBLINE_SPREAD_*`` settings; a TOML
file (``PLUMBLINE_DETECTORS_FILE``) can replace the detectors of any signal::

    [sofr99_iorb_spread_bp]
    detectors = [{ name = "robust_zscore", params = { threshold = 6.0 }, severity = "critical" }]

Everything is validated at start: an unknown signal, detector or parameter fails with one line.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from typing import Any

from detectors import REGISTRY, Detector
from foundation.catalogue import INDEX_SIGNAL, SIGNALS
from foundation.records import SEVERITIES, Severity
from foundation.settings import Settings, SettingsError

__all__ = ["DEFAULTS", "DetectorSpec", "detector_plan"]

# Regimes page as warnings (one page while they last); acute spikes and the composite index are
# critical; slow drifts inform.
_SEVERITY_BY_DETECTOR: dict[str, Severity] = {
    "persistence_threshold": "warning",
    "robust_zscore": "critical",
    "calibrated": "critical",
    "quantile_exceedance": "warning",
    "page_hinkley": "info",
    "adwin": "info",
    "kswin": "info",
    "cusum": "warning",
    "bocpd": "warning",
    "half_space_trees": "warning",
    "funding_stress_index": "critical",
}


@dataclasses.dataclass(frozen=True)
class DetectorSpec:
    """One detector to run on one signal: a registered name, its hyper-parameters, its alerts' severity.

    Without a ``severity``, the detector's usual one applies (regimes warn, spikes are critical).

    >>> spec = DetectorSpec("sofr99_iorb_spread_bp", "robust_zscore", {"threshold": 6.0})
    >>> spec.severity, spec.build().threshold
    ('critical', 6.0)
    """

    signal: str
    name: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    severity: Severity = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.severity is None:
            object.__setattr__(self, "severity", _SEVERITY_BY_DETECTOR.get(self.name, "warning"))

    def build(self) -> Detector:
        """A fresh detector with these parameters."""
        return REGISTRY[self.name](**self.params)


def _calibrated_zscore(min_scale: float) -> dict[str, Any]:
    return {
        "detector": "robust_zscore",
        "detector_params": {"side": "up", "min_scale": min_scale},
        "alarm_probability": 0.005,
        "k": 2,
        "n": 3,
    }


_STRESSED = [spec for spec in SIGNALS.values() if spec.stress is not None]

#: The default detector of each signal, as chosen on 2018-04..2021-12 only by the written procedure of
#: offline/selection.py (``plumbline evaluate --select``; docs/backtest.md); rerun ``plumbline
#: generate`` after a change. A signal absent here has no detector
#: that beat "never alarm" in the backtest (reserves_weekly_change_usd_bn); it still feeds the index.
DEFAULTS: tuple[DetectorSpec, ...] = (
    # The regime state: one page when SOFR sits above IORB for days, kept while it lasts.
    DetectorSpec("sofr_iorb_spread_bp", "persistence_threshold",
                 {"enter_level": 5.0, "exit_level": 2.0}),
    # Acute tail stress (2019-09-17, 2020-03-17), quiet through calendar days.
    DetectorSpec("sofr99_iorb_spread_bp", "robust_zscore",
                 {"side": "up", "min_scale": 2.0, "threshold": 5.0}),
    DetectorSpec("tgcr_iorb_spread_bp", "robust_zscore", {"side": "up", "min_scale": 2.0, "threshold": 5.0}),
    DetectorSpec("effr_iorb_spread_bp", "persistence_threshold", {"enter_level": 0.0, "exit_level": -2.0}),
    # Pressure toward the ceiling: a change of regime of the position in the range.
    DetectorSpec("sofr_range_position_ratio", "bocpd", {"min_scale": 0.04}),
    # The buffers: a new one-year low of ON RRP or reserves, confirmed.
    DetectorSpec("onrrp_usd_bn", "quantile_exceedance", {"side": "down", "q": 0.99, "window": 250}),
    DetectorSpec("reserves_usd_bn", "quantile_exceedance", {"side": "down", "q": 0.99, "window": 250}),
    # A TGA rebuild is a change of level over weeks: ADWIN's drift.
    DetectorSpec("tga_usd_bn", "adwin", {}),
    DetectorSpec("dgs10_target_top_spread_bp", "calibrated", _calibrated_zscore(min_scale=2.0)),
    # The composite index reads every signal with a stress profile in the catalogue.
    DetectorSpec(
        INDEX_SIGNAL,
        "funding_stress_index",
        {
            "lower_is_stress": [spec.id for spec in _STRESSED if spec.stress and spec.stress.side == "down"],
            "min_scales": {spec.id: spec.stress.min_scale for spec in _STRESSED if spec.stress},
            "threshold": 3.0,
        },
    ),
)  # fmt: skip


def _spec(signal: str, name: str, params: dict[str, Any], severity: str | None, where: str) -> DetectorSpec:
    if name not in REGISTRY:
        raise SettingsError(f"{where}: unknown detector {name!r} (see `plumbline score --list`)")
    if severity is not None and severity not in SEVERITIES:
        raise SettingsError(f"{where}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    spec = DetectorSpec(signal, name, dict(params), severity)  # type: ignore[arg-type]
    try:
        detector = spec.build()
        json.dumps(detector.snapshot(), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: bad parameters for {name}: {exc}") from None
    return spec


def detector_plan(settings: Settings) -> dict[str, list[DetectorSpec]]:
    """Detectors per signal id (the composite index under ``INDEX_SIGNAL``)."""
    plan: dict[str, list[DetectorSpec]] = {}
    for default in DEFAULTS:
        params = dict(default.params)
        if default.signal == "sofr_iorb_spread_bp" and default.name == "persistence_threshold":
            params.update(
                enter_level=settings.spread_enter_level_bp,
                exit_level=settings.spread_exit_level_bp,
                k=settings.spread_window_k,
                n=settings.spread_window_n,
                max_gap_seconds=settings.spread_max_gap_days * 86400.0,
            )
        plan[default.signal] = [
            _spec(default.signal, default.name, params, None, f"default for {default.signal}")
        ]
    if settings.detectors_file is None:
        return plan
    where = f"PLUMBLINE_DETECTORS_FILE ({settings.detectors_file})"
    try:
        table = tomllib.loads(settings.detectors_file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{where}: not valid TOML ({exc})") from None
    for signal, body in table.items():
        if signal not in SIGNALS:
            raise SettingsError(f"{where}: unknown signal {signal!r}")
        entries = body.get("detectors") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise SettingsError(f"{where}: [{signal}] needs a list `detectors = [...]`")
        plan[signal] = [
            _spec(signal, str(entry.get("name")), entry.get("params", {}), entry.get("severity"), where)
            for entry in entries
        ]
    return plan
