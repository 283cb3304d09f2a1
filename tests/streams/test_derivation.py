"""Signal derivation: the rate in force, as-of joins, waits, repeats, revisions and memory bounds."""

from __future__ import annotations

import datetime as dt

from foundation.catalogue import published_at
from foundation.records import Print, Signal
from streams.engine import RETAIN_DAYS, FundingEngine


def make(series_id: str, day: str, value: float, vintage: int = 1) -> Print:
    date = dt.date.fromisoformat(day)
    unit = "usd" if series_id in ("WRESBAL", "USGSEC") else "percent"
    return Print(series_id, date, value, unit, "test", published_at(series_id, date), vintage)


class SofrPolicySpread:
    """The engine, reduced to the SOFR - IORB spread (no detectors), for these tests."""

    def __init__(self) -> None:
        self.engine = FundingEngine({})

    def on_print(self, record: Print) -> list[Signal]:
        return [s for s in self.engine.handle_print(record).signals if s.signal_id == "sofr_iorb_spread_bp"]


def test_ioer_is_used_before_2021_07_29_and_iorb_from_then() -> None:
    spread = SofrPolicySpread()
    spread.on_print(make("IOER", "2021-07-28", 0.15))
    spread.on_print(make("IORB", "2021-07-29", 0.15))
    spread.on_print(make("IOER", "2021-07-29", 9.99))  # IOER after the switch is not the rate in force
    before = spread.on_print(make("SOFR", "2021-07-28", 0.05))
    after = spread.on_print(make("SOFR", "2021-07-29", 0.05))
    assert [(s.value, s.inputs) for s in before] == [
        (-10.0, {"SOFR": "2021-07-28", "RESERVES_RATE": "2021-07-28"})
    ]
    assert [(s.value, s.inputs) for s in after] == [
        (-10.0, {"SOFR": "2021-07-29", "RESERVES_RATE": "2021-07-29"})
    ]


def test_sofr_before_its_policy_rate_waits_then_emits() -> None:
    spread = SofrPolicySpread()
    assert spread.on_print(make("SOFR", "2025-10-31", 4.22)) == []
    signals = spread.on_print(make("IORB", "2025-10-31", 3.90))
    assert [(s.observation_date, s.value) for s in signals] == [(dt.date(2025, 10, 31), 32.0)]


def test_policy_rate_change_corrects_a_spread_computed_with_the_previous_setting() -> None:
    spread = SofrPolicySpread()
    spread.on_print(make("IOER", "2019-09-18", 2.10))
    first = spread.on_print(make("SOFR", "2019-09-19", 1.95))  # 2019-09-19 setting not seen yet
    corrected = spread.on_print(make("IOER", "2019-09-19", 1.80))
    assert [s.value for s in first] == [-15.0]
    assert [s.value for s in corrected] == [15.0]


def test_exact_repeat_is_a_noop_and_revision_emits_a_corrected_signal() -> None:
    spread = SofrPolicySpread()
    spread.on_print(make("IOER", "2019-09-17", 2.10))
    assert len(spread.on_print(make("SOFR", "2019-09-17", 5.25))) == 1
    assert spread.on_print(make("SOFR", "2019-09-17", 5.25)) == []
    assert spread.on_print(make("IOER", "2019-09-17", 2.10)) == []
    revised = spread.on_print(make("SOFR", "2019-09-17", 5.30, vintage=2))
    assert [s.value for s in revised] == [320.0]
    # An older vintage arriving late never overrides the revision.
    assert spread.on_print(make("SOFR", "2019-09-17", 5.25, vintage=1)) == []


def test_state_is_bounded_over_years_of_prints() -> None:
    spread = SofrPolicySpread()
    day = dt.date(2018, 4, 2)
    for _ in range(2000):
        spread.on_print(make("IOER", day.isoformat(), 1.75))
        spread.on_print(make("SOFR", day.isoformat(), 1.80))
        day += dt.timedelta(days=1)
    # Pruned in steps: never more than a tenth over the bound.
    bound = RETAIN_DAYS + RETAIN_DAYS // 10 + 1
    assert max(len(table) for table in spread.engine.observations.values()) <= bound
    assert max(len(table) for table in spread.engine.emitted.values()) <= bound


def test_weekly_change_joins_the_same_series_a_week_earlier_and_waits_for_it() -> None:
    engine = FundingEngine({})
    first = engine.handle_print(make("WRESBAL", "2025-10-29", 2_848_021e6)).signals
    assert [s.signal_id for s in first] == ["reserves_usd_bn"]
    # The week before arrives late: the change for 2025-10-29 is completed then, placed by date.
    late = engine.handle_print(make("WRESBAL", "2025-10-22", 2_900_000e6)).signals
    by_id = {(s.signal_id, s.observation_date.isoformat()): s.value for s in late}
    assert by_id[("reserves_weekly_change_usd_bn", "2025-10-29")] == -51.979
    assert ("reserves_usd_bn", "2025-10-22") in by_id


def test_ratio_of_two_weekly_series_uses_only_inputs_known_so_far() -> None:
    engine = FundingEngine({})
    assert not [s for s in engine.handle_print(make("USGSEC", "2025-10-22", 4_685_313e6)).signals
                if s.signal_id == "bank_treasuries_to_reserves_ratio"]  # fmt: skip
    signals = engine.handle_print(make("WRESBAL", "2025-10-22", 2_900_000e6)).signals
    ratio = [s for s in signals if s.signal_id == "bank_treasuries_to_reserves_ratio"]
    assert [round(s.value, 4) for s in ratio] == [1.6156]
    assert ratio[0].inputs == {"USGSEC": "2025-10-22", "WRESBAL": "2025-10-22"}


def test_reserves_to_bank_assets_uses_the_h8_week_and_the_h41_reserves() -> None:
    engine = FundingEngine({})
    engine.handle_print(make("WRESBAL", "2025-10-22", 2_900_000e6))
    day = dt.date(2025, 10, 22)
    assets = Print("TLAACBW027SBOG", day, 24_500e9, "usd", "test", published_at("TLAACBW027SBOG", day))
    ratio = [s for s in engine.handle_print(assets).signals if s.signal_id == "reserves_to_bank_assets_ratio"]
    assert [round(s.value, 4) for s in ratio] == [0.1184]  # below the ~12-13% satiation estimate
