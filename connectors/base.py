"""What every source connector shares: the result type, value parsing and the edge normalisation.

A connector turns one upstream response into a :class:`FetchResult`: validated :class:`Print` records
in the catalogue's canonical unit (``percent`` or ``usd``), plus one :class:`DeadLetter` for each
upstream record that could not become a print, with the reason. A response that cannot be read at all
raises :class:`connectors.httpclient.PayloadError` instead. Nothing wrong becomes a print, and every
record that is dropped says why.

>>> result = FetchResult()
>>> result.accept(make_print("SOFR", dt.date(2019, 9, 17), 5.25, source="nyfed"), raw={"percentRate": 5.25})
True
>>> result.accept(make_print("SOFR", dt.date(2019, 9, 18), 525.0, source="nyfed"), raw={"percentRate": 525})
False
>>> [p.value for p in result.prints], [d.reason for d in result.dead_letters]
([5.25], ['out_of_range'])
>>> parse_value("."), parse_value("null"), parse_value(" 2.55 "), parse_value(1196)
(None, None, 2.55, 1196.0)
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from connectors.clock import Clock, SystemClock
from connectors.history import MISSING_MARKERS
from connectors.httpclient import HttpPolicy, PayloadError, SourceClient
from foundation.catalogue import get_series, published_at
from foundation.records import DeadLetter, Print, RecordError

__all__ = [
    "Connector",
    "FetchResult",
    "canonical_value",
    "dead_letter",
    "make_print",
    "parse_value",
    "unknown_fields_note",
]

# Long enough to recognise a record, short enough that a dead-letter table of a bad day stays small.
_PAYLOAD_EXCERPT_CHARS = 2000


def parse_value(raw: object) -> float | None:
    """A number from a JSON number or string; ``None`` for a missing marker; ValueError otherwise."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is a boolean, not a number")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if text in MISSING_MARKERS:
            return None
        value = float(text.replace(",", ""))
    else:
        raise ValueError(f"{raw!r} is a {type(raw).__name__}, not a number")
    if not math.isfinite(value):
        raise ValueError(f"{raw!r} is not finite")
    return value


def canonical_value(value: float, unit: str) -> float:
    """Round a normalised value so the same print from two sources compares equal.

    ``877.820`` billions and ``877820`` millions differ in the last binary digit after scaling; without
    rounding the archive would see a revision that never happened. Dollar amounts are kept to the
    dollar, rates to 1e-9 percent (far below any published precision).

    >>> canonical_value(2553.716 * 1e9, "usd") == 2553716000000.0
    True
    """
    if unit == "usd":
        return float(round(value))
    return round(value, 9) + 0.0  # + 0.0 turns -0.0 into 0.0, so equal prints serialise equally


def make_print(
    series_id: str,
    day: dt.date,
    value_in_source_unit: float,
    *,
    source: str,
    multiplier: float = 1.0,
    published: dt.datetime | None = None,
    replay: bool = False,
) -> Print:
    """A print in the canonical unit (not yet validated): the one place units are converted."""
    spec = get_series(series_id)
    return Print(
        series_id=series_id,
        observation_date=day,
        value=canonical_value(value_in_source_unit * multiplier, spec.unit),
        unit=spec.unit,
        source=source,
        published_at=published or published_at(series_id, day),
        replay=replay,
    )


def _excerpt(raw: object) -> str:
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = json.dumps(raw, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = repr(raw)
    return text[:_PAYLOAD_EXCERPT_CHARS]


def dead_letter(source: str, reason: str, message: str, raw: object, received_at: dt.datetime) -> DeadLetter:
    """A dead letter for an upstream record; ``topic`` names the source (``source:nyfed``)."""
    return DeadLetter(
        topic=f"source:{source}",
        reason=reason,
        error=message,
        payload=_excerpt(raw),
        received_at=received_at,
    )


@dataclasses.dataclass
class FetchResult:
    """Prints and dead letters from one or more responses, plus one-line notes for the operator."""

    prints: list[Print] = dataclasses.field(default_factory=list)
    dead_letters: list[DeadLetter] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    received_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def accept(self, record: Print, raw: object) -> bool:
        """Validate ``record`` against the catalogue; keep it, or dead-letter it with the reason."""
        try:
            self.prints.append(record.validate())
        except RecordError as exc:
            self.reject(record.source, exc.reason, f"{record.key}: {exc.message}", raw)
            return False
        return True

    def reject(self, source: str, reason: str, message: str, raw: object) -> None:
        """Record an upstream record that did not become a print."""
        self.dead_letters.append(dead_letter(source, reason, message, raw, self.received_at))

    def note(self, line: str) -> None:
        """Remember a one-line observation (an unknown field, a skipped row type), once."""
        if line not in self.notes:
            self.notes.append(line)


class Connector(abc.ABC):
    """One upstream source. Takes an ``httpx.Client``; everything about politeness is in ``http``.

    ``requests()`` lists what the connector can fetch (e.g. ``"SOFR"`` for the SOFR rate family) and
    ``series_of(request)`` the catalogue series one request yields; ``fetch`` does it for a date range.
    """

    source: ClassVar[str]
    default_base_url: ClassVar[str]

    def __init__(
        self,
        client: httpx.Client,
        *,
        base_url: str | None = None,
        policy: HttpPolicy | None = None,
        clock: Clock | None = None,
        http: SourceClient | None = None,
    ) -> None:
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.clock: Clock = clock or (http.clock if http else SystemClock())
        # Connectors of one host may share a SourceClient, so they share its rate limit.
        self.http = http or SourceClient(self.source, client, policy, self.clock)

    @abc.abstractmethod
    def requests(self) -> tuple[str, ...]:
        """The request names this connector serves."""

    @abc.abstractmethod
    def series_of(self, request: str) -> tuple[str, ...]:
        """The catalogue series one request yields (the first is the one polling waits for)."""

    @abc.abstractmethod
    def fetch(self, request: str, start: dt.date, end: dt.date) -> FetchResult:
        """Every print of ``request`` observed between ``start`` and ``end`` (inclusive)."""

    def _new_result(self) -> FetchResult:
        return FetchResult(received_at=self.clock.now())

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(
                self.source,
                "not_json",
                f"{response.request.url.path} returned {len(response.content)} bytes that are not valid JSON "
                f"({str(exc).split(':')[0]}); nothing from it was archived",
                response.text[:_PAYLOAD_EXCERPT_CHARS],
            ) from None


def unknown_fields_note(source: str, record: Mapping[str, Any], known: frozenset[str]) -> str | None:
    """A note naming fields the connector does not know (upstream added or renamed something)."""
    extra = sorted(set(record) - known)
    if not extra:
        return None
    return f"{source}: unknown field(s) {', '.join(extra)} ignored (renamed upstream? see docs/connectors.md)"
