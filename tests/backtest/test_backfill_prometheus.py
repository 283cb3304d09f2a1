"""``plumbline backfill`` loads history into a real Prometheus, which answers for past dates."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from offline.prometheus import TemporaryPrometheus
from plumbline.commands import backfill as backfill_command
from tests.conftest import make_settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def backfilled(data_dir: Path, tmp_path: Path) -> Path:
    settings = make_settings(tmp_path / "state", data_dir)
    args = argparse.Namespace(
        start=dt.date(2019, 8, 1), end=dt.date(2019, 10, 31), prometheus_data=None, step="1d",
        keep_openmetrics=tmp_path / "backfill.txt",
    )  # fmt: skip
    assert backfill_command.run(args, settings) == 0
    return settings.state_dir / "prometheus" / "data"


@pytest.fixture
def prometheus(backfilled: Path) -> Iterator[str]:
    with TemporaryPrometheus(backfilled) as server:  # the one `plumbline generate` uses too
        yield server.url


def query(url: str, expr: str, at: str) -> dict[str, float]:
    params = urllib.parse.urlencode({"query": expr, "time": at})
    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1]) for r in body["data"]["result"]}


def only(values: dict[str, float]) -> float:
    assert len(values) == 1, values
    return next(iter(values.values()))


def test_backfilled_history_is_queryable_for_past_dates(prometheus: str, backfilled: Path) -> None:
    spread = 'plumbline_signal_basis_points{signal="sofr_iorb_spread_bp"}'
    assert only(query(prometheus, spread, "2019-09-17T00:00:00Z")) == 315.0
    assert '"replay": "true"' in next(iter(query(prometheus, spread, "2019-09-17T00:00:00Z")))  # history
    assert only(query(prometheus, spread, "2019-09-16T00:00:00Z")) == 33.0
    # Held over the weekend, as the worker holds its newest value between prints.
    assert only(query(prometheus, spread, "2019-09-22T00:00:00Z")) == only(
        query(prometheus, spread, "2019-09-20T00:00:00Z")
    )
    alarm = 'plumbline_detector_alarm{signal="sofr_iorb_spread_bp",detector="persistence_threshold"}'
    on = query(prometheus, alarm, "2019-09-17T00:00:00Z")
    assert list(on.values()) == [1.0] and '"replay": "true"' in next(iter(on))
    reserves = only(query(prometheus, 'plumbline_series_dollars{series="WRESBAL"}', "2019-09-19T00:00:00Z"))
    assert reserves == pytest.approx(1.3e12, rel=0.1)
    assert query(prometheus, spread, "2018-01-02T00:00:00Z") == {}  # nothing before the window
    blocks = [p for p in backfilled.iterdir() if (p / "meta.json").is_file()]
    assert 1 <= len(blocks) <= 2  # a few large blocks, not one per two hours
