"""Settings: defaults, environment and TOML precedence, one-line errors naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.settings import SettingsError, load_settings


def test_defaults_bind_loopback_and_name_topics() -> None:
    settings = load_settings(env={})
    assert settings.bind_host == "127.0.0.1"
    assert settings.broker_url == "kafka://127.0.0.1:19092"
    assert len(set(settings.all_topics)) == 5


def test_environment_overrides_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "plumbline.toml"
    config.write_text('[plumbline]\nbroker_port = 29092\nprometheus_port = 29090\ntopic_prints = "p"\n')
    settings = load_settings(env={"PLUMBLINE_CONFIG": str(config), "PLUMBLINE_PROMETHEUS_PORT": "39090"})
    assert settings.broker_port == 29092
    assert settings.prometheus_port == 39090
    assert settings.topic_prints == "p"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLUMBLINE_BROKER_PORT": "abc"}, "PLUMBLINE_BROKER_PORT: 'abc' is not an integer"),
        ({"PLUMBLINE_BROKER_PORT": "70000"}, "PLUMBLINE_BROKER_PORT: 70000 is not a TCP port"),
        (
            {"PLUMBLINE_SPREAD_ENTER_LEVEL_BP": "nan"},
            "PLUMBLINE_SPREAD_ENTER_LEVEL_BP: 'nan' is not a number",
        ),
        ({"PLUMBLINE_SPREAD_EXIT_LEVEL_BP": "9"}, "PLUMBLINE_SPREAD_EXIT_LEVEL_BP: 9.0 is above"),
        ({"PLUMBLINE_SPREAD_WINDOW_K": "6"}, "PLUMBLINE_SPREAD_WINDOW_K: need 1 <= k <= n"),
        (
            {"PLUMBLINE_DATA_DIR": "/nonexistent/plumbline"},
            "PLUMBLINE_DATA_DIR: /nonexistent/plumbline is not",
        ),
        ({"PLUMBLINE_HEARTBEAT_INTERVAL_SECONDS": "10"}, "PLUMBLINE_HEARTBEAT_INTERVAL_SECONDS: must be"),
    ],
)
def test_bad_value_fails_with_one_line_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings(env=env)
    assert str(excinfo.value).startswith(message)
    assert "\n" not in str(excinfo.value)


def test_unknown_key_in_toml_is_rejected(tmp_path: Path) -> None:
    config = tmp_path / "plumbline.toml"
    config.write_text("brokr_port = 1\n")
    with pytest.raises(SettingsError, match="unknown setting 'brokr_port'"):
        load_settings(env={}, config_file=config)


def test_secrets_are_masked_for_display() -> None:
    settings = load_settings(env={"PLUMBLINE_FRED_API_KEY": "abcdef0123456789"})
    shown = settings.masked()["PLUMBLINE_FRED_API_KEY"]
    assert "abcdef01234567" not in shown
    assert shown.startswith("****")


def test_relative_state_dir_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={"PLUMBLINE_STATE_DIR": "state"})
    assert settings.state_dir == tmp_path / "state"
