"""Which detectors run on which signal, with which parameters and alert severity.

Defaults come from ``detectors/defaults.py`` (chosen by the backtest in docs/detectors.md); the
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
from typing import Any, Literal

import detectors  # noqa: F401  (registers every detector)
from detectors.base import REGISTRY, Detector
from detectors.defaults import DEFAULTS, MULTIVARIATE_DEFAULTS
from plumbline.catalogue import SIGNALS
from plumbline.settings import Settings, SettingsError

__all__ = ["INDEX_SIGNAL", "DetectorSpec", "detector_plan"]

Severity = Literal["info", "warning", "critical"]
INDEX_SIGNAL = "funding_stress_index"

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
    """One detector to run on one signal."""

    signal: str
    name: str
    params: dict[str, Any]
    severity: Severity

    def build(self) -> Detector:
        """A fresh detector with these parameters."""
        return REGISTRY[self.name](**self.params)


def _spec(signal: str, name: str, params: dict[str, Any], severity: str | None, where: str) -> DetectorSpec:
    if name not in REGISTRY:
        raise SettingsError(f"{where}: unknown detector {name!r} (see `plumbline score --list`)")
    chosen = severity or _SEVERITY_BY_DETECTOR.get(name, "warning")
    if chosen not in ("info", "warning", "critical"):
        raise SettingsError(f"{where}: severity {chosen!r} is not info, warning or critical")
    spec = DetectorSpec(signal, name, dict(params), chosen)  # type: ignore[arg-type]
    try:
        detector = spec.build()
        json.dumps(detector.snapshot(), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: bad parameters for {name}: {exc}") from None
    return spec


def detector_plan(settings: Settings) -> dict[str, list[DetectorSpec]]:
    """Detectors per signal id (the composite index under :data:`INDEX_SIGNAL`)."""
    plan: dict[str, list[DetectorSpec]] = {}
    for signal, choice in {**DEFAULTS, **MULTIVARIATE_DEFAULTS}.items():
        params = dict(choice.params)
        if signal == "sofr_iorb_spread_bp" and choice.detector == "persistence_threshold":
            params.update(
                enter_level=settings.spread_enter_level_bp,
                exit_level=settings.spread_exit_level_bp,
                k=settings.spread_window_k,
                n=settings.spread_window_n,
                max_gap_seconds=settings.spread_max_gap_days * 86400.0,
            )
        plan[signal] = [_spec(signal, choice.detector, params, None, f"default for {signal}")]
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
