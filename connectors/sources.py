"""Which live source serves which catalogue series, built once from :class:`Settings`.

A :class:`Route` is one upstream request (e.g. the NY Fed SOFR search) and the catalogue series it
yields (SOFR, its percentiles and volume). :class:`SourceSet` holds one connector per source on one
shared ``httpx.Client``; connectors of the same host share one rate limit.

>>> import httpx
>>> from foundation.settings import load_settings
>>> sources = SourceSet.from_settings(load_settings(env={}), httpx.Client())
>>> [route.name for route in sources.routes_for(["SOFR99", "WRESBAL", "RRPONTSYAWARD"])]
['nyfed:SOFR', 'nyfed:reverserepo', 'fred:WRESBAL']
>>> sources.uncovered(["SOFR", "JP_POLICY"])
['JP_POLICY']
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterable, Mapping

import httpx

from connectors.base import Connector, FetchResult
from connectors.clock import Clock, SystemClock
from connectors.fred import FredApi, FredCsv
from connectors.httpclient import HttpPolicy, SourceClient
from connectors.nyfed import NewYorkFedOperations, NewYorkFedRates
from connectors.telemetry import ConnectorTelemetry
from connectors.treasury import TreasuryDts
from foundation.catalogue import SERIES, get_series
from foundation.settings import Settings

__all__ = ["Route", "SourceSet", "http_client"]

# First date each upstream history is worth asking for (`plumbline fetch` starts here by default).
_HISTORY_START: dict[str, dt.date] = {
    "nyfed:SOFR": dt.date(2018, 4, 2),
    "nyfed:TGCR": dt.date(2018, 4, 2),
    "nyfed:BGCR": dt.date(2018, 4, 2),
    "nyfed:EFFR": dt.date(2016, 3, 1),
    "nyfed:OBFR": dt.date(2016, 3, 1),
    "nyfed:reverserepo": dt.date(2003, 1, 1),
    "nyfed:repo": dt.date(2000, 1, 1),
    "treasury:TGA": dt.date(2005, 10, 3),
}
_FRED_HISTORY_START = dt.date(1954, 1, 1)
# NY Fed rates can be revised the day they are published, around 14:30 New York time.
_NYFED_REVISION_CHECK = dt.time(15, 0)
_USER_AGENT = "plumbline (https://github.com/plumbline; docs/connectors.md)"


def http_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The one ``httpx.Client`` every connector shares (``transport`` lets tests serve from memory)."""
    return httpx.Client(
        transport=transport,
        timeout=settings.http_timeout_seconds,
        follow_redirects=True,
        headers={"User-Agent": _USER_AGENT},
    )


@dataclasses.dataclass(frozen=True)
class Route:
    """One upstream request: ``connector`` name, its ``request`` and the series it yields."""

    name: str
    connector: str
    request: str
    series: tuple[str, ...]
    history_start: dt.date
    # Years per request when fetching full history (None: all at once; the source returns it whole).
    history_chunk_years: int | None = 1
    revision_check: dt.time | None = None

    @property
    def primary(self) -> str:
        """The series polling waits for (the headline of the request)."""
        return self.series[0]


class SourceSet:
    """Every live connector plus the routing table from catalogue series to requests."""

    def __init__(self, connectors: Mapping[str, Connector]) -> None:
        self.connectors = dict(connectors)
        self.routes: dict[str, Route] = {}
        for key, connector in self.connectors.items():
            prefix = "treasury" if key == "treasury" else key.split("_")[0]
            for request in connector.requests():
                name = f"{prefix}:{request}"
                self.routes[name] = Route(
                    name=name,
                    connector=key,
                    request=request,
                    series=connector.series_of(request),
                    history_start=_HISTORY_START.get(name, _FRED_HISTORY_START),
                    history_chunk_years=None if key == "fred" else 1,
                    revision_check=_NYFED_REVISION_CHECK if key == "nyfed_rates" else None,
                )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        client: httpx.Client,
        clock: Clock | None = None,
        *,
        rng: random.Random | None = None,
        telemetry: ConnectorTelemetry | None = None,
    ) -> SourceSet:
        """The default sources: NY Fed, Treasury FiscalData and FRED (the API when a key is set).

        ``telemetry`` receives every HTTP attempt of every source.
        """
        clock = clock or SystemClock()
        policy = HttpPolicy.from_settings(settings)
        telemetry = telemetry or ConnectorTelemetry()
        nyfed = SourceClient("nyfed", client, policy, clock, rng=rng, telemetry=telemetry)
        fred_http = SourceClient("fred", client, policy, clock, rng=rng, telemetry=telemetry)
        treasury_http = SourceClient("treasury_dts", client, policy, clock, rng=rng, telemetry=telemetry)
        fred: Connector
        if settings.fred_api_key:
            fred = FredApi(client, settings.fred_api_key, base_url=settings.fred_api_base_url, http=fred_http)
        else:
            fred = FredCsv(client, base_url=settings.fred_base_url, http=fred_http)
        return cls(
            {
                "nyfed_rates": NewYorkFedRates(client, base_url=settings.nyfed_base_url, http=nyfed),
                "nyfed_operations": NewYorkFedOperations(
                    client, base_url=settings.nyfed_base_url, http=nyfed
                ),
                "treasury": TreasuryDts(client, base_url=settings.fiscaldata_base_url, http=treasury_http),
                "fred": fred,
            }
        )

    def routes_for(self, series: Iterable[str] | None = None) -> list[Route]:
        """The routes needed for ``series`` (all routes for ``None``), in routing-table order."""
        if series is None:
            return list(self.routes.values())
        wanted = {get_series(s).id for s in series}
        return [route for route in self.routes.values() if wanted & set(route.series)]

    def uncovered(self, series: Iterable[str] | None = None) -> list[str]:
        """Catalogue series no live route serves (they can only be imported from a data directory)."""
        covered = {s for route in self.routes.values() for s in route.series}
        return [s for s in (SERIES if series is None else series) if s not in covered]

    def source_of(self, route: Route) -> str:
        """The source (HTTP client name: ``nyfed``, ``fred``, ``treasury_dts``) a route asks."""
        return self.connectors[route.connector].http.name

    def fetch(self, route: Route, start: dt.date, end: dt.date) -> FetchResult:
        """Run one route for a date range."""
        return self.connectors[route.connector].fetch(route.request, start, end)

    def requests_sent(self) -> int:
        """HTTP requests sent so far by every connector (retries included)."""
        clients = {id(c.http): c.http for c in self.connectors.values()}
        return sum(client.requests_sent for client in clients.values())
