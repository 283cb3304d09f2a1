"""Backtest, report files, replay plans from the archive, and resumable replays (no broker needed)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import html
import json
from pathlib import Path

import pytest

from connectors.archive import Archive
from connectors.replay import ReplayProgress, plan_replay, run_replay
from foundation.catalogue import published_at
from foundation.records import Alert, Print
from offline.backtest import BacktestResult, load_plan
from offline.evaluation import episode_table, markdown_table
from plumbline.commands import backtest as backtest_command
from tests.conftest import make_settings


def test_backtest_sees_the_2019_spike_and_2020_and_scores_against_the_baselines(
    backtest_window: tuple[BacktestResult, Path],
) -> None:
    result, _ = backtest_window
    rows = {(r.signal, r.detector): r for r in result.rows}
    spread = rows[("sofr_iorb_spread_bp", "persistence_threshold")]
    assert spread.episodes["repo_spike_2019"] == -9  # the regime alarm was on before the spike
    assert rows[("sofr99_iorb_spread_bp", "robust_zscore")].episodes["repo_spike_2019"] == 0
    assert isinstance(spread.episodes["dash_for_cash_2020"], int)
    assert ("funding_stress_index", "funding_stress_index") in rows
    assert {r.detector for r in result.rows if r.signal == "baseline"} == {
        "never alarm", "always alarm", "plain rule SOFR > IORB",
    }  # fmt: skip
    assert not result.episode_in_window("q4_2025") and not result.covers_calm_stretch
    # H.8 total assets are live-only (not in the data copy); the ON RRP award rate is in it now.
    assert any("TLAACBW027SBOG" in note and "reserves_to_bank_assets_ratio" in note for note in result.notes)
    assert not any("RRPONTSYAWARD" in note for note in result.notes)
    assert "tgcr_onrrp_spread_bp" in result.signals
    assert all(a.replay for a in result.alerts) and result.alerts


def test_report_directory_has_the_page_plots_table_and_alerts(
    backtest_window: tuple[BacktestResult, Path],
) -> None:
    result, report = backtest_window
    page = (report / "index.html").read_text()
    for name in ("rates.png", "spreads.png", "balances.png", "detectors.png"):
        assert f'src="{name}"' in page
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "What the data cannot show" in page and "RRPONTSYAWARD" in page
    assert "outside window" in (report / "episode_table.md").read_text()
    alerts = [Alert.from_json(body) for body in json.loads((report / "alerts.json").read_text())]
    assert alerts == result.alerts
    lines = (report / "alerts.csv").read_text().splitlines()
    assert lines[0].startswith("observation_date,published_at,signal,detector,state")
    assert len(lines) == len(alerts) + 1


def test_the_page_and_the_markdown_show_the_one_episode_table(
    backtest_window: tuple[BacktestResult, Path],
) -> None:
    result, report = backtest_window
    header, body = episode_table(result.rows, parameters=False, window=(result.start, result.end))
    page = (report / "index.html").read_text()
    assert "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" in page
    for cells in body:
        assert "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" in page
    assert (report / "episode_table.md").read_text() == markdown_table(header, body)
    spread = next(cells for cells in body if cells[:2] == ["sofr_iorb_spread_bp", "persistence_threshold"])
    # 2019 and 2020 in the window, 2023 and Q4 2025 not; the calm stretch is not spanned.
    assert spread[2:] == ["-9", "+10", "outside window", "outside window", "2/2", "n/a", spread[-1]]


def test_backtest_command_writes_the_report_and_prints_the_episode_table(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(start=dt.date(2019, 9, 1), end=dt.date(2019, 9, 30), output=tmp_path / "out")
    assert backtest_command.run(args, make_settings(tmp_path / "state", data_dir)) == 0
    out = capsys.readouterr()
    assert out.out.startswith("| signal | detector | repo_spike_2019")
    assert "report:" in out.err and (tmp_path / "out" / "index.html").is_file()


def test_backtest_without_any_data_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(start=dt.date(2019, 9, 1), end=dt.date(2019, 9, 30), output=None)
    assert backtest_command.run(args, make_settings(tmp_path / "state")) == 1
    assert "PLUMBLINE_DATA_DIR" in capsys.readouterr().err


def test_archive_series_replay_their_first_vintage_at_its_publication_time(
    data_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "state", data_dir)
    first = Print(
        "SOFR", dt.date(2019, 9, 17), 5.25, "percent", "nyfed", published_at("SOFR", dt.date(2019, 9, 17))
    )
    with Archive(tmp_path / "state" / "archive.sqlite3") as archive:
        archive.store(first)
        archive.store(
            dataclasses.replace(first, value=5.30), known_at=dt.datetime(2019, 9, 20, tzinfo=dt.UTC)
        )
    plan = load_plan(settings, dt.date(2019, 9, 16), dt.date(2019, 9, 18), ("SOFR", "IOER"))
    assert plan.sources == {"SOFR": "archive", "IOER": "data_dir"}
    sofr = [p for p in plan.prints if p.series_id == "SOFR"]
    assert [(p.value, p.vintage, p.replay) for p in sofr] == [(5.25, 1, True)]  # not the revision
    assert sofr[0].published_at == dt.datetime(2019, 9, 18, 12, tzinfo=dt.UTC)
    keys = [(p.published_at, p.observation_date, p.series_id) for p in plan.prints]
    assert keys == sorted(keys)  # publication order across sources


def test_weekly_h41_prints_replay_on_their_thursday_release(data_dir: Path) -> None:
    plan = plan_replay(data_dir, ["WRESBAL", "SOFR"], dt.date(2019, 9, 9), dt.date(2019, 9, 20))
    reserves = next(p for p in plan.prints if p.series_id == "WRESBAL" and p.observation_date.day == 11)
    assert reserves.published_at == dt.datetime(2019, 9, 12, 20, 30, tzinfo=dt.UTC)  # Thursday 16:30 NY
    before = [p.key for p in plan.prints[: plan.prints.index(reserves)]]
    assert "SOFR@2019-09-11" in before and "SOFR@2019-09-12" not in before


class FlakyProducer:
    """Takes prints until ``fail_after`` sends, then raises like a broker that went away."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[Print] = []
        self.fail_after = fail_after

    def send(self, record: Print) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError("broker gone")
        self.sent.append(record)

    def flush(self) -> None:
        pass


