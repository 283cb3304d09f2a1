"""Record schemas: JSON round trips and validation with reasons (the dead-letter labels)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from foundation.catalogue import published_at
from foundation.records import Alert, Print, RecordError, Signal


def sofr_print(value: float = 5.25, **changes: object) -> Print:
    day = dt.date(2019, 9, 17)
    fields: dict[str, object] = dict(
        series_id="SOFR", observation_date=day, value=value, unit="percent", source="nyfed",
        published_at=published_at("SOFR", day),
    )  # fmt: skip
    fields.update(changes)
    return Print(**fields)  # type: ignore[arg-type]


def test_print_round_trips_through_json() -> None:
    record = sofr_print()
    assert Print.from_json(record.to_json()) == record
    assert json.loads(record.to_json())["schema_version"] == 1


def test_signal_and_alert_round_trip() -> None:
    signal = Signal("sofr_iorb_spread_bp", dt.date(2019, 9, 17), 315.0, "bp", {"SOFR": "2019-09-17"},
                    published_at("SOFR", dt.date(2019, 9, 17)), replay=True)  # fmt: skip
    assert Signal.from_json(signal.to_json()) == signal
    alert = Alert(
        Alert.make_fingerprint("sofr_iorb_spread_bp", "persistence_threshold", dt.date(2019, 9, 3)),
        "firing", "warning", "sofr_iorb_spread_bp", "persistence_threshold", 315.0, 1.0,
        {"episode_start": "2019-09-03"}, dt.date(2019, 9, 17), signal.published_at, True,
    )  # fmt: skip
    assert Alert.from_json(alert.to_json()) == alert


def test_fingerprint_is_stable_per_episode() -> None:
    one = Alert.make_fingerprint("s", "d", dt.date(2019, 9, 3))
    assert one == Alert.make_fingerprint("s", "d", dt.date(2019, 9, 3))
    assert one != Alert.make_fingerprint("s", "d", dt.date(2025, 10, 21))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x00\xffnot json", "not_json"),
        (b"[1, 2]", "not_json"),
        (b'{"schema_version": 2}', "schema_version"),
        (sofr_print().to_json().replace(b'"series_id":"SOFR"', b'"series_id":"NOPE"'), "unknown_series"),
        (sofr_print().to_json().replace(b'"value":5.25', b'"value":NaN'), "not_finite"),
        (sofr_print().to_json().replace(b'"value":5.25', b'"value":"5.25"'), "bad_field"),
        (sofr_print().to_json().replace(b'"value":5.25', b'"value":500.0'), "out_of_range"),
        (sofr_print().to_json().replace(b'"unit":"percent"', b'"unit":"bp"'), "unit_mismatch"),
        (sofr_print().to_json().replace(b',"unit":"percent"', b""), "missing_field"),
        (sofr_print().to_json().replace(b"2019-09-17", b"2019-13-45"), "bad_field"),
        (sofr_print().to_json().replace(b"+00:00", b""), "bad_field"),
    ],
)
def test_invalid_print_raises_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(RecordError) as excinfo:
        Print.from_json(payload)
    assert excinfo.value.reason == reason


def test_negative_reserve_balance_is_impossible() -> None:
    day = dt.date(2025, 10, 29)
    record = Print("WRESBAL", day, -1.0, "usd", "fed_h41", published_at("WRESBAL", day))
    with pytest.raises(RecordError, match="out_of_range"):
        record.validate()
