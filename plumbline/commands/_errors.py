"""One line for a failure a command did not expect: what went wrong and, where known, the fix.

:func:`describe` is what ``plumbline.cli.main`` prints (after ``plumbline <command>:``) for an
exception that reached it, and what a command prints for the same failure when it catches it
itself. An operator meets three failures that are not bugs: no broker answering, a port some other
process holds, and a file or folder that is not there; each gets its fix. Anything else is a bug
or an environment plumbline does not know, and gets its type, its message and how to see the
traceback.

>>> describe(OSError(98, "Address already in use"), None).split(":")[0]
'a port is already in use (Address already in use)'
>>> describe(ValueError("bad\\nthing"), None)
'ValueError: bad thing (run with PLUMBLINE_DEBUG=1 for the traceback)'
"""

from __future__ import annotations

import errno
import os

from connectors.archive import ArchiveWriteError
from foundation.settings import Settings

__all__ = ["DEBUG_ENV", "broker_unreachable", "debug_enabled", "describe", "is_broker_unreachable"]

#: Set to 1 to let an unexpected exception end with its traceback instead of one line.
DEBUG_ENV = "PLUMBLINE_DEBUG"

# Raised by kafka-python and aiokafka when no broker answers (at bootstrap, or for a metadata or
# send request that times out). Matched by name, so this module loads neither library.
_BROKER_ERRORS = frozenset(
    {"NoBrokersAvailable", "KafkaTimeoutError", "KafkaConnectionError", "NodeNotReadyError"}
)


def debug_enabled() -> bool:
    """Whether ``PLUMBLINE_DEBUG`` asks for tracebacks (any value but empty, 0, false, no, off)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _message(exc: BaseException) -> str:
    text = _one_line(exc)
    name = type(exc).__name__
    # kafka-python repeats its class name in the message ("KafkaTimeoutError: KafkaTimeoutError: ...").
    while text.startswith(name + ": "):
        text = text[len(name) + 2 :]
    return f"{name}: {text}" if text else name


def is_broker_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` is a Kafka client's way of saying no broker answered."""
    return any(
        cls.__name__ in _BROKER_ERRORS and cls.__module__.split(".")[0] in ("kafka", "aiokafka")
        for cls in type(exc).__mro__
    )


def broker_unreachable(exc: BaseException, settings: Settings | None) -> str:
    """The line for a broker that does not answer, naming where plumbline looked for it."""
    where = f" at {settings.bootstrap_servers}" if settings is not None else ""
    fix = "start the local one with `plumbline stack up`, or set PLUMBLINE_BOOTSTRAP_SERVERS to yours"
    if settings is not None and settings.kafka_security_protocol != "PLAINTEXT":
        fix += f" (and check the PLUMBLINE_KAFKA_* settings: {settings.kafka_security_protocol})"
    return f"no Kafka broker answers{where} ({_message(exc)}): {fix}"


def describe(exc: BaseException, settings: Settings | None) -> str:
    """``exc`` as one line, without the ``plumbline <command>:`` prefix."""
    if is_broker_unreachable(exc):
        return broker_unreachable(exc, settings)
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return (
            f"a port is already in use ({_one_line(exc.strerror)}): stop what holds it, or choose other "
            "ports with the PLUMBLINE_*_PORT settings (`plumbline config` lists them)"
        )
    if isinstance(exc, ArchiveWriteError):  # the operator's disk, not a bug: no traceback hint
        return f"{_one_line(exc)}: free space on its volume or make it writable, then run the command again"
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return (
            f"{exc.filename} does not exist: check the setting or argument that names it "
            f"(`plumbline config` lists the settings; run with {DEBUG_ENV}=1 for the traceback)"
        )
    return f"{_message(exc)} (run with {DEBUG_ENV}=1 for the traceback)"
