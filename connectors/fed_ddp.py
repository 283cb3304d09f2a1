"""Federal Reserve Data Download Program (DDP) CSV packages: H.4.1, H.8, H.15.

A DDP CSV has six header rows (``Series Description``, ``Unit:``, ``Multiplier:``, ``Currency:``,
``Unique Identifier:``, ``Time Period``) and one column per series; missing is ``ND`` or ``NA``.
Unlike FRED, the unit is stated, so it is *read*: ``Millions of Dollars`` times the multiplier row
gives USD, ``Percent:_Per_Year`` gives percent; anything else is refused as ``unit_mismatch``.

This is a parser only: there is no live DDP connector. DDP download URLs name a saved package by an
opaque hash that cannot be derived from the series, and the H.4.1 code below is unverified, so
H.4.1 and H.8 are polled from FRED (see docs/connectors.md). Pass the text of a package CSV
downloaded from the DDP site to :func:`parse_ddp_csv`.

>>> text = '''"Series Description","Federal funds effective rate"
... "Unit:","Percent:_Per_Year"
... "Multiplier:","1"
... "Currency:","NA"
... "Unique Identifier: ","H15/H15/RIFSPFF_N.B"
... "Time Period","RIFSPFF_N.B"
... 2019-09-17,2.30
... 2019-10-14,ND
... '''
>>> [(p.series_id, str(p.observation_date), p.value) for p in parse_ddp_csv(text).prints]
[('EFFR', '2019-09-17', 2.3)]
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping

from connectors.base import FetchResult, make_print, parse_value
from connectors.httpclient import PayloadError
from foundation.catalogue import get_series

__all__ = ["DDP_SERIES", "parse_ddp_csv"]

# DDP series code (the ``Time Period`` row) -> catalogue series. RIFSPFF_N.B and RIFLGFCY10_N.B are
# confirmed by public fixtures; the H.4.1 / H.8 codes follow the DDP naming but are NOT verified
# against a live download (FORMATS.md section 7): check before relying on them.
DDP_SERIES: dict[str, str] = {
    "RIFSPFF_N.B": "EFFR",
    "RIFLGFCY10_N.B": "DGS10",
    "RIFLGFCM03_N.B": "DGS3MO",
    "RESPPMA_N.WW": "WRESBAL",
}

_UNITS: dict[str, tuple[str, float]] = {
    "percent:_per_year": ("percent", 1.0),
    "percent": ("percent", 1.0),
    "millions of dollars": ("usd", 1e6),
    "billions of dollars": ("usd", 1e9),
    "dollars": ("usd", 1.0),
}
_HEADER_LABELS = (
    "series description",
    "unit:",
    "multiplier:",
    "currency:",
    "unique identifier:",
    "time period",
)
_SOURCE = "fed_ddp"


def parse_ddp_csv(
    text: str, codes: Mapping[str, str] | None = None, result: FetchResult | None = None
) -> FetchResult:
    """Prints from a DDP package CSV; columns of unknown codes are skipped with a note."""
    codes = DDP_SERIES if codes is None else codes
    result = result if result is not None else FetchResult()
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if len(rows) < 6:
        raise PayloadError(_SOURCE, "missing_field", f"a DDP CSV has six header rows; got {len(rows)} rows")
    labels = tuple(row[0].strip().lower() if row else "" for row in rows[:6])
    if labels != _HEADER_LABELS:
        raise PayloadError(
            _SOURCE, "missing_field", f"DDP header rows are {labels!r}, expected {_HEADER_LABELS!r}"
        )
    units, multipliers, identifiers = rows[1], rows[2], rows[5]
    columns: dict[int, tuple[str, float]] = {}
    for index in range(1, len(identifiers)):
        code = identifiers[index].strip()
        series_id = codes.get(code)
        if series_id is None:
            result.note(f"fed_ddp: column {code!r} is not a catalogue series; skipped")
            continue
        unit_label = (units[index] if index < len(units) else "").strip().lower()
        unit = _UNITS.get(unit_label)
        if unit is None:
            raise PayloadError(_SOURCE, "unit_mismatch", f"{series_id} ({code}): unknown unit {unit_label!r}")
        try:
            multiplier = float(multipliers[index]) if index < len(multipliers) else 1.0
        except ValueError:
            raise PayloadError(
                _SOURCE, "bad_field", f"{series_id} ({code}): multiplier {multipliers[index]!r}"
            ) from None
        if unit[0] != get_series(series_id).unit:
            raise PayloadError(
                _SOURCE,
                "unit_mismatch",
                f"{series_id} ({code}) is in {unit_label!r}, the catalogue wants {unit[0]}",
            )
        columns[index] = (series_id, unit[1] * multiplier)
    for row in rows[6:]:
        if not row or not row[0].strip():
            continue
        try:
            day = dt.date.fromisoformat(row[0].strip())
        except ValueError:
            result.reject(
                _SOURCE,
                "bad_field",
                f"bad date {row[0]!r} (monthly packages are not supported)",
                ",".join(row),
            )
            continue
        for index, (series_id, multiplier) in columns.items():
            try:
                value = parse_value(row[index] if index < len(row) else "")
            except ValueError as exc:
                result.reject(_SOURCE, "bad_field", f"{series_id} {day}: {exc}", ",".join(row))
                continue
            if value is not None:
                result.accept(
                    make_print(series_id, day, value, source=_SOURCE, multiplier=multiplier), ",".join(row)
                )
    result.prints.sort(key=lambda p: (p.observation_date, p.series_id))
    return result
