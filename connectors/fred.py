"""FRED: the keyless CSV download, the JSON API (with a key) and ALFRED vintages.

FRED's unit for a series is not in the CSV and has changed over time: older WRESBAL and WTREGEN
downloads are in USD *billions* (``877.820``), current ones in *millions* (``2848021``). So the
unit of a dollar series is never taken from the header: either the caller says it (``unit=``), or
it is inferred from the magnitude of the download against a band of plausible levels for the series
(:data:`USD_LEVEL_BANDS`, each narrower than the factor 1000 between the candidates, so at most one
reading can fit). A download that fits neither, or both, is refused with ``unit_mismatch``.

>>> resolve_unit_multiplier("WRESBAL", [877.820, 847.259])       # legacy download, billions
1000000000.0
>>> resolve_unit_multiplier("WRESBAL", [2933037.0, 2848021.0])   # current download, millions
1000000.0
>>> resolve_unit_multiplier("SOFR", [5.25])
1.0
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import httpx

from connectors.base import Connector, FetchResult, make_print, parse_value
from connectors.clock import Clock
from connectors.httpclient import HttpPolicy, PayloadError, SourceClient
from foundation.calendar import NEW_YORK
from foundation.catalogue import get_series, published_at

__all__ = [
    "FRED_SERIES",
    "USD_LEVEL_BANDS",
    "FredApi",
    "FredCsv",
    "FredUnit",
    "resolve_unit_multiplier",
]

FredUnit = Literal["percent", "units", "millions", "billions"]
_UNIT_MULTIPLIERS: dict[str, float] = {"percent": 1.0, "units": 1.0, "millions": 1e6, "billions": 1e9}

# Series plumbline takes from FRED (the policy rates, H.4.1, H.8, H.15 and H.10), FRED id = catalogue id.
FRED_SERIES: tuple[str, ...] = (
    "IORB", "IOER", "DFEDTARL", "DFEDTARU", "WRESBAL", "WALCL", "TREAST", "WDTGAL", "WTREGEN", "USGSEC",
    "TLAACBW027SBOG", "DGS10", "DGS3MO", "DEXJPUS",
)  # fmt: skip

# FRED's unit for dollar series that have always been published in one unit.
_FIXED_USD_UNITS: dict[str, FredUnit] = {
    "RRPONTSYD": "billions", "RPONTTLD": "billions", "SOFRVOL": "billions", "EFFRVOL": "billions",
    "OBFRVOL": "billions", "TGCRVOL": "billions", "BGCRVOL": "billions", "TLAACBW027SBOG": "billions",
}  # fmt: skip

# Plausible median level in USD of a download, per dollar series whose FRED unit has changed or may
# change. Each band spans less than a factor 1000, so millions and billions cannot both fit.
USD_LEVEL_BANDS: dict[str, tuple[float, float]] = {
    "WRESBAL": (8e9, 8e12),  # $8 bn (1990s) .. $4.3 tn (2021)
    "WTREGEN": (2e9, 2e12),  # $4 bn (2000s) .. $1 tn
    "WDTGAL": (2e9, 2e12),
    "WALCL": (2e11, 2e14),  # $0.7 tn (2002) .. $9 tn
    "TREAST": (1e11, 1e14),
    "USGSEC": (5e10, 5e13),  # $90 bn (1973) .. $4.8 tn
}


def resolve_unit_multiplier(
    series_id: str, values: Sequence[float], unit: FredUnit | None = None, *, source: str = "fred"
) -> float:
    """The factor from the download's numbers to the catalogue unit (see the module docstring)."""
    spec = get_series(series_id)
    if unit is not None:
        if (spec.unit == "usd") != (unit in ("millions", "billions")) and not (
            spec.unit == "usd" and unit == "units"
        ):
            raise PayloadError(source, "unit_mismatch", f"{series_id} is in {spec.unit}, not {unit}")
        return _UNIT_MULTIPLIERS[unit]
    if spec.unit != "usd":
        return 1.0  # rates are percent and DEXJPUS yen per dollar on FRED, as in the catalogue
    if series_id in _FIXED_USD_UNITS:
        return _UNIT_MULTIPLIERS[_FIXED_USD_UNITS[series_id]]
    band = USD_LEVEL_BANDS.get(series_id)
    if band is None:
        raise PayloadError(
            source, "unit_mismatch", f"{series_id}: unknown FRED unit; pass unit='millions' or 'billions'"
        )
    if not values:
        return 1e6  # nothing to convert; the current FRED unit of the banded series
    level = statistics.median(abs(v) for v in values)
    fits = [m for m in (1e6, 1e9) if band[0] <= level * m < band[1]]
    if len(fits) != 1:
        raise PayloadError(
            source,
            "unit_mismatch",
            f"{series_id}: median {level:g} fits {'neither' if not fits else 'both'} of millions and "
            "billions "
            f"for a plausible level of {band[0]:.0e}..{band[1]:.0e} USD; pass the unit explicitly",
        )
    return fits[0]