def test_an_interrupted_replay_resumes_after_the_last_acknowledged_print(
    data_dir: Path, tmp_path: Path
) -> None:
    plan = plan_replay(data_dir, ["SOFR", "IOER"], dt.date(2019, 1, 1), dt.date(2019, 12, 31))
    progress = ReplayProgress.load(tmp_path, plan)
    first = FlakyProducer(fail_after=250)
    with pytest.raises(ConnectionError):
        run_replay(first, plan.prints, None, on_flushed=lambda n: progress.record(plan, n), flush_every=100)  # type: ignore[arg-type]
    resumed = ReplayProgress.load(tmp_path, plan)
    assert resumed.sent == 200 and not resumed.done  # only flushed batches count as sent
    second = FlakyProducer()
    skipped = resumed.sent
    run_replay(second, plan.prints[skipped:], None, on_flushed=lambda n: resumed.record(plan, skipped + n))  # type: ignore[arg-type]
    assert first.sent[:200] + second.sent == list(plan.prints)  # nothing lost; the 50 unacknowledged resent
    assert ReplayProgress.load(tmp_path, plan).done
    other = plan_replay(data_dir, ["SOFR", "IOER"], dt.date(2019, 1, 1), dt.date(2019, 6, 30))
    assert ReplayProgress.load(tmp_path, other).sent == 0  # another window is another replay


def test_saved_progress_that_no_longer_matches_the_plan_starts_over(data_dir: Path, tmp_path: Path) -> None:
    plan = plan_replay(data_dir, ["SOFR", "IOER"], dt.date(2019, 1, 1), dt.date(2019, 3, 31))
    ReplayProgress.load(tmp_path, plan).record(plan, 10)
    assert ReplayProgress.load(tmp_path, plan).sent == 10
    shifted = dataclasses.replace(plan, prints=plan.prints[1:])
    assert ReplayProgress.load(tmp_path, shifted).sent == 0
