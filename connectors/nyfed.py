"""New York Fed Markets API: reference rates and repo / reverse-repo operation results.

Reference rates (``/api/rates/{secured|unsecured}/{type}/search.json``) give one record per business
day with the rate, percentiles (percent) and volume (USD billions). One request yields a family of
catalogue series, e.g. ``SOFR`` gives SOFR, SOFR1, SOFR25, SOFR75, SOFR99 and SOFRVOL.

Operation results (``/api/rp/results/search.json``) give one record per operation, amounts in USD
(not billions). RRPONTSYD is the sum of ``totalAmtAccepted`` over the day's *overnight* reverse repo
operations; RPONTTLD is the sum over every repo operation of the day (the standing repo facility since
2021, including both daily SRF operations; term repos too before mid-2020), matching PROVENANCE.md.

>>> import httpx
>>> from connectors.httpclient import HttpPolicy
>>> body = {"refRates": [{"effectiveDate": "2019-09-17", "type": "SOFR", "percentRate": 5.25,
...     "percentPercentile99": 9.0, "volumeInBillions": 1177, "revisionIndicator": ""}]}
>>> client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=body)))
>>> rates = NewYorkFedRates(client, policy=HttpPolicy(min_interval_seconds=0.0))
>>> result = rates.fetch("SOFR", dt.date(2019, 9, 17), dt.date(2019, 9, 17))
>>> [(p.series_id, p.value, p.unit) for p in result.prints]
[('SOFR', 5.25, 'percent'), ('SOFR99', 9.0, 'percent'), ('SOFRVOL', 1177000000000.0, 'usd')]
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import io
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.base import Connector, FetchResult, make_print, parse_value, unknown_fields_note
from connectors.httpclient import PayloadError

__all__ = ["RATE_FIELDS", "NewYorkFedOperations", "NewYorkFedRates", "parse_all_rates_csv"]

# Request (rate type) -> {JSON field -> catalogue series}. The first entry is the headline rate.
RATE_FIELDS: dict[str, dict[str, str]] = {
    "SOFR": {
        "percentRate": "SOFR",
        "percentPercentile1": "SOFR1",
        "percentPercentile25": "SOFR25",
        "percentPercentile75": "SOFR75",
        "percentPercentile99": "SOFR99",
        "volumeInBillions": "SOFRVOL",
    },
    "TGCR": {"percentRate": "TGCR", "volumeInBillions": "TGCRVOL"},
    "BGCR": {"percentRate": "BGCR", "volumeInBillions": "BGCRVOL"},
    "EFFR": {
        "percentRate": "EFFR",
        "percentPercentile1": "EFFR1",
        "percentPercentile99": "EFFR99",
        "volumeInBillions": "EFFRVOL",
    },
    "OBFR": {"percentRate": "OBFR", "volumeInBillions": "OBFRVOL"},
}
_SECURED = frozenset({"SOFR", "TGCR", "BGCR"})
_KNOWN_RATE_FIELDS = frozenset(
    {
        "effectiveDate", "type", "percentRate", "percentPercentile1", "percentPercentile25",
        "percentPercentile75", "percentPercentile99", "volumeInBillions", "revisionIndicator",
        "targetRateFrom", "targetRateTo", "footnoteId", "average30day", "average90day", "average180day",
        "index", "intraDayLow", "intraDayHigh", "stdDeviation",
    }
)  # fmt: skip
_KNOWN_OPERATION_FIELDS = frozenset(
    {
        "operationId", "auctionStatus", "operationDate", "settlementDate", "maturityDate", "operationType",
        "operationMethod", "settlementType", "termCalenderDays", "term", "releaseTime", "closeTime", "note",
        "totalAmtSubmitted", "totalAmtAccepted", "participatingCpty", "acceptedCpty", "details",
        "propositions", "lastUpdated",
    }
)  # fmt: skip
# Operation request -> (operationType in the records, the series it yields).
_OPERATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reverserepo": ("Reverse Repo", ("RRPONTSYD", "RRPONTSYAWARD")),
    "repo": ("Repo", ("RPONTTLD",)),
}


def _multiplier(field: str) -> float:
    # Units come from the field name, never from the magnitude: *InBillions are USD billions.
    return 1e9 if field.endswith("InBillions") else 1.0


def _iso_date(raw: object) -> dt.date | None:
    if not isinstance(raw, str):
        return None
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        return None


def _parse_rate_record(request: str, fields: Mapping[str, str], record: object, result: FetchResult) -> None:
    """Validate one rate record and add its prints (or dead letters) to ``result``."""
    if not isinstance(record, dict):
        result.reject("nyfed", "bad_field", f"{request}: a refRates entry is not an object", record)
        return
    note = unknown_fields_note("nyfed", record, _KNOWN_RATE_FIELDS)
    if note:
        result.note(note)
    day = _iso_date(record.get("effectiveDate"))
    if day is None:
        reason = "missing_field" if "effectiveDate" not in record else "bad_field"
        result.reject("nyfed", reason, f"{request}: effectiveDate is {record.get('effectiveDate')!r}", record)
        return
    kind = record.get("type")
    if kind is None:
        result.reject("nyfed", "missing_field", f"{request} {day}: field 'type' is missing", record)
        return
    if str(kind).upper() != request:
        result.reject("nyfed", "bad_field", f"{request} {day}: record of type {kind!r}", record)
        return
    if "percentRate" not in record:
        extra = sorted(set(record) - _KNOWN_RATE_FIELDS)
        hint = f" (unknown fields {', '.join(extra)}: renamed upstream?)" if extra else ""
        result.reject(
            "nyfed", "missing_field", f"{request} {day}: field 'percentRate' is missing{hint}", record
        )
        return
    for field, series_id in fields.items():
        try:
            value = parse_value(record.get(field))
        except ValueError as exc:
            result.reject("nyfed", "bad_field", f"{series_id} {day}: {field} {exc}", record)
            continue
        if value is None:
            continue  # percentiles and volumes are not published on every day
        result.accept(
            make_print(series_id, day, value, source="nyfed", multiplier=_multiplier(field)), record
        )


# Columns of the "all rates" CSV download (``/api/rates/all/search.csv``) -> JSON field names.
_CSV_COLUMNS = {
    "Rate (%)": "percentRate",
    "1st Percentile (%)": "percentPercentile1",
    "25th Percentile (%)": "percentPercentile25",
    "75th Percentile (%)": "percentPercentile75",
    "99th Percentile (%)": "percentPercentile99",
    "Volume ($Billions)": "volumeInBillions",
}


def parse_all_rates_csv(text: str, result: FetchResult | None = None) -> FetchResult:
    """Prints from the NY Fed "all rates" CSV (``MM/DD/YYYY``, one row per date and rate, newest first).

    Rows are translated to the JSON record shape and go through the same checks as the JSON API.
    """
    result = result if result is not None else FetchResult()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [
        c for c in ("Effective Date", "Rate Type", *_CSV_COLUMNS) if c not in (reader.fieldnames or [])
    ]
    if missing:
        raise PayloadError("nyfed", "missing_field", f"all-rates CSV: column(s) {', '.join(missing)} missing")
    for row in reader:
        if not any((cell or "").strip() for cell in row.values()):
            continue  # the download ends with a row of commas
        kind = (row.get("Rate Type") or "").strip().upper()
        if kind not in RATE_FIELDS:
            continue  # e.g. SOFRAI (averages and index) rows
        try:
            day = (
                dt.datetime.strptime((row.get("Effective Date") or "").strip(), "%m/%d/%Y").date().isoformat()
            )
        except ValueError:
            result.reject("nyfed", "bad_field", f"{kind}: bad date {row.get('Effective Date')!r}", row)
            continue
        record = {"effectiveDate": day, "type": kind, **{field: row[c] for c, field in _CSV_COLUMNS.items()}}
        _parse_rate_record(kind, RATE_FIELDS[kind], record, result)
    result.prints.sort(key=lambda p: (p.observation_date, p.series_id))
    return result


class NewYorkFedRates(Connector):
    """SOFR, TGCR, BGCR (secured) and EFFR, OBFR (unsecured) with percentiles and volumes."""

    source: ClassVar[str] = "nyfed"
    default_base_url: ClassVar[str] = "https://markets.newyorkfed.org"

    def requests(self) -> tuple[str, ...]:
        """One request per reference rate."""
        return tuple(RATE_FIELDS)

    def series_of(self, request: str) -> tuple[str, ...]:
        """The rate first, then its percentiles and volume."""
        return tuple(RATE_FIELDS[request].values())

    def url(self, request: str) -> str:
        """The search endpoint of one rate."""
        group = "secured" if request in _SECURED else "unsecured"
        return f"{self.base_url}/api/rates/{group}/{request.lower()}/search.json"

    def fetch(self, request: str, start: dt.date, end: dt.date) -> FetchResult:
        """Every published record of ``request`` between ``start`` and ``end``."""
        if request not in RATE_FIELDS:
            raise ValueError(f"nyfed rates: unknown rate {request!r}; known: {', '.join(RATE_FIELDS)}")
        response = self.http.get(
            self.url(request), params={"startDate": start.isoformat(), "endDate": end.isoformat()}
        )
        return self.parse(request, self._json(response))

    def parse(self, request: str, body: Any) -> FetchResult:
        """Turn a ``{"refRates": [...]}`` body into prints and dead letters."""
        result = self._new_result()
        records = body.get("refRates") if isinstance(body, dict) else None
        if not isinstance(records, list):
            keys = sorted(body) if isinstance(body, dict) else type(body).__name__
            raise PayloadError(
                self.source, "missing_field", f"{request}: no 'refRates' list in the response (got {keys})"
            )
        fields = RATE_FIELDS[request]
        for record in records:
            _parse_rate_record(request, fields, record, result)
        result.prints.sort(key=lambda p: (p.observation_date, p.series_id))
        return result


class NewYorkFedOperations(Connector):
    """Repo and reverse-repo operation results: ON RRP take-up and award rate, repo / SRF take-up."""

    source: ClassVar[str] = "nyfed"
    default_base_url: ClassVar[str] = "https://markets.newyorkfed.org"

    def requests(self) -> tuple[str, ...]:
        """``reverserepo`` and ``repo``."""
        return tuple(_OPERATIONS)

    def series_of(self, request: str) -> tuple[str, ...]:
        """RRPONTSYD and RRPONTSYAWARD, or RPONTTLD."""
        return _OPERATIONS[request][1]

    def url(self) -> str:
        """The operation-results search endpoint."""
        return f"{self.base_url}/api/rp/results/search.json"

    def fetch(self, request: str, start: dt.date, end: dt.date) -> FetchResult:
        """Every operation of kind ``request`` between ``start`` and ``end``, summed per day."""
        if request not in _OPERATIONS:
            raise ValueError(
                f"nyfed operations: unknown request {request!r}; known: {', '.join(_OPERATIONS)}"
            )
        params = {"startDate": start.isoformat(), "endDate": end.isoformat(), "operationTypes": request}
        return self.parse(request, self._json(self.http.get(self.url(), params=params)))

    def parse(self, request: str, body: Any) -> FetchResult:
        """Sum a ``{"repo": {"operations": [...]}}`` body per operation date."""
        result = self._new_result()
        repo = body.get("repo") if isinstance(body, dict) else None
        operations = repo.get("operations") if isinstance(repo, dict) else None
        if not isinstance(operations, list):
            raise PayloadError(
                self.source, "missing_field", f"{request}: no 'repo.operations' list in the response"
            )
        operation_type, _series = _OPERATIONS[request]
        totals_usd: dict[dt.date, float] = collections.defaultdict(float)
        award_rates: dict[dt.date, float] = {}
        records_of_day: dict[dt.date, list[object]] = collections.defaultdict(list)
        for operation in operations:
            if not isinstance(operation, dict):
                result.reject(
                    self.source, "bad_field", f"{request}: an operation is not an object", operation
                )
                continue
            note = unknown_fields_note(self.source, operation, _KNOWN_OPERATION_FIELDS)
            if note:
                result.note(note)
            if operation.get("operationType") != operation_type:
                continue  # the other direction, when the server ignores operationTypes
            if str(operation.get("auctionStatus", "Results")) != "Results":
                continue  # an announcement has no accepted amount yet; the results come later
            day = _iso_date(operation.get("operationDate"))
            if day is None:
                result.reject(
                    self.source, "missing_field", f"{request}: operationDate is missing or bad", operation
                )
                continue
            if request == "reverserepo" and operation.get("term") != "Overnight":
                continue  # term reverse repos are not part of RRPONTSYD
            if "totalAmtAccepted" not in operation:
                result.reject(
                    self.source,
                    "missing_field",
                    f"{request} {day}: field 'totalAmtAccepted' is missing",
                    operation,
                )
                continue
            try:
                accepted_usd = parse_value(operation["totalAmtAccepted"])
            except ValueError as exc:
                result.reject(self.source, "bad_field", f"{request} {day}: totalAmtAccepted {exc}", operation)
                continue
            if accepted_usd is None:
                continue
            totals_usd[day] += accepted_usd
            records_of_day[day].append(operation)
            if request == "reverserepo":
                rate = self._award_rate(operation, day, result)
                if rate is not None:
                    award_rates[day] = rate
        for day in sorted(totals_usd):
            raw = records_of_day[day]
            if request == "reverserepo":
                result.accept(make_print("RRPONTSYD", day, totals_usd[day], source=self.source), raw)
                if day in award_rates:
                    result.accept(make_print("RRPONTSYAWARD", day, award_rates[day], source=self.source), raw)
            else:
                result.accept(make_print("RPONTTLD", day, totals_usd[day], source=self.source), raw)
        return result

    def _award_rate(self, operation: Mapping[str, Any], day: dt.date, result: FetchResult) -> float | None:
        details = operation.get("details")
        if not isinstance(details, list):
            return None
        for detail in details:
            if isinstance(detail, dict) and detail.get("securityType", "Treasury") == "Treasury":
                try:
                    return parse_value(detail.get("percentAwardRate"))
                except ValueError as exc:
                    result.reject(
                        self.source, "bad_field", f"RRPONTSYAWARD {day}: percentAwardRate {exc}", operation
                    )
        return None
