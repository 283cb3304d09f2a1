"""One logging setup for every plumbline process: the level and format come from the settings.

:func:`configure_logging` puts one handler (stderr) on the root logger and sets
``PLUMBLINE_LOG_LEVEL`` on every project package's logger alike (``foundation``, ``connectors``,
``detectors``, ``streams``, ``offline``, ``plumbline``), so code logging under ``streams.*`` or
``connectors.*`` is never filtered by a level set on some other package. Third-party libraries
(kafka-python, Faust, httpx) stay at WARNING unless the level asked for is stricter: their INFO
lines would drown ours.

``PLUMBLINE_LOG_FORMAT=json`` writes one JSON object per line: ``time`` (UTC, ISO 8601), ``level``,
``logger``, ``message``, then every ``extra=`` field of the record, and ``exception`` when there is one.

>>> record = logging.LogRecord("connectors.poller", logging.WARNING, "poller.py", 1, "%s failed",
...                            ("nyfed:SOFR",), None)
>>> record.created, record.route = 1568808000.0, "nyfed:SOFR"
>>> print(JsonFormatter().format(record))
{"time": "2019-09-18T12:00:00.000Z", "level": "warning", "logger": "connectors.poller",
 "message": "nyfed:SOFR failed", "route": "nyfed:SOFR"}
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, TextIO

from foundation.settings import Settings

__all__ = ["PROJECT_LOGGERS", "JsonFormatter", "configure_logging"]

#: The loggers of the project's packages: each gets the configured level.
PROJECT_LOGGERS = ("foundation", "connectors", "detectors", "streams", "offline", "plumbline")

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extras (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON; values JSON cannot hold are written as text."""
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        out: dict[str, Any] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class _PlumblineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so configuring again replaces it instead of adding one."""


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Log every project package at ``settings.log_level`` in ``settings.log_format`` to ``stream``.

    ``stream`` defaults to stderr (stdout stays for a command's answer). Calling it again replaces
    the handler it installed before. Returns the handler.
    """
    level = logging.getLevelNamesMapping()[settings.log_level.upper()]
    handler = _PlumblineHandler(stream or sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _PlumblineHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(max(level, logging.WARNING))
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(level)
    return handler
