"""FRED CSV / API / ALFRED and Treasury DTS connectors, the Fed DDP parser: payloads in documented shapes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from connectors.archive import Archive
from connectors.fed_ddp import parse_ddp_csv
from connectors.fred import FredApi, FredCsv
from connectors.httpclient import HttpPolicy, PayloadError
from connectors.treasury import TreasuryDts

CSV_PATH = "/graph/fredgraph.csv"
API_PATH = "/fred/series/observations"
DTS_PATH = "/services/api/fiscal_service/v1/accounting/dts/operating_cash_balance"


def _values(result: Any) -> dict[tuple[str, str], float]:
    return {(p.series_id, p.observation_date.isoformat()): p.value for p in result.prints}


def _csv(upstream: Any, policy: HttpPolicy, text: str, series: str, start: str, end: str, **kw: Any) -> Any:
    upstream.on(CSV_PATH, httpx.Response(200, text=text))
    connector = FredCsv(upstream.client(), policy=policy, **kw)
    return connector.fetch(series, dt.date.fromisoformat(start), dt.date.fromisoformat(end))


# FRED CSV ----------------------------------------------------------------------------------------


def test_fred_csv_current_header_with_empty_missing_cell(
    upstream: Any, fast_policy: HttpPolicy, sample: Callable[[str], str]
) -> None:
    # SOFR is routed to the NY Fed live, but the parser must read any FRED download of it.
    text = sample("fred_graph_observation_date.csv")
    result = FredCsv(upstream.client(), policy=fast_policy).parse("SOFR", text)
    assert _values(result)[("SOFR", "2025-12-24")] == 3.66
    assert ("SOFR", "2025-12-25") not in _values(result)  # holiday: empty cell, skipped, not an error
    assert len(result.prints) == 5 and not result.dead_letters


def test_fred_csv_legacy_header_and_dot_missing_marker(
    upstream: Any, fast_policy: HttpPolicy, sample: Callable[[str], str]
) -> None:
    text = sample("fred_graph_DATE_legacy_DFEDTARU.csv") + "2017-07-22,.\n"
    result = _csv(upstream, fast_policy, text, "DFEDTARU", "2017-07-19", "2017-07-22")
    assert _values(result) == {(("DFEDTARU", f"2017-07-{d}")): 1.25 for d in (19, 20, 21)}
    assert upstream.requests[0].url.params["id"] == "DFEDTARU"
    assert upstream.requests[0].url.params["cosd"] == "2017-07-19"


def test_fred_csv_unit_change_billions_and_millions_normalise_to_the_same_usd(
    upstream: Any, fast_policy: HttpPolicy, sample: Callable[[str], str]
) -> None:
    legacy = FredCsv(upstream.client(), policy=fast_policy).parse(
        "WRESBAL", sample("fred_graph_DATE_legacy_WRESBAL_billions.csv")
    )
    assert _values(legacy)[("WRESBAL", "2009-01-07")] == 877_820_000_000.0
    current = FredCsv(upstream.client(), policy=fast_policy).parse(
        "WRESBAL", "DATE,WRESBAL\n2009-01-07,877820\n"
    )
    assert _values(current) == {("WRESBAL", "2009-01-07"): 877_820_000_000.0}


def test_fred_csv_explicit_unit_overrides_magnitude_detection(upstream: Any, fast_policy: HttpPolicy) -> None:
    # A 1990s window of reserves in millions (~$25 bn) and the explicit unit agree.
    text = "observation_date,WRESBAL\n1995-01-04,25000\n"
    inferred = FredCsv(upstream.client(), policy=fast_policy).parse("WRESBAL", text)
    explicit = FredCsv(upstream.client(), policy=fast_policy, units={"WRESBAL": "millions"}).parse(
        "WRESBAL", text, "millions"
    )
    assert _values(inferred) == _values(explicit) == {("WRESBAL", "1995-01-04"): 25e9}


def test_fred_csv_unit_that_fits_no_plausible_level_is_refused(
    upstream: Any, fast_policy: HttpPolicy
) -> None:
    with pytest.raises(PayloadError) as caught:
        FredCsv(upstream.client(), policy=fast_policy).parse("WALCL", "DATE,WALCL\n2025-10-29,6.5\n")
    assert caught.value.reason == "unit_mismatch"
    with pytest.raises(PayloadError, match="unit_mismatch"):
        FredCsv(upstream.client(), policy=fast_policy).parse(
            "SOFR", "DATE,SOFR\n2025-10-29,4.2\n", "millions"
        )


def test_fred_csv_renamed_column_is_refused(upstream: Any, fast_policy: HttpPolicy) -> None:
    with pytest.raises(PayloadError, match="column is 'VALUE'"):
        FredCsv(upstream.client(), policy=fast_policy).parse("IORB", "DATE,VALUE\n2025-10-29,4.0\n")
    with pytest.raises(PayloadError, match="header"):
        FredCsv(upstream.client(), policy=fast_policy).parse("IORB", "day,IORB\n2025-10-29,4.0\n")


def test_fred_csv_negative_reserves_and_garbage_rows_are_dead_lettered(
    upstream: Any, fast_policy: HttpPolicy
) -> None:
    text = "DATE,WRESBAL\n2025-10-22,2933037\n2025-10-29,-2848021\n2025-11-05,NaNx\n"
    result = FredCsv(upstream.client(), policy=fast_policy).parse("WRESBAL", text)
    assert _values(result) == {("WRESBAL", "2025-10-22"): 2933037e6}
    assert sorted(d.reason for d in result.dead_letters) == ["bad_field", "out_of_range"]


# FRED API and ALFRED ----------------------------------------------------------------------------


def test_fred_api_values_are_strings_and_dot_is_missing(
    upstream: Any, fast_policy: HttpPolicy, sample: Callable[[str], str]
) -> None:
    upstream.on(API_PATH, httpx.Response(200, text=sample("fred_api_series_observations.json")))
    api = FredApi(upstream.client(), "k3y-abcdef", policy=fast_policy)
    result = api.fetch(
        "IORB", dt.date(2025, 12, 23), dt.date(2025, 12, 29)
    )  # any percent series parses alike
    assert _values(result) == {
        ("IORB", "2025-12-23"): 3.66, ("IORB", "2025-12-24"): 3.66,
        ("IORB", "2025-12-26"): 3.76, ("IORB", "2025-12-29"): 3.77,
    }  # fmt: skip
    params = upstream.requests[0].url.params
    assert (
        params["series_id"] == "IORB" and params["file_type"] == "json" and params["api_key"] == "k3y-abcdef"
    )


def test_fred_api_transformed_units_are_refused(
    upstream: Any, fast_policy: HttpPolicy, sample_json: Callable[[str], Any]
) -> None:
    body = sample_json("fred_api_series_observations.json")
    body["units"] = "chg"
    upstream.on(API_PATH, httpx.Response(200, json=body))
    with pytest.raises(PayloadError) as caught:
        FredApi(upstream.client(), "key", policy=fast_policy).fetch(
            "IORB", dt.date(2025, 12, 23), dt.date(2025, 12, 29)
        )
    assert caught.value.reason == "unit_mismatch"


def test_fred_api_follows_offset_pagination(upstream: Any, fast_policy: HttpPolicy) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        days = ["2025-10-22", "2025-10-29", "2025-11-05"][offset : offset + 2]
        observations = [{"realtime_start": "2026-08-01", "realtime_end": "2026-08-01", "date": d,
                         "value": "2848021"} for d in days]  # fmt: skip
        return httpx.Response(200, json={"units": "lin", "count": 3, "offset": offset, "limit": 2,
                                         "observations": observations})  # fmt: skip

    upstream.on(API_PATH, page)
    api = FredApi(upstream.client(), "key", policy=fast_policy)
    api.page_limit = 2  # type: ignore[misc]
    result = api.fetch("WRESBAL", dt.date(2025, 10, 1), dt.date(2025, 11, 30))
    assert len(result.prints) == 3 and len(upstream.requests) == 2


def test_alfred_vintages_become_archive_vintages_in_release_order(
    upstream: Any, fast_policy: HttpPolicy
) -> None:
    # WALCL for 2023-07-19 first released at 8,3 tn, then revised a week later.
    def obs(start: str, end: str, day: str, value: str) -> dict[str, str]:
        return {"realtime_start": start, "realtime_end": end, "date": day, "value": value}

    body = {"units": "lin", "count": 3, "observations": [
        obs("2023-07-27", "2023-07-27", "2023-07-19", "8254000"),
        obs("2023-07-20", "2023-07-26", "2023-07-19", "8253000"),
        obs("2023-07-20", "9999-12-31", "2023-07-12", "."),
    ]}  # fmt: skip
    upstream.on(API_PATH, httpx.Response(200, json=body))
    result = FredApi(upstream.client(), "key", policy=fast_policy).fetch_vintages(
        "WALCL", dt.date(2023, 7, 1), dt.date(2023, 7, 31)
    )
    assert upstream.requests[0].url.params["realtime_start"] == "1776-07-04"
    archive = Archive(":memory:")
    outcomes = [archive.store(p).outcome for p in result.prints]
    assert outcomes == ["new", "revision"]
    first, second = archive.vintages("WALCL", dt.date(2023, 7, 19))
    assert (first.vintage, first.value, second.vintage, second.value) == (1, 8253e9, 2, 8254e9)
    assert first.published_at == dt.datetime(2023, 7, 20, 20, 30, tzinfo=dt.UTC)  # H.4.1 Thursday 16:30 EDT
    assert second.published_at == dt.datetime(2023, 7, 27, 20, 30, tzinfo=dt.UTC)


def test_fred_api_requires_a_key(upstream: Any) -> None:
    with pytest.raises(ValueError, match="PLUMBLINE_FRED_API_KEY"):
        FredApi(upstream.client(), "")


# Treasury DTS ------------------------------------------------------------------------------------


def test_dts_closing_balance_across_account_name_changes(
    upstream: Any, fast_policy: HttpPolicy, sample_json: Callable[[str], Any]
) -> None:
    body = sample_json("fiscaldata_v1_accounting_dts_operating_cash_balance.json")
    # the middle schema (2021-10-01 .. 2022-04-15): one "Treasury General Account (TGA)" row, both columns
    body["data"].append({"record_date": "2021-10-01", "account_type": "Treasury General Account (TGA)",
                         "close_today_bal": "240000", "open_today_bal": "215160", "open_month_bal": "215160",
                         "open_fiscal_year_bal": "215160", "table_nbr": "I",
                         "table_nm": "Operating Cash Balance", "sub_table_name": "Type of account",
                         "src_line_nbr": "1"})  # fmt: skip
    upstream.on(DTS_PATH, httpx.Response(200, json=body))
    result = TreasuryDts(upstream.client(), policy=fast_policy).fetch(
        "TGA", dt.date(2021, 9, 30), dt.date(2025, 10, 31)
    )
    assert _values(result) == {
        # "Federal Reserve Account", then "Treasury General Account (TGA)"
        ("TGA_DTS_OPEN", "2021-09-30"): 173745e6, ("TGA_DTS_CLOSE", "2021-09-30"): 215160e6,
        ("TGA_DTS_OPEN", "2021-10-01"): 215160e6, ("TGA_DTS_CLOSE", "2021-10-01"): 240000e6,
        ("TGA_DTS_OPEN", "2025-10-31"): 1000632e6,  # "... Opening Balance" row
        ("TGA_DTS_CLOSE", "2025-10-31"): 926328e6,  # "... Closing Balance" row, number in open_today_bal
    }  # fmt: skip
    assert not result.dead_letters and not result.notes
    params = upstream.requests[0].url.params
    assert params["filter"] == "record_date:gte:2021-09-30,record_date:lte:2025-10-31"
    assert params["page[number]"] == "1"


def test_dts_follows_pages_and_skips_null_balances(upstream: Any, fast_policy: HttpPolicy) -> None:
    def row(day: str, account: str, close: str, open_: str) -> dict[str, str]:
        return {
            "record_date": day,
            "account_type": account,
            "close_today_bal": close,
            "open_today_bal": open_,
        }

    closing = "Treasury General Account (TGA) Closing Balance"

    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page[number]"])
        rows = {
            1: [row("2025-10-30", closing, "null", "1000632")],
            2: [row("2025-10-31", closing, "null", "926328"), row("2025-11-03", closing, "null", "null")],
        }[number]
        return httpx.Response(200, json={"data": rows, "meta": {"total-pages": 2}, "links": {}})  # fmt: skip

    upstream.on(DTS_PATH, page)
    result = TreasuryDts(upstream.client(), policy=fast_policy).fetch(
        "TGA", dt.date(2025, 10, 30), dt.date(2025, 11, 3)
    )
    assert _values(result) == {
        ("TGA_DTS_CLOSE", "2025-10-30"): 1000632e6,
        ("TGA_DTS_CLOSE", "2025-10-31"): 926328e6,
    }
    assert [r.url.params["page[number]"] for r in upstream.requests] == ["1", "2"]


def test_dts_renamed_envelope_and_negative_balance(upstream: Any, fast_policy: HttpPolicy) -> None:
    upstream.on(DTS_PATH, httpx.Response(200, json={"rows": [], "meta": {}}))
    with pytest.raises(PayloadError, match="no 'data' list"):
        TreasuryDts(upstream.client(), policy=fast_policy).fetch(
            "TGA", dt.date(2025, 10, 31), dt.date(2025, 10, 31)
        )
    rows = [{"record_date": "2025-10-31", "account_type": "Treasury General Account (TGA) Closing Balance",
             "close_today_bal": "null", "open_today_bal": "-5"}]  # fmt: skip
    result = TreasuryDts.parse_rows(rows, TreasuryDts(upstream.client())._new_result())
    assert not result.prints and [d.reason for d in result.dead_letters] == ["out_of_range"]


# Fed DDP -----------------------------------------------------------------------------------------


def test_ddp_h15_package_reads_the_unit_rows_and_skips_nd(sample: Callable[[str], str]) -> None:
    result = parse_ddp_csv(sample("fed_ddp_h15_package.csv"))
    values = _values(result)
    assert values[("EFFR", "2019-09-17")] == 2.30
    assert ("EFFR", "2019-10-14") not in values and len(values) == 5


def test_ddp_h41_package_millions_become_usd(sample: Callable[[str], str]) -> None:
    assert _values(parse_ddp_csv(sample("fed_ddp_h41_package.csv"))) == {
        ("WRESBAL", "2025-10-22"): 2933037e6, ("WRESBAL", "2025-10-29"): 2848021e6,
    }  # fmt: skip


def test_ddp_unknown_unit_is_refused(sample: Callable[[str], str]) -> None:
    text = sample("fed_ddp_h41_package.csv").replace("Millions of Dollars", "Thousands of Barrels")
    with pytest.raises(PayloadError) as caught:
        parse_ddp_csv(text)
    assert caught.value.reason == "unit_mismatch"
    assert json.dumps(caught.value.detail)  # the detail is plain text for the dead letter


def test_dts_csv_export_maps_onto_the_same_balances(upstream: Any, sample: Callable[[str], str]) -> None:
    result = TreasuryDts.parse_export_csv(
        sample("fiscaldata_dts_operating_cash_balance_export.csv"),
        TreasuryDts(upstream.client())._new_result(),
    )
    assert _values(result) == {
        ("TGA_DTS_OPEN", "2025-10-31"): 1000632e6, ("TGA_DTS_CLOSE", "2025-10-31"): 926328e6,
        ("TGA_DTS_OPEN", "2021-10-01"): 215160e6, ("TGA_DTS_OPEN", "2021-09-30"): 173745e6,
    }  # fmt: skip
