"""Detectors per signal: defaults, the PLUMBLINE_SPREAD_* levels, and a TOML file, validated at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.catalogue import INDEX_SIGNAL
from foundation.settings import SettingsError, load_settings
from streams.config import DEFAULTS, detector_plan


def test_defaults_cover_every_default_signal_and_the_index() -> None:
    plan = detector_plan(load_settings(env={}))
    assert set(plan) == {spec.signal for spec in DEFAULTS} and INDEX_SIGNAL in plan
    sofr = plan["sofr_iorb_spread_bp"][0]
    assert (sofr.name, sofr.severity, sofr.params["enter_level"]) == ("persistence_threshold", "warning", 5.0)
    assert plan[INDEX_SIGNAL][0].severity == "critical"


def test_spread_settings_set_the_sofr_persistence_detector() -> None:
    plan = detector_plan(
        load_settings(env={"PLUMBLINE_SPREAD_ENTER_LEVEL_BP": "10", "PLUMBLINE_SPREAD_WINDOW_K": "4"})
    )
    params = plan["sofr_iorb_spread_bp"][0].params
    assert (params["enter_level"], params["k"]) == (10.0, 4)


def test_detectors_file_replaces_a_signals_detectors(tmp_path: Path) -> None:
    path = tmp_path / "detectors.toml"
    path.write_text(
        "[sofr99_iorb_spread_bp]\n"
        'detectors = [{ name = "cusum", params = { threshold = 8.0 }, severity = "info" },'
        ' { name = "persistence_threshold", params = { enter_level = 50.0 } }]\n'
    )
    plan = detector_plan(load_settings(env={"PLUMBLINE_DETECTORS_FILE": str(path)}))
    chosen = [(s.name, s.severity) for s in plan["sofr99_iorb_spread_bp"]]
    assert chosen == [("cusum", "info"), ("persistence_threshold", "warning")]
    assert plan["sofr_iorb_spread_bp"][0].name == "persistence_threshold"  # others keep their defaults


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[no_such_signal]\ndetectors = []\n", "unknown signal 'no_such_signal'"),
        ('[sofr_iorb_spread_bp]\ndetectors = [{ name = "magic" }]\n', "unknown detector 'magic'"),
        (
            '[sofr_iorb_spread_bp]\ndetectors = [{ name = "cusum", params = { bogus = 1 } }]\n',
            "bad parameters for cusum",
        ),
        ('[sofr_iorb_spread_bp]\ndetectors = [{ name = "cusum", severity = "loud" }]\n', "severity 'loud'"),
        ("[sofr_iorb_spread_bp]\ndetectors = 3\n", "needs a list"),
        ("not = [toml", "not valid TOML"),
    ],
)
def test_bad_detectors_file_fails_at_start_with_one_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "detectors.toml"
    path.write_text(body)
    with pytest.raises(SettingsError, match="PLUMBLINE_DETECTORS_FILE") as excinfo:
        detector_plan(load_settings(env={"PLUMBLINE_DETECTORS_FILE": str(path)}))
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
