"""Connector settings come from PLUMBLINE_* like every other setting, and bad values fail in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.archive import default_archive_path
from connectors.httpclient import HttpPolicy
from connectors.poller import PollPolicy
from foundation.settings import SettingsError, load_settings


def test_connector_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        env={
            "PLUMBLINE_HTTP_MAX_ATTEMPTS": "3",
            "PLUMBLINE_SOURCE_MIN_INTERVAL_SECONDS": "0.5",
            "PLUMBLINE_POLL_WINDOW_HOURS": "2",
            "PLUMBLINE_ARCHIVE_PATH": str(tmp_path / "a.sqlite3"),
            "PLUMBLINE_NYFED_BASE_URL": "http://127.0.0.1:8080",
        }
    )
    assert HttpPolicy.from_settings(settings) == HttpPolicy(max_attempts=3, min_interval_seconds=0.5)
    assert PollPolicy.from_settings(settings).window_seconds == 7200.0
    assert default_archive_path(settings) == tmp_path / "a.sqlite3"
    assert load_settings(env={}, state_dir=tmp_path).archive_path is None
    assert default_archive_path(load_settings(env={}, state_dir=tmp_path)) == tmp_path / "archive.sqlite3"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLUMBLINE_HTTP_MAX_ATTEMPTS": "0"}, "PLUMBLINE_HTTP_MAX_ATTEMPTS: must be at least 1"),
        ({"PLUMBLINE_HTTP_TIMEOUT_SECONDS": "-1"}, "PLUMBLINE_HTTP_TIMEOUT_SECONDS: must be positive"),
        ({"PLUMBLINE_SOURCE_MIN_INTERVAL_SECONDS": "-0.1"}, "must not be negative"),
        (
            {"PLUMBLINE_FRED_BASE_URL": "fred.stlouisfed.org"},
            "PLUMBLINE_FRED_BASE_URL: 'fred.stlouisfed.org' is not",
        ),
    ],
)
def test_bad_connector_settings_fail_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        load_settings(env=env)
    assert "\n" not in str(caught.value)


def test_the_api_key_is_masked_and_the_new_settings_are_shown() -> None:
    shown = load_settings(env={"PLUMBLINE_FRED_API_KEY": "abcdef123456"}).masked()
    assert shown["PLUMBLINE_FRED_API_KEY"] == "****56"
    assert shown["PLUMBLINE_POLL_RETRY_SECONDS"] == "300.0"
