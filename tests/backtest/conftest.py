"""Shared fixtures for the backtest tests: one backtest report of a short window, built once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from offline.backtest import BacktestResult, run_backtest
from offline.report import write_report
from tests.conftest import make_settings

#: The 2019 repo spike and the March 2020 dash for cash, with calm months around them.
WINDOW = (dt.date(2019, 8, 1), dt.date(2020, 4, 30))


@pytest.fixture(scope="session")
def backtest_window(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[BacktestResult, Path]:
    """The backtest of :data:`WINDOW` and its report directory."""
    state = tmp_path_factory.mktemp("backtest-state")
    result = run_backtest(make_settings(state, data_dir), *WINDOW)
    report = tmp_path_factory.mktemp("report")
    write_report(result, report)
    return result, report
