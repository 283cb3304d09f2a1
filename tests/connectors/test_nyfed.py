"""NY Fed Markets API: reference rates and operation results, from payloads in the documented shapes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from connectors.httpclient import HttpPolicy, PayloadError
from connectors.nyfed import NewYorkFedOperations, NewYorkFedRates, parse_all_rates_csv

SOFR_PATH = "/api/rates/secured/sofr/search.json"
EFFR_PATH = "/api/rates/unsecured/effr/search.json"
OPS_PATH = "/api/rp/results/search.json"
D17 = dt.date(2019, 9, 17)


def _values(result: Any) -> dict[tuple[str, str], float]:
    return {(p.series_id, p.observation_date.isoformat()): p.value for p in result.prints}


def _rates(upstream: Any, policy: HttpPolicy) -> NewYorkFedRates:
    return NewYorkFedRates(upstream.client(), policy=policy)


def test_sofr_search_yields_rate_percentiles_and_volume_in_canonical_units(
    upstream: Any, fast_policy: HttpPolicy, sample: Callable[[str], str]
) -> None:
    upstream.on(SOFR_PATH, httpx.Response(200, text=sample("nyfed_api_rates_secured_sofr_search.json")))
    result = _rates(upstream, fast_policy).fetch("SOFR", dt.date(2019, 9, 16), dt.date(2019, 9, 18))
    values = _values(result)
    assert len(result.prints) == 18 and not result.dead_letters
    assert values[("SOFR", "2019-09-17")] == 5.25
    assert values[("SOFR99", "2019-09-17")] == 9.0
    assert values[("SOFR1", "2019-09-17")] == 2.25
    assert values[("SOFRVOL", "2019-09-17")] == 1177e9  # volumeInBillions -> USD
    assert {p.unit for p in result.prints if p.series_id == "SOFRVOL"} == {"usd"}
    # newest first upstream, oldest first here; published T+1 08:00 New York
    assert result.prints[0].observation_date == dt.date(2019, 9, 16)
    sofr17 = next(p for p in result.prints if p.key == "SOFR@2019-09-17")
    assert sofr17.published_at == dt.datetime(2019, 9, 18, 12, 0, tzinfo=dt.UTC)
    request = upstream.requests[0]
    assert request.url.params["startDate"] == "2019-09-16" and request.url.params["endDate"] == "2019-09-18"


def test_effr_search_maps_its_percentiles_and_ignores_the_target_range(
    upstream: Any, fast_policy: HttpPolicy, sample: Callable[[str], str]
) -> None:
    upstream.on(EFFR_PATH, httpx.Response(200, text=sample("nyfed_api_rates_unsecured_effr_search.json")))
    result = _rates(upstream, fast_policy).fetch("EFFR", D17, D17)
    assert _values(result) == {
        ("EFFR", "2019-09-17"): 2.30,
        ("EFFR1", "2019-09-17"): 2.05,
        ("EFFR99", "2019-09-17"): 4.00,
        ("EFFRVOL", "2019-09-17"): 61e9,
    }
    assert not result.notes  # targetRateFrom/To are known fields


def test_numbers_sent_as_strings_and_missing_percentiles_are_handled(
    upstream: Any, fast_policy: HttpPolicy
) -> None:
    body = {
        "refRates": [
            {
                "effectiveDate": "2019-05-31",
                "type": "SOFR",
                "percentRate": "2.53",
                "volumeInBillions": "1065",
                "percentPercentile99": "",
                "revisionIndicator": "",
            }
        ]
    }
    upstream.on(SOFR_PATH, httpx.Response(200, json=body))
    result = _rates(upstream, fast_policy).fetch("SOFR", dt.date(2019, 5, 31), dt.date(2019, 5, 31))
    assert _values(result) == {("SOFR", "2019-05-31"): 2.53, ("SOFRVOL", "2019-05-31"): 1065e9}
    assert not result.dead_letters


def test_truncated_json_is_refused_whole_with_not_json(
    upstream: Any, fast_policy: HttpPolicy, sample: Callable[[str], str]
) -> None:
    text = sample("nyfed_api_rates_secured_sofr_search.json")
    upstream.on(SOFR_PATH, httpx.Response(200, text=text[: len(text) // 2]))
    with pytest.raises(PayloadError) as caught:
        _rates(upstream, fast_policy).fetch("SOFR", dt.date(2019, 9, 16), dt.date(2019, 9, 18))
    assert caught.value.reason == "not_json"
    assert "nothing from it was archived" in str(caught.value)


def test_renamed_field_dead_letters_the_record_and_names_the_suspect(
    upstream: Any, fast_policy: HttpPolicy, sample_json: Callable[[str], Any]
) -> None:
    body = sample_json("nyfed_api_rates_secured_sofr_search.json")
    body["refRates"][1]["rate"] = body["refRates"][1].pop("percentRate")  # 2019-09-17 renamed upstream
    upstream.on(SOFR_PATH, httpx.Response(200, json=body))
    result = _rates(upstream, fast_policy).fetch("SOFR", dt.date(2019, 9, 16), dt.date(2019, 9, 18))
    assert [d.reason for d in result.dead_letters] == ["missing_field"]
    assert (
        "'percentRate' is missing" in result.dead_letters[0].error and "rate" in result.dead_letters[0].error
    )
    assert '"rate": 5.25' in result.dead_letters[0].payload
    assert {p.observation_date for p in result.prints} == {dt.date(2019, 9, 16), dt.date(2019, 9, 18)}
    assert any("unknown field(s) rate" in note for note in result.notes)


def test_unknown_extra_field_is_noted_and_the_print_kept(upstream: Any, fast_policy: HttpPolicy) -> None:
    body = {"refRates": [{"effectiveDate": "2019-09-17", "type": "SOFR", "percentRate": 5.25, "newThing": 1}]}
    upstream.on(SOFR_PATH, httpx.Response(200, json=body))
    result = _rates(upstream, fast_policy).fetch("SOFR", D17, D17)
    assert _values(result) == {("SOFR", "2019-09-17"): 5.25}
    assert result.notes == [
        "nyfed: unknown field(s) newThing ignored (renamed upstream? see docs/connectors.md)"
    ]


def test_impossible_values_are_dead_lettered_and_the_rest_kept(
    upstream: Any, fast_policy: HttpPolicy
) -> None:
    body = {"refRates": [
        {"effectiveDate": "2019-09-17", "type": "SOFR", "percentRate": 525.0, "volumeInBillions": 1177},
        {"effectiveDate": "2019-09-18", "type": "SOFR", "percentRate": 2.55, "volumeInBillions": 1.196e12},
        {"effectiveDate": "2019-09-19", "type": "SOFR", "percentRate": ".", "percentPercentile1": "abc"},
        {"effectiveDate": "2019-09-20", "type": "EFFR", "percentRate": 1.9},
        {"effectiveDate": "2019-09-2x", "type": "SOFR", "percentRate": 1.9},
    ]}  # fmt: skip
    upstream.on(SOFR_PATH, httpx.Response(200, json=body))
    result = _rates(upstream, fast_policy).fetch("SOFR", D17, dt.date(2019, 9, 20))
    # a 525% rate and a volume of 1.196e12 billions (USD sent in the billions field) are impossible
    assert _values(result) == {("SOFRVOL", "2019-09-17"): 1177e9, ("SOFR", "2019-09-18"): 2.55}
    reasons = sorted(d.reason for d in result.dead_letters)
    assert reasons == ["bad_field", "bad_field", "bad_field", "out_of_range", "out_of_range"]
    assert any("type 'EFFR'" in d.error for d in result.dead_letters)


def test_envelope_without_refrates_is_a_payload_error(upstream: Any, fast_policy: HttpPolicy) -> None:
    upstream.on(SOFR_PATH, httpx.Response(200, json={"rates": []}))
    with pytest.raises(PayloadError, match="no 'refRates' list"):
        _rates(upstream, fast_policy).fetch("SOFR", D17, D17)


def _operation(
    day: str, kind: str, term: str, accepted_usd: float, award: float | None = None, **extra: Any
) -> Any:
    details = [] if award is None else [{"securityType": "Treasury", "amtSubmitted": accepted_usd,
                                         "amtAccepted": accepted_usd, "percentOfferingRate": award,
                                         "percentAwardRate": award}]  # fmt: skip
    return {
        "operationId": f"X {day}",
        "auctionStatus": "Results",
        "operationDate": day,
        "settlementDate": day,
        "maturityDate": day,
        "operationType": kind,
        "operationMethod": "Full Allotment",
        "settlementType": "Same Day",
        "termCalenderDays": 1,
        "term": term,
        "releaseTime": "13:30",
        "closeTime": "13:45",
        "note": "",
        "totalAmtSubmitted": accepted_usd,
        "totalAmtAccepted": accepted_usd,
        "details": details,
        **extra,
    }


def test_reverse_repo_sample_gives_rrpontsyd_in_usd_and_the_award_rate(
    upstream: Any, fast_policy: HttpPolicy, sample: Callable[[str], str]
) -> None:
    upstream.on(
        OPS_PATH, httpx.Response(200, text=sample("nyfed_api_rp_reverserepo_propositions_search.json"))
    )
    ops = NewYorkFedOperations(upstream.client(), policy=fast_policy)
    result = ops.fetch("reverserepo", dt.date(2022, 12, 30), dt.date(2022, 12, 30))
    assert _values(result) == {("RRPONTSYD", "2022-12-30"): 2553.716e9, ("RRPONTSYAWARD", "2022-12-30"): 4.30}
    assert upstream.requests[0].url.params["operationTypes"] == "reverserepo"
    rrp = next(p for p in result.prints if p.series_id == "RRPONTSYD")
    assert rrp.published_at == dt.datetime(2022, 12, 30, 18, 30, tzinfo=dt.UTC)  # same day 13:30 New York


def test_reverse_repo_sums_overnight_operations_only(upstream: Any, fast_policy: HttpPolicy) -> None:
    body = {"repo": {"operations": [
        _operation("2025-10-31", "Reverse Repo", "Overnight", 40.0e9, award=4.00),
        _operation("2025-10-31", "Reverse Repo", "Overnight", 11.5e9, award=4.00),
        _operation("2025-10-31", "Reverse Repo", "Term", 99e9, award=4.05),
        _operation("2025-10-31", "Repo", "Overnight", 30e9),
        {**_operation("2025-10-31", "Reverse Repo", "Overnight", 0.0), "auctionStatus": "Announcement"},
    ]}}  # fmt: skip
    upstream.on(OPS_PATH, httpx.Response(200, json=body))
    result = NewYorkFedOperations(upstream.client(), policy=fast_policy).fetch(
        "reverserepo", dt.date(2025, 10, 31), dt.date(2025, 10, 31)
    )
    assert _values(result)[("RRPONTSYD", "2025-10-31")] == 51.5e9


def test_repo_sums_both_daily_standing_repo_operations(upstream: Any, fast_policy: HttpPolicy) -> None:
    # PROVENANCE.md: RPONTTLD 2025-10-31 = 50.35 bn = 30.0 (morning SRF) + 20.35 (afternoon SRF)
    body = {"repo": {"operations": [
        _operation("2025-10-31", "Repo", "Overnight", 30.0e9),
        _operation("2025-10-31", "Repo", "Overnight", 20.35e9),
        _operation("2025-10-30", "Repo", "Overnight", 0.0),
    ]}}  # fmt: skip
    upstream.on(OPS_PATH, httpx.Response(200, text=json.dumps(body)))
    result = NewYorkFedOperations(upstream.client(), policy=fast_policy).fetch(
        "repo", dt.date(2025, 10, 30), dt.date(2025, 10, 31)
    )
    assert _values(result) == {("RPONTTLD", "2025-10-30"): 0.0, ("RPONTTLD", "2025-10-31"): 50.35e9}


def test_operation_without_accepted_amount_is_dead_lettered(upstream: Any, fast_policy: HttpPolicy) -> None:
    broken = _operation("2025-10-31", "Repo", "Overnight", 1e9)
    broken["acceptedAmount"] = broken.pop("totalAmtAccepted")
    upstream.on(OPS_PATH, httpx.Response(200, json={"repo": {"operations": [broken]}}))
    result = NewYorkFedOperations(upstream.client(), policy=fast_policy).fetch(
        "repo", dt.date(2025, 10, 31), dt.date(2025, 10, 31)
    )
    assert not result.prints
    assert [d.reason for d in result.dead_letters] == ["missing_field"]
    assert "totalAmtAccepted" in result.dead_letters[0].error


def test_all_rates_csv_download_gives_the_same_prints_as_the_json_api(sample: Callable[[str], str]) -> None:
    result = parse_all_rates_csv(sample("nyfed_rates_all_search.csv"))
    values = _values(result)
    assert values[("SOFR", "2026-08-03")] == 3.65 and values[("SOFRVOL", "2026-08-03")] == 3055e9
    assert values[("EFFR99", "2026-08-03")] == 3.68 and values[("OBFRVOL", "2026-07-03")] == 142e9
    # 2026-07-03: the Fed is open (EFFR, OBFR) but SIFMA closed the bond market: no SOFR, TGCR, BGCR
    assert {s for (s, d) in values if d == "2026-07-03"} == {
        "EFFR",
        "EFFR1",
        "EFFR99",
        "EFFRVOL",
        "OBFR",
        "OBFRVOL",
    }
    assert not result.dead_letters  # the trailing row of commas is not an error


def test_all_rates_csv_with_a_renamed_column_is_refused(sample: Callable[[str], str]) -> None:
    text = sample("nyfed_rates_all_search.csv").replace("Rate (%)", "Rate", 1)
    with pytest.raises(PayloadError, match=r"Rate \(%\)"):
        parse_all_rates_csv(text)
