"""`plumbline fetch` (live, --data-dir, no network), `connectors schedule`, the public surface."""

from __future__ import annotations

import importlib
import inspect
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.archive import Archive
from connectors.history import read_history
from foundation.catalogue import SERIES
from foundation.settings import Settings, load_settings
from plumbline.cli import build_parser
from plumbline.commands import connectors as connectors_command
from plumbline.commands import fetch

CONNECTOR_MODULES = (
    "connectors.archive", "connectors.base", "connectors.clock", "connectors.fed_ddp", "connectors.fred",
    "connectors.httpclient", "connectors.nyfed", "connectors.poller", "connectors.publisher",
    "connectors.schedule", "connectors.sources", "connectors.treasury",
)  # fmt: skip


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(env={}, state_dir=tmp_path / "state", source_min_interval_seconds="0", **overrides)


def _args(*argv: str) -> Any:
    return build_parser().parse_args(list(argv))


def test_fetch_data_dir_fills_the_archive_with_every_catalogue_series_that_has_a_file(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path)
    assert fetch.run(_args("fetch", "--data-dir", str(data_dir)), settings) == 0
    out = capsys.readouterr().out
    with Archive.open(settings) as archive:
        counts = archive.counts()
    with_files = {s for s in SERIES if (data_dir / f"{s}.csv").is_file()}
    assert set(counts) == with_files and len(with_files) >= 34
    for series_id in ("SOFR", "WRESBAL", "TGA_DTS_CLOSE", "RPONTTLD"):
        assert counts[series_id] == len(read_history(data_dir, series_id)), series_id
    assert "no history file for TLAACBW027SBOG" in out and "RRPONTSYAWARD" not in out
    assert counts["RRPONTSYAWARD"] == len(read_history(data_dir, "RRPONTSYAWARD"))
    # a second import changes nothing
    assert fetch.run(_args("fetch", "--data-dir", str(data_dir), "--series", "SOFR"), settings) == 0
    assert "0 new prints" in capsys.readouterr().out


def test_fetch_without_network_or_data_dir_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution")

    code = fetch.run(
        _args("fetch", "--series", "SOFR"), _settings(tmp_path), transport=httpx.MockTransport(offline)
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "no network" in err and "markets.newyorkfed.org" in err and "--data-dir" in err


def test_fetch_without_network_falls_back_to_the_configured_data_dir(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("unreachable")

    settings = _settings(tmp_path, data_dir=data_dir)
    assert (
        fetch.run(_args("fetch", "--series", "IORB"), settings, transport=httpx.MockTransport(offline)) == 0
    )
    assert "importing PLUMBLINE_DATA_DIR" in capsys.readouterr().out
    with Archive.open(settings) as archive:
        assert archive.counts()["IORB"] == len(read_history(data_dir, "IORB"))


def test_fetch_live_pulls_each_route_into_the_archive_with_progress(
    tmp_path: Path, sample: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    served = {
        "/api/rates/secured/sofr/search.json": sample("nyfed_api_rates_secured_sofr_search.json"),
        "/api/rp/results/search.json": sample("nyfed_api_rp_reverserepo_propositions_search.json"),
        "/graph/fredgraph.csv": "DATE,WRESBAL\n2025-10-22,2933037\n2025-10-29,2848021\n",
        "/services/api/fiscal_service/v1/accounting/dts/operating_cash_balance":
            sample("fiscaldata_v1_accounting_dts_operating_cash_balance.json"),
    }  # fmt: skip
    paths: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        body = served.get(request.url.path)
        return httpx.Response(404) if body is None else httpx.Response(200, text=body)

    settings = _settings(tmp_path)
    args = _args(
        "fetch", "--series", "SOFR", "RRPONTSYD", "WRESBAL", "TGA_DTS_CLOSE", "--since", "2025-10-01"
    )
    assert fetch.run(args, settings, transport=httpx.MockTransport(upstream)) == 0
    captured = capsys.readouterr()
    with Archive.open(settings) as archive:
        counts = archive.counts()
        assert archive.pending() == []  # fetched history is not produced by `connectors run`
    assert counts["SOFR"] == 3 and counts["SOFRVOL"] == 3 and counts["RRPONTSYD"] == 1
    assert counts["WRESBAL"] == 2 and counts["TGA_DTS_CLOSE"] == 2
    assert "nyfed:SOFR: 18 new" in captured.err  # one finished line per route on a non-terminal
    assert "[##############################]" in captured.err
    assert paths.count("/graph/fredgraph.csv") == 1  # FRED returns the whole range at once


def test_progress_bar_redraws_one_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = fetch.Progress(4, stream, width=8)
    progress.step("SOFR 2025")
    progress.step("SOFR 2026", "nyfed:SOFR: 10 new")
    progress.close()
    text = stream.getvalue()
    assert "\r\x1b[K[####....] 2/4 SOFR 2026" in text and "nyfed:SOFR: 10 new\n" in text


def test_fetch_rejects_an_unknown_series(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch.run(_args("fetch", "--series", "NOPE"), _settings(tmp_path)) == 2
    assert "unknown series 'NOPE'" in capsys.readouterr().err


def test_connectors_schedule_shows_the_next_publication_aware_poll(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args("connectors", "schedule", "--series", "SOFR", "WRESBAL", "--at", "2019-09-18T07:00-04:00")
    assert connectors_command.run(args, _settings(tmp_path)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "nyfed:SOFR             next poll 2019-09-18 12:00 UTC; latest due 2019-09-16 (missing)",
        "fred:WRESBAL           next poll 2019-09-19 20:30 UTC; latest due 2019-09-11 (missing)",
    ]


@pytest.mark.parametrize("module_name", CONNECTOR_MODULES)
def test_public_names_are_exactly_all(module_name: str) -> None:
    module = importlib.import_module(module_name)
    defined = {
        name for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", module_name) == module_name
        and (inspect.isclass(value) or inspect.isfunction(value))
    }  # fmt: skip
    assert defined <= set(module.__all__), (
        f"public but not in __all__: {sorted(defined - set(module.__all__))}"
    )
    assert all(hasattr(module, name) for name in module.__all__)


def test_connectors_never_import_detectors_or_streams() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CONNECTOR_MODULES)
        + "import plumbline.commands.fetch, plumbline.commands.connectors, plumbline.commands.republish\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('detectors', 'streams', 'faust'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
