"""`plumbline fetch` (live, --data-dir, offline), `connectors schedule`, progress output, public surface."""

from __future__ import annotations

import importlib
import inspect
import io
import re
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
from plumbline.commands._progress import ProgressBar

CONNECTOR_MODULES = (
    "connectors.archive", "connectors.base", "connectors.clock", "connectors.fed_ddp", "connectors.fred",
    "connectors.history", "connectors.httpclient", "connectors.ingest", "connectors.nyfed",
    "connectors.poller", "connectors.producer", "connectors.publisher", "connectors.replay",
    "connectors.schedule", "connectors.service", "connectors.sources", "connectors.treasury",
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
    # Off a terminal: no bar, one line per finished route, "[requests done/total] route: counts".
    lines = captured.err.splitlines()
    assert len(lines) == 4 and all(re.fullmatch(r"\[\d+/\d+\] \S+: \d+ new, .*", line) for line in lines)
    assert any(line.startswith("[") and "] nyfed:SOFR: 18 new" in line for line in lines)
    done, total = lines[-1][1:].split("]")[0].split("/")
    assert done == total
    assert "\r" not in captured.err and "\x1b" not in captured.err
    assert paths.count("/graph/fredgraph.csv") == 1  # FRED returns the whole range at once


def test_fetch_reports_a_failed_route_and_goes_on_with_the_others(
    tmp_path: Path, sample: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/rates/secured/sofr/search.json":
            return httpx.Response(200, text=sample("nyfed_api_rates_secured_sofr_search.json"))
        if request.url.path == "/graph/fredgraph.csv":
            return httpx.Response(403, text="forbidden")  # not retried
        return httpx.Response(200, text="ok")  # the network probes

    settings = _settings(tmp_path)
    args = _args("fetch", "--series", "SOFR", "WRESBAL", "--since", "2025-10-01")
    assert fetch.run(args, settings, transport=httpx.MockTransport(upstream)) == 1
    captured = capsys.readouterr()
    assert "fred:WRESBAL: FAILED at 2025-10-01.." in captured.err and "HTTP 403" in captured.err
    assert "plumbline fetch: failed: fred:WRESBAL (see the lines above); run again to retry" in captured.err
    assert "plumbline fetch: 18 new prints" in captured.out
    with Archive.open(settings) as archive:
        assert archive.counts()["SOFR"] == 3 and "WRESBAL" not in archive.counts()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_is_a_live_tqdm_bar_on_a_terminal() -> None:
    stream = _Terminal()
    with ProgressBar(None, desc="fetch", unit="request", stream=stream, mininterval=0) as bar:
        assert stream.getvalue() == ""  # no bar before its total is known
        bar.advance_to(1, "nyfed:SOFR 2025", total=4)
        bar.advance_to(2, "nyfed:SOFR 2026", total=4)
        bar.line("nyfed:SOFR: 10 new")
        bar.advance_to(4, "fred:WRESBAL 1954")
        bar.close("done")
    text = stream.getvalue()
    assert "\r" in text  # redrawn in place
    assert "2/4" in text and "nyfed:SOFR 2026" in text and "4/4" in text and "done" in text
    assert "nyfed:SOFR: 10 new\n" in text  # a finished line is printed whole, above the bar


def test_progress_bar_off_a_terminal_writes_only_whole_lines() -> None:
    stream = io.StringIO()
    with ProgressBar(3, desc="replay", unit="print", initial=1, stream=stream) as bar:
        bar.advance_to(2, "2019-09-17")
        bar.line("nyfed:SOFR: 10 new")
        bar.advance_to(3, "2019-09-18", total=5)
        bar.close("done")
    assert stream.getvalue() == "[2/3] nyfed:SOFR: 10 new\n[3/5] done\n"


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


def test_connectors_refuse_series_without_a_live_source_or_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        connectors_command.run(_args("connectors", "run", "--series", "JP_POLICY"), _settings(tmp_path)) == 2
    )
    assert capsys.readouterr().err == "plumbline connectors: no live source for JP_POLICY\n"
    assert (
        connectors_command.run(_args("connectors", "schedule", "--series", "NOPE"), _settings(tmp_path)) == 2
    )
    assert "unknown series 'NOPE'" in capsys.readouterr().err


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
        "import plumbline.commands.replay\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('detectors', 'streams', 'faust'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
