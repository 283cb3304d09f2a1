"""Typed records at every topic boundary: ``Print``, ``Signal``, ``Alert`` and ``DeadLetter``.

Records are serialised as JSON (never pickle) with a ``schema_version``. ``from_json`` validates
everything it reads and raises :class:`RecordError` with a short machine-readable ``reason`` (used
as the dead-letter metric label) and a human message.

>>> p = Print.from_json(b'{"schema_version": 1, "series_id": "SOFR", "observation_date": "2019-09-17",'
...     b' "value": 5.25, "unit": "percent", "source": "nyfed", "published_at": "2019-09-18T12:00:00+00:00",'
...     b' "vintage": 1}')
>>> p.series_id, p.observation_date, p.value, p.key
('SOFR', datetime.date(2019, 9, 17), 5.25, 'SOFR@2019-09-17')
>>> Print.from_json(p.to_json()) == p
True
>>> Print.from_json(b'{"series_id": "SOFR"')
Traceback (most recent call last):
...
foundation.records.RecordError: not_json: payload is not valid JSON (Expecting ',' delimiter ...)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import typing
from typing import Any, Literal, Self

from foundation.catalogue import SERIES, SIGNALS, UnknownSeriesError

__all__ = [
    "DEAD_LETTER_PAYLOAD_CHARS",
    "FUTURE_SLACK_DAYS",
    "MAX_RECORD_BYTES",
    "REASONS",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "Alert",
    "DeadLetter",
    "Print",
    "Reason",
    "RecordError",
    "Severity",
    "Signal",
    "check_size",
]

SCHEMA_VERSION = 1

#: Alert severities, least to most urgent; Alertmanager routes on them (deploy/alertmanager).
Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")

Reason = Literal[
    "not_json", "schema_version", "missing_field", "bad_field", "unknown_series", "unknown_signal",
    "not_finite", "out_of_range", "unit_mismatch", "too_large", "future_date",
]  # fmt: skip
#: Every reason a record can be refused for: the values of the dead-letter metric's ``reason`` label,
#: a fixed set so that no input can add a time series.
REASONS: tuple[Reason, ...] = typing.get_args(Reason)

#: Default size limit of one message (``PLUMBLINE_MAX_RECORD_BYTES``). A print is about 300 bytes and
#: a signal about 500; a message a hundred times larger is garbage or an attack, refused before parsing.
MAX_RECORD_BYTES = 64 * 1024
#: How much of a refused payload a dead-letter record keeps: enough to see what it was.
DEAD_LETTER_PAYLOAD_CHARS = 4096
#: An observation date may be this many days after today (UTC): a print dated tomorrow in UTC is
#: today somewhere (Asia-Pacific sources); anything later was not observed yet.
FUTURE_SLACK_DAYS = 1


class RecordError(ValueError):
    """A payload that is not a valid record. ``reason`` is one of a fixed set (a metric label)."""

    #: Longer messages are cut: they quote the sender's strings, and they are logged and dead-lettered.
    MAX_MESSAGE_CHARS = 300

    def __init__(self, reason: Reason, message: str) -> None:
        if len(message) > self.MAX_MESSAGE_CHARS:
            message = message[: self.MAX_MESSAGE_CHARS - 3] + "..."
        super().__init__(f"{reason}: {message}")
        self.reason: Reason = reason
        self.message = message


def check_size(payload: bytes | str, max_bytes: int = MAX_RECORD_BYTES) -> None:
    """Refuse a message over ``max_bytes`` before it is parsed (a huge JSON document costs memory).

    >>> check_size(b"x" * 70_000)
    Traceback (most recent call last):
    ...
    foundation.records.RecordError: too_large: message of 70000 bytes is over the limit of 65536 bytes
    """
    size = len(payload.encode() if isinstance(payload, str) else payload)
    if size > max_bytes:
        raise RecordError("too_large", f"message of {size} bytes is over the limit of {max_bytes} bytes")


def _not_in_future(day: dt.date, what: str, today: dt.date | None) -> None:
    today = dt.datetime.now(dt.UTC).date() if today is None else today
    if day > today + dt.timedelta(days=FUTURE_SLACK_DAYS):
        raise RecordError("future_date", f"{what}: observation date {day} is after today ({today} UTC)")


def _parse_object(payload: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(payload, dict):
        data = payload
    else:
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            detail = str(exc).split(":")[0]
            raise RecordError("not_json", f"payload is not valid JSON ({detail} ...)") from None
    if not isinstance(data, dict):
        raise RecordError("not_json", f"payload is a JSON {type(data).__name__}, not an object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordError("schema_version", f"schema_version {version!r} is not {SCHEMA_VERSION}")
    return data


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in data or data[name] is None:
        raise RecordError("missing_field", f"field {name!r} is missing")
    value = data[name]
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecordError("bad_field", f"field {name!r} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise RecordError("not_finite", f"field {name!r} is {value!r}")
        return value
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RecordError("bad_field", f"field {name!r} has the wrong type ({type(value).__name__})")
    return value


def _date(data: dict[str, Any], name: str) -> dt.date:
    raw = _field(data, name, str)
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise RecordError("bad_field", f"field {name!r} is not an ISO date: {raw!r}") from None


def _timestamp(data: dict[str, Any], name: str) -> dt.datetime:
    raw = _field(data, name, str)
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise RecordError("bad_field", f"field {name!r} is not an ISO timestamp: {raw!r}") from None
    if value.tzinfo is None:
        raise RecordError("bad_field", f"field {name!r} has no time zone: {raw!r}")
    return value.astimezone(dt.UTC)


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class _Record:
    """What every record shares: its JSON encoding with the schema version."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with ``schema_version`` first."""
        body = {f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return {"schema_version": SCHEMA_VERSION, **body}

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON, the wire format on every topic."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()


@dataclasses.dataclass(frozen=True)
class Print(_Record):
    """One published value of one series for one observation date.

    ``vintage`` counts releases of the same (series, observation date): 1 for the first print,
    higher for revisions. ``replay`` marks prints re-sent from history, whose alerts page nobody.
    """

    series_id: str
    observation_date: dt.date
    value: float
    unit: str
    source: str
    published_at: dt.datetime
    vintage: int = 1
    replay: bool = False

    @property
    def key(self) -> str:
        """The idempotency key: one series, one observation date (revisions share it)."""
        return f"{self.series_id}@{self.observation_date.isoformat()}"

    def validate(self, today: dt.date | None = None) -> Self:
        """Check the print against the catalogue; raise :class:`RecordError` if it does not fit.

        ``today`` (default: the UTC date now) bounds the observation date: history is in the past.
        """
        spec = SERIES.get(self.series_id)
        if spec is None:
            raise RecordError("unknown_series", str(UnknownSeriesError(self.series_id)))
        if not math.isfinite(self.value):
            raise RecordError(
                "not_finite", f"{self.series_id} {self.observation_date}: value is {self.value}"
            )
        if self.unit != spec.unit:
            raise RecordError(
                "unit_mismatch", f"{self.series_id}: unit {self.unit!r}, the catalogue says {spec.unit!r}"
            )
        if not spec.min_value <= self.value <= spec.max_value:
            raise RecordError(
                "out_of_range",
                f"{self.series_id} {self.observation_date}: {self.value} {self.unit} is outside the "
                f"plausible range [{spec.min_value}, {spec.max_value}]",
            )
        if self.vintage < 1:
            raise RecordError("bad_field", f"vintage must be >= 1, got {self.vintage}")
        _not_in_future(self.observation_date, self.series_id, today)
        return self

    @classmethod
    def from_json(cls, payload: bytes | str | dict[str, Any]) -> Print:
        """Parse and validate a print; :class:`RecordError` on anything wrong."""
        data = _parse_object(payload)
        record = cls(
            series_id=_field(data, "series_id", str),
            observation_date=_date(data, "observation_date"),
            value=_field(data, "value", float),
            unit=_field(data, "unit", str),
            source=_field(data, "source", str),
            published_at=_timestamp(data, "published_at"),
            vintage=_field(data, "vintage", int),
            replay=bool(data.get("replay", False)),
        )
        return record.validate()


@dataclasses.dataclass(frozen=True)
class Signal(_Record):
    """One derived signal value for one observation date, with the input prints it used."""

    signal_id: str
    observation_date: dt.date
    value: float
    unit: str
    inputs: dict[str, str]
    published_at: dt.datetime
    replay: bool = False

    @classmethod
    def from_json(cls, payload: bytes | str | dict[str, Any]) -> Signal:
        """Parse and validate a signal."""
        data = _parse_object(payload)
        signal_id = _field(data, "signal_id", str)
        if signal_id not in SIGNALS:
            raise RecordError("unknown_signal", f"unknown signal {signal_id[:64]!r}")
        record = cls(
            signal_id=signal_id,
            observation_date=_date(data, "observation_date"),
            value=_field(data, "value", float),
            unit=_field(data, "unit", str),
            inputs=_field(data, "inputs", dict),
            published_at=_timestamp(data, "published_at"),
            replay=bool(data.get("replay", False)),
        )
        if record.unit != SIGNALS[signal_id].unit:
            raise RecordError(
                "unit_mismatch",
                f"{signal_id}: unit {record.unit[:64]!r}, the catalogue says {SIGNALS[signal_id].unit!r}",
            )
        _not_in_future(record.observation_date, signal_id, None)
        return record


@dataclasses.dataclass(frozen=True)
class Alert(_Record):
    """A detector alarm (``state`` firing) or its end (``state`` resolved) for one signal."""

    fingerprint: str
    state: Literal["firing", "resolved"]
    severity: Severity
    signal: str
    detector: str
    value: float
    score: float
    explanation: dict[str, Any]
    observation_date: dt.date
    published_at: dt.datetime
    replay: bool = False

    @staticmethod
    def make_fingerprint(signal: str, detector: str, started: dt.date) -> str:
        """Stable id of one alarm episode: the same episode replayed gives the same fingerprint."""
        return hashlib.sha256(f"{signal}|{detector}|{started.isoformat()}".encode()).hexdigest()[:16]

    @classmethod
    def from_json(cls, payload: bytes | str | dict[str, Any]) -> Alert:
        """Parse and validate an alert."""
        data = _parse_object(payload)
        state = _field(data, "state", str)
        severity = _field(data, "severity", str)
        if state not in ("firing", "resolved"):
            raise RecordError("bad_field", f"state {state!r} is not firing or resolved")
        if severity not in SEVERITIES:
            raise RecordError("bad_field", f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
        return cls(
            fingerprint=_field(data, "fingerprint", str),
            state=state,  # type: ignore[arg-type]
            severity=severity,  # type: ignore[arg-type]
            signal=_field(data, "signal", str),
            detector=_field(data, "detector", str),
            value=_field(data, "value", float),
            score=_field(data, "score", float),
            explanation=_field(data, "explanation", dict),
            observation_date=_date(data, "observation_date"),
            published_at=_timestamp(data, "published_at"),
            replay=bool(data.get("replay", False)),
        )


@dataclasses.dataclass(frozen=True)
class DeadLetter(_Record):
    """A record that could not be processed, with the reason, kept verbatim for inspection.

    ``payload`` holds at most :data:`DEAD_LETTER_PAYLOAD_CHARS` characters of what was received;
    ``payload_bytes`` is the size received and ``truncated`` says whether ``payload`` is all of it
    (a dead-letter topic must not become a copy of every oversized message).
    """

    topic: str
    reason: str
    error: str
    payload: str
    received_at: dt.datetime
    payload_bytes: int = 0
    truncated: bool = False

    @classmethod
    def of(cls, topic: str, payload: bytes, error: RecordError, received_at: dt.datetime) -> DeadLetter:
        """The dead letter of ``payload`` from ``topic`` refused with ``error``, payload truncated.

        >>> error = RecordError("too_large", "big")
        >>> letter = DeadLetter.of("t", b"x" * 70_000, error, dt.datetime.now(dt.UTC))
        >>> len(letter.payload), letter.payload_bytes, letter.truncated
        (4096, 70000, True)
        """
        head = payload[: DEAD_LETTER_PAYLOAD_CHARS * 4]  # a UTF-8 character is at most 4 bytes
        decoded = head.decode("utf-8", errors="replace")
        text = decoded[:DEAD_LETTER_PAYLOAD_CHARS]
        return cls(
            topic=topic,
            reason=error.reason,
            error=error.message,
            payload=text,
            received_at=received_at,
            payload_bytes=len(payload),
            truncated=len(head) < len(payload) or len(decoded) > len(text),
        )
