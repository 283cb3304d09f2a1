"""Record schemas: JSON round trips and validation with reasons (the dead-letter labels)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from connectors.history import read_history
from foundation.catalogue import SERIES, published_at
from foundation.records import (
    DEAD_LETTER_PAYLOAD_CHARS,
    MAX_RECORD_BYTES,
    REASONS,
    Alert,
    DeadLetter,
    Print,
    RecordError,
    Signal,
    check_size,
)


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


# -- size limit, future dates, signals' units (issue 16: faults and safe defaults) ------------------------


def test_a_print_dated_after_tomorrow_is_refused_with_its_own_reason() -> None:
    today = dt.date(2019, 9, 17)
    tomorrow = sofr_print(observation_date=today + dt.timedelta(days=1))
    assert tomorrow.validate(today=today) is tomorrow  # tomorrow in UTC is today in Asia: a day of slack
    with pytest.raises(RecordError) as excinfo:
        sofr_print(observation_date=today + dt.timedelta(days=2)).validate(today=today)
    assert excinfo.value.reason == "future_date"
    later = sofr_print().to_json().replace(b"2019-09-17", str(dt.date.today().year + 1).encode() + b"-01-02")
    with pytest.raises(RecordError, match="future_date"):
        Print.from_json(later)  # from_json checks against the clock


def test_history_is_in_the_past_so_replays_and_backtests_are_unaffected(data_dir: Path) -> None:
    # read_history validates every print (the replay and the in-process backtest both read through it).
    present = [series_id for series_id in SERIES if (data_dir / f"{series_id}.csv").is_file()]
    assert len(present) >= 10
    assert sum(len(read_history(data_dir, series_id)) for series_id in present) > 10_000


def test_size_is_checked_before_parsing() -> None:
    check_size(b"x" * MAX_RECORD_BYTES)
    with pytest.raises(RecordError) as excinfo:
        check_size(b"{" * (MAX_RECORD_BYTES + 1))  # not even JSON: the size is what it is refused for
    assert excinfo.value.reason == "too_large"
    with pytest.raises(RecordError, match="too_large"):
        check_size("é" * 600, max_bytes=1024)  # bytes, not characters


def test_a_dead_letter_keeps_the_head_of_a_large_payload_and_says_so() -> None:
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    error = RecordError("too_large", "big")
    big = DeadLetter.of("prints", b"\xff" + b"x" * 100_000, error, now)
    assert (len(big.payload), big.payload_bytes, big.truncated) == (DEAD_LETTER_PAYLOAD_CHARS, 100_001, True)
    assert len(big.to_json()) < 2 * DEAD_LETTER_PAYLOAD_CHARS
    small = DeadLetter.of("prints", b"not json", RecordError("not_json", "no"), now)
    assert (small.payload, small.payload_bytes, small.truncated) == ("not json", 8, False)


def test_signals_are_checked_against_the_catalogue_unit_and_the_clock() -> None:
    signal = Signal("sofr_iorb_spread_bp", dt.date(2019, 9, 17), 315.0, "bp", {},
                    published_at("SOFR", dt.date(2019, 9, 17)))  # fmt: skip
    with pytest.raises(RecordError, match="unit_mismatch"):
        Signal.from_json(signal.to_json().replace(b'"unit":"bp"', b'"unit":"percent"'))
    with pytest.raises(RecordError, match="future_date"):
        Signal.from_json(signal.to_json().replace(b"2019-09-17", b"2999-09-17"))
    with pytest.raises(RecordError, match="not_finite"):
        Signal.from_json(signal.to_json().replace(b'"value":315.0', b'"value":Infinity'))


def test_the_reasons_are_a_fixed_set_with_the_new_ones() -> None:
    assert {"too_large", "future_date"} <= set(REASONS)
    assert len(REASONS) == len(set(REASONS)) < 20


def test_an_error_quoting_a_huge_input_stays_one_short_line() -> None:
    payload = sofr_print().to_json().replace(b'"series_id":"SOFR"', b'"series_id":"' + b"X" * 50_000 + b'"')
    with pytest.raises(RecordError) as excinfo:
        Print.from_json(payload)
    assert excinfo.value.reason == "unknown_series"
    assert len(str(excinfo.value)) <= RecordError.MAX_MESSAGE_CHARS + 20 and "\n" not in str(excinfo.value)