class _FredSeries(Connector):
    """What both FRED endpoints share: one request per series, FRED ids are catalogue ids."""

    def requests(self) -> tuple[str, ...]:
        """One request per FRED series."""
        return FRED_SERIES

    def series_of(self, request: str) -> tuple[str, ...]:
        """FRED ids are catalogue ids."""
        return (request,)


class FredCsv(_FredSeries):
    """``fredgraph.csv?id=SERIES``: no key; both header styles; ``.`` and empty cells are missing."""

    source: ClassVar[str] = "fred"
    default_base_url: ClassVar[str] = "https://fred.stlouisfed.org"

    def __init__(
        self,
        client: httpx.Client,
        *,
        base_url: str | None = None,
        policy: HttpPolicy | None = None,
        clock: Clock | None = None,
        http: SourceClient | None = None,
        units: dict[str, FredUnit] | None = None,
    ) -> None:
        super().__init__(client, base_url=base_url, policy=policy, clock=clock, http=http)
        self.units = dict(units or {})

    def url(self) -> str:
        """The graph CSV endpoint."""
        return f"{self.base_url}/graph/fredgraph.csv"

    def fetch(self, request: str, start: dt.date, end: dt.date) -> FetchResult:
        """Observations of one series between ``start`` and ``end``."""
        get_series(request)
        response = self.http.get(
            self.url(), params={"id": request, "cosd": start.isoformat(), "coed": end.isoformat()}
        )
        result = self.parse(request, response.text, self.units.get(request))
        result.prints = [p for p in result.prints if start <= p.observation_date <= end]
        return result

    def parse(self, series_id: str, text: str, unit: FredUnit | None = None) -> FetchResult:
        """Parse a FRED graph CSV (``DATE,ID`` or ``observation_date,ID``) into prints."""
        result = self._new_result()
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        if not rows:
            raise PayloadError(self.source, "missing_field", f"{series_id}: empty CSV")
        header = [cell.strip() for cell in rows[0]]
        if len(header) < 2 or header[0].lower() not in ("date", "observation_date"):
            raise PayloadError(
                self.source, "missing_field",
                f"{series_id}: header {header!r} is not DATE/observation_date,{series_id}",
                text[:200],
            )  # fmt: skip
        if header[1].upper() != series_id.upper():
            raise PayloadError(
                self.source,
                "missing_field",
                f"{series_id}: column is {header[1]!r}, expected {series_id!r}",
                text[:200],
            )
        parsed: list[tuple[dt.date, float, list[str]]] = []
        for line, row in enumerate(rows[1:], start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            try:
                day = dt.date.fromisoformat(row[0].strip())
            except ValueError:
                result.reject(
                    self.source, "bad_field", f"{series_id} line {line}: bad date {row[0]!r}", ",".join(row)
                )
                continue
            try:
                value = parse_value(row[1] if len(row) > 1 else "")
            except ValueError as exc:
                result.reject(self.source, "bad_field", f"{series_id} {day}: {exc}", ",".join(row))
                continue
            if value is not None:
                parsed.append((day, value, row))
        multiplier = resolve_unit_multiplier(series_id, [v for _, v, _ in parsed], unit, source=self.source)
        for day, value, row in parsed:
            result.accept(
                make_print(series_id, day, value, source=self.source, multiplier=multiplier), ",".join(row)
            )
        return result


_KNOWN_OBSERVATION_FIELDS = frozenset({"realtime_start", "realtime_end", "date", "value"})
_ALFRED_ALL_VINTAGES = {"realtime_start": "1776-07-04", "realtime_end": "9999-12-31"}


class FredApi(_FredSeries):
    """``/fred/series/observations`` with an API key; :meth:`fetch_vintages` reads ALFRED.

    Values are strings, missing is ``"."``; the response's ``units`` must be ``lin`` (levels):
    a transformed series (``chg``, ``pch``) has the wrong unit and is refused.
    """

    source: ClassVar[str] = "fred"
    default_base_url: ClassVar[str] = "https://api.stlouisfed.org"
    page_limit: ClassVar[int] = 100000

    def __init__(
        self,
        client: httpx.Client,
        api_key: str,
        *,
        base_url: str | None = None,
        policy: HttpPolicy | None = None,
        clock: Clock | None = None,
        http: SourceClient | None = None,
        units: dict[str, FredUnit] | None = None,
    ) -> None:
        super().__init__(client, base_url=base_url, policy=policy, clock=clock, http=http)
        if not api_key:
            raise ValueError("FredApi needs an API key (PLUMBLINE_FRED_API_KEY); FredCsv needs none")
        self._api_key = api_key
        self.units = dict(units or {})

    def url(self) -> str:
        """The observations endpoint."""
        return f"{self.base_url}/fred/series/observations"

    def fetch(self, request: str, start: dt.date, end: dt.date) -> FetchResult:
        """Current values of one series between ``start`` and ``end`` (all pages)."""
        observations = self._observations(request, start, end, {})
        return self._to_prints(request, observations, vintages=False)

    def fetch_vintages(self, series_id: str, start: dt.date, end: dt.date) -> FetchResult:
        """Every ALFRED vintage of one series, oldest release first, as prints.

        A vintage's ``published_at`` is its ``realtime_start`` at the series' release time (the first
        at the catalogue publication time, which is when it really appeared); the archive numbers them.
        """
        observations = self._observations(series_id, start, end, _ALFRED_ALL_VINTAGES)
        return self._to_prints(series_id, observations, vintages=True)

    def _observations(
        self, series_id: str, start: dt.date, end: dt.date, extra: dict[str, str]
    ) -> list[dict[str, Any]]:
        get_series(series_id)
        collected: list[dict[str, Any]] = []
        offset = 0
        while True:
            params = {
                "series_id": series_id, "api_key": self._api_key, "file_type": "json",
                "observation_start": start.isoformat(), "observation_end": end.isoformat(),
                "limit": str(self.page_limit), "offset": str(offset), **extra,
            }  # fmt: skip
            body = self._json(self.http.get(self.url(), params=params))
            if not isinstance(body, dict) or not isinstance(body.get("observations"), list):
                raise PayloadError(
                    self.source, "missing_field", f"{series_id}: no 'observations' list in the response"
                )
            units = body.get("units", "lin")
            if units != "lin":
                raise PayloadError(
                    self.source,
                    "unit_mismatch",
                    f"{series_id}: response units {units!r}, expected 'lin' (levels)",
                )
            page = body["observations"]
            collected.extend(page)
            count = body.get("count")
            offset += len(page)
            if not page or not isinstance(count, int) or offset >= count:
                return collected

    def _to_prints(self, series_id: str, observations: list[Any], *, vintages: bool) -> FetchResult:
        result = self._new_result()
        spec = get_series(series_id)
        parsed: list[tuple[dt.date, dt.date | None, float, object]] = []
        for raw in observations:
            if not isinstance(raw, dict):
                result.reject(self.source, "bad_field", f"{series_id}: an observation is not an object", raw)
                continue
            extra = sorted(set(raw) - _KNOWN_OBSERVATION_FIELDS)
            if extra:
                result.note(f"fred: unknown observation field(s) {', '.join(extra)} ignored")
            if "value" not in raw or "date" not in raw:
                missing = "value" if "value" not in raw else "date"
                hint = f" (unknown fields {', '.join(extra)}: renamed upstream?)" if extra else ""
                result.reject(
                    self.source, "missing_field", f"{series_id}: field {missing!r} is missing{hint}", raw
                )
                continue
            try:
                day = dt.date.fromisoformat(str(raw["date"]))
                realtime = dt.date.fromisoformat(str(raw["realtime_start"])) if vintages else None
            except (KeyError, ValueError):
                result.reject(self.source, "bad_field", f"{series_id}: bad date in {raw!r}", raw)
                continue
            try:
                value = parse_value(raw["value"])
            except ValueError as exc:
                result.reject(self.source, "bad_field", f"{series_id} {day}: {exc}", raw)
                continue
            if value is not None:
                parsed.append((day, realtime, value, raw))
        multiplier = resolve_unit_multiplier(
            series_id, [v for _, _, v, _ in parsed], self.units.get(series_id), source=self.source
        )
        parsed.sort(key=lambda item: (item[0], item[1] or item[0]))
        first_seen: set[dt.date] = set()
        for day, realtime, value, raw in parsed:
            published = published_at(series_id, day)
            if realtime is not None and day in first_seen:
                known = dt.datetime.combine(realtime, spec.release_time, tzinfo=NEW_YORK).astimezone(dt.UTC)
                published = max(published, known)
            first_seen.add(day)
            result.accept(
                make_print(
                    series_id, day, value, source=self.source, multiplier=multiplier, published=published
                ),
                raw,
            )
        return result
