"""Treasury FiscalData, Daily Treasury Statement: the Treasury General Account balance.

The operating-cash-balance table renamed its rows twice. The TGA is ``Federal Reserve Account`` up
to 2021-09-30, ``Treasury General Account (TGA)`` from 2021-10-01 to 2022-04-15, and from 2022-04-18
four rows, of which ``... (TGA) Opening Balance`` and ``... (TGA) Closing Balance`` matter. In the
current schema the closing balance sits in ``open_today_bal`` of the closing row (``close_today_bal``
is ``"null"``), so the rule for the new rows is: take the non-null of the two. The legacy single row
has both columns meaning what they say. Values are strings in USD millions; missing is ``"null"``.

>>> rows = [{"record_date": "2025-10-31", "account_type": "Treasury General Account (TGA) Closing Balance",
...          "close_today_bal": "null", "open_today_bal": "926328"}]
>>> [(p.series_id, p.value) for p in TreasuryDts.parse_rows(rows, FetchResult()).prints]
[('TGA_DTS_CLOSE', 926328000000.0)]
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, ClassVar

from connectors.base import Connector, FetchResult, make_print, parse_value, unknown_fields_note
from connectors.httpclient import PayloadError

__all__ = ["TreasuryDts"]

_LEGACY_ACCOUNTS = frozenset({"Federal Reserve Account", "Treasury General Account (TGA)"})
_OPENING_ROW = "Treasury General Account (TGA) Opening Balance"
_CLOSING_ROW = "Treasury General Account (TGA) Closing Balance"
# Rows of the same table that are not the TGA balance (flows, the SFP account, cash investments).
_OTHER_ACCOUNTS = frozenset(
    {
        "Total TGA Deposits (Table II)", "Total TGA Withdrawals (Table II) (-)",
        "Supplementary Financing Program Account", "Short-Term Cash Investments (Table V)",
    }
)  # fmt: skip
_KNOWN_FIELDS = frozenset(
    {
        "record_date", "account_type", "close_today_bal", "open_today_bal", "open_month_bal",
        "open_fiscal_year_bal", "table_nbr", "table_nm", "sub_table_name", "src_line_nbr",
        "record_fiscal_year", "record_fiscal_quarter", "record_calendar_year", "record_calendar_quarter",
        "record_calendar_month", "record_calendar_day",
    }
)  # fmt: skip
_MILLIONS = 1e6


class TreasuryDts(Connector):
    """``/v1/accounting/dts/operating_cash_balance``, all pages, as TGA_DTS_OPEN / TGA_DTS_CLOSE."""

    source: ClassVar[str] = "treasury_dts"
    default_base_url: ClassVar[str] = "https://api.fiscaldata.treasury.gov/services/api/fiscal_service"
    page_size: ClassVar[int] = 1000

    def requests(self) -> tuple[str, ...]:
        """The one request: the TGA."""
        return ("TGA",)

    def series_of(self, request: str) -> tuple[str, ...]:
        """Closing balance first (it is what polling waits for), then opening."""
        return ("TGA_DTS_CLOSE", "TGA_DTS_OPEN")

    def url(self) -> str:
        """The operating cash balance endpoint."""
        return f"{self.base_url}/v1/accounting/dts/operating_cash_balance"

    def fetch(self, request: str, start: dt.date, end: dt.date) -> FetchResult:
        """TGA balances recorded between ``start`` and ``end``, following ``total-pages``."""
        result = self._new_result()
        page = 1
        while True:
            params = {
                "filter": f"record_date:gte:{start.isoformat()},record_date:lte:{end.isoformat()}",
                "sort": "record_date",
                "page[size]": str(self.page_size),
                "page[number]": str(page),
            }
            body = self._json(self.http.get(self.url(), params=params))
            rows = body.get("data") if isinstance(body, dict) else None
            meta = body.get("meta") if isinstance(body, dict) else None
            if not isinstance(rows, list) or not isinstance(meta, dict):
                raise PayloadError(
                    self.source, "missing_field", f"page {page}: no 'data' list or 'meta' object"
                )
            self.parse_rows(rows, result)
            try:
                total_pages = int(meta.get("total-pages", 1))
            except (TypeError, ValueError):
                raise PayloadError(
                    self.source, "bad_field", f"page {page}: total-pages is {meta.get('total-pages')!r}"
                ) from None
            if page >= total_pages or not rows:
                break
            page += 1
        result.prints.sort(key=lambda p: (p.observation_date, p.series_id))
        return result

    @staticmethod
    def parse_export_csv(text: str, result: FetchResult) -> FetchResult:
        """Add the TGA prints of a FiscalData CSV export (``DTS_OpCashBal_*.csv``) to ``result``.

        The export has no closing-balance column: ``Opening Balance Today`` holds the opening balance
        of the legacy rows and, in the closing-balance row, the close. It maps onto the API fields.
        """
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        needed = ("Record Date", "Type of Account", "Opening Balance Today")
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise PayloadError(
                TreasuryDts.source, "missing_field", f"DTS export: column(s) {', '.join(missing)} missing"
            )
        rows = [
            {"record_date": row["Record Date"], "account_type": row["Type of Account"],
             "open_today_bal": row["Opening Balance Today"], "close_today_bal": "null"}
            for row in reader if (row.get("Record Date") or "").strip()
        ]  # fmt: skip
        return TreasuryDts.parse_rows(rows, result)

    @staticmethod
    def parse_rows(rows: list[Any], result: FetchResult) -> FetchResult:
        """Add the TGA prints of ``rows`` (API records) to ``result``."""
        source = TreasuryDts.source
        for row in rows:
            if not isinstance(row, dict):
                result.reject(source, "bad_field", "a data entry is not an object", row)
                continue
            note = unknown_fields_note(source, row, _KNOWN_FIELDS)
            if note:
                result.note(note)
            account = row.get("account_type")
            if account is None:
                result.reject(source, "missing_field", "field 'account_type' is missing", row)
                continue
            if account in _OTHER_ACCOUNTS:
                continue
            if account not in _LEGACY_ACCOUNTS and account not in (_OPENING_ROW, _CLOSING_ROW):
                result.note(f"treasury_dts: unknown account_type {account!r} ignored")
                continue
            try:
                day = dt.date.fromisoformat(str(row.get("record_date")))
            except ValueError:
                result.reject(source, "bad_field", f"record_date is {row.get('record_date')!r}", row)
                continue
            if "open_today_bal" not in row and "close_today_bal" not in row:
                result.reject(
                    source, "missing_field", f"{day} {account}: no open_today_bal / close_today_bal", row
                )
                continue
            try:
                opening = parse_value(row.get("open_today_bal"))
                closing = parse_value(row.get("close_today_bal"))
            except ValueError as exc:
                result.reject(source, "bad_field", f"{day} {account}: {exc}", row)
                continue
            found: list[tuple[str, float | None]]
            if account in _LEGACY_ACCOUNTS:
                found = [("TGA_DTS_OPEN", opening), ("TGA_DTS_CLOSE", closing)]
            elif account == _OPENING_ROW:
                found = [("TGA_DTS_OPEN", opening if opening is not None else closing)]
            else:
                found = [("TGA_DTS_CLOSE", closing if closing is not None else opening)]
            for series_id, value in found:
                if value is not None:
                    result.accept(make_print(series_id, day, value, source=source, multiplier=_MILLIONS), row)
        return result
