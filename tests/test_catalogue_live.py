"""The catalogue's ``live`` flag matches the connectors' live routes (streams cannot ask connectors).

The worker exports an expected publication, the staleness check, for every live series; a series
marked live without a route would be reported stale forever, one with a route but not marked live
would never be.
"""

from __future__ import annotations

import httpx
import pytest

from connectors.sources import SourceSet
from foundation.catalogue import SERIES
from foundation.settings import load_settings

#: Routed for their history, but no new prints will ever come.
DISCONTINUED = {"IOER"}  # replaced by IORB on 2021-07-29


@pytest.mark.parametrize("fred_api_key", [None, "key"], ids=["fred-csv", "fred-api"])
def test_live_series_are_the_routed_ones_that_still_publish(fred_api_key: str | None) -> None:
    with httpx.Client() as client:
        sources = SourceSet.from_settings(load_settings(env={}, fred_api_key=fred_api_key), client)
    routed = {series_id for route in sources.routes.values() for series_id in route.series}
    live = {series_id for series_id, spec in SERIES.items() if spec.live}
    assert live == (routed & set(SERIES)) - DISCONTINUED
    assert DISCONTINUED.issubset(routed)
    assert set(sources.uncovered()) == set(SERIES) - live - DISCONTINUED == {"JP_POLICY"}
