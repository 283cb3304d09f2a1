"""One logging setting for every package: the level reaches streams.* and connectors.* alike; text or JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from foundation.logs import PROJECT_LOGGERS, configure_logging
from foundation.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in PROJECT_LOGGERS})
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def test_json_format_writes_one_object_per_line_with_the_extras() -> None:
    stream = io.StringIO()
    configure_logging(load_settings(env={"PLUMBLINE_LOG_FORMAT": "json"}), stream)
    logging.getLogger("connectors.poller").warning(
        "nyfed:SOFR failed", extra={"route": "nyfed:SOFR", "outcome": "http_error"}
    )
    try:
        raise ValueError("bad payload")
    except ValueError:
        logging.getLogger("streams.engine").exception("could not process")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first.pop("time").endswith("Z")
    assert first == {
        "level": "warning", "logger": "connectors.poller", "message": "nyfed:SOFR failed",
        "route": "nyfed:SOFR", "outcome": "http_error",
    }  # fmt: skip
    assert second["level"] == "error" and "ValueError: bad payload" in second["exception"]


def test_text_format_and_one_level_for_every_project_package() -> None:
    stream = io.StringIO()
    configure_logging(load_settings(env={"PLUMBLINE_LOG_LEVEL": "debug"}), stream)
    logging.getLogger("streams.app").debug("partition 0 assigned")
    logging.getLogger("connectors.poller").info("nyfed:SOFR ok")
    logging.getLogger("plumbline.commands.worker").debug("started")
    logging.getLogger("kafka.conn").info("connecting")  # third parties stay at WARNING
    lines = stream.getvalue().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "DEBUG streams.app: partition 0 assigned",
        "INFO connectors.poller: nyfed:SOFR ok",
        "DEBUG plumbline.commands.worker: started",
    ]


def test_configuring_again_replaces_the_handler_and_a_stricter_level_silences_info() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(load_settings(env={}), first)
    configure_logging(load_settings(env={"PLUMBLINE_LOG_LEVEL": "warning"}), second)
    logging.getLogger("streams.engine").info("quiet")
    logging.getLogger("streams.engine").warning("loud")
    assert first.getvalue() == "" and second.getvalue().rstrip().endswith("WARNING streams.engine: loud")


@pytest.mark.parametrize(
    ("variable", "value"), [("PLUMBLINE_LOG_LEVEL", "verbose"), ("PLUMBLINE_LOG_FORMAT", "xml")]
)
def test_a_bad_logging_setting_names_itself(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}: '{value}' is not one of"):
        load_settings(env={variable: value})
