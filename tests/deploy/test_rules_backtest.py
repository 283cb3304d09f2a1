"""The thresholds in the rule files are the ones backtested, and the backtest says what it must.

Whether the committed BACKTEST.md is what ``plumbline generate`` now produces is checked with the
other generated documents, in ``tests/test_generated_documents.py``.
"""

from __future__ import annotations

import re

from offline import rules
from tests.conftest import REPO_ROOT

PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"


def test_every_backtested_threshold_is_the_one_in_its_rule() -> None:
    text = (PROMETHEUS / "rules" / "funding.yml").read_text()
    for name, value in rules.THRESHOLDS.items():
        marker = re.search(rf"# backtest: {name} = (\S+)\n", text)
        assert marker, f"rules/funding.yml has no `# backtest: {name} = ...` marker"
        assert float(marker.group(1)) == value, f"{name}: rule says {marker.group(1)}, backtest {value}"
        expr = re.search(r"expr: (?:>-\n)?(.*?)\n\s+labels:", text[marker.end() :], re.DOTALL)
        assert expr and re.search(rf"(?<![\d.]){re.escape(f'{value:g}')}(?![\d.])", expr.group(1)), (
            f"{name} = {value:g} does not appear in the expression of the rule it marks"
        )


def test_funding_alerts_fire_on_the_episodes_and_stay_quiet_in_the_glut() -> None:
    summary = (PROMETHEUS / "BACKTEST.md").read_text()
    rows = {
        tuple(cells[:2]): cells
        for line in summary.splitlines()
        if line.startswith("| ") and not line.startswith("| alert") and "---" not in line
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    # The regime and spike pages: 2019, 2020 and Q4 2025; never in the 2021-2023 glut.
    for alert in ("SOFRAboveIORB", "StandingRepoFacilityUsed"):
        for severity in ("warning", "critical"):
            row = rows[(alert, severity)]
            assert row[2:4] == ["fires", "fires"] and row[5] == "fires" and row[6] == "quiet", row
    assert rows[("TGARebuildDrainingReserves", "warning")][4] == "fires"  # the 2023 rebuild
    for alert in ("ReserveScarcityNear", "ReservesFallingFast", "ReverseRepoBufferDepleted"):
        assert rows[(alert, "warning")][5] == "fires" and rows[(alert, "warning")][6] == "quiet"
