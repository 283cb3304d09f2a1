"""``plumbline score`` and ``plumbline evaluate``: the command line over the detector library."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from foundation.settings import load_settings
from offline.evaluation import (
    EVALUATED_SIGNALS,
    GENERATED_BEGIN,
    GENERATED_END,
    evaluate,
    history_prints,
    render_markdown,
    score_alarms,
    signal_series,
    write_generated_section,
)
from plumbline.commands import evaluate as evaluate_command
from plumbline.commands import score as score_command
from streams.inprocess import run_in_process


def score(tmp_path: Path, text: str, *extra: str) -> tuple[int, str]:
    source = tmp_path / "in.csv"
    source.write_text(text)
    output = tmp_path / "out.csv"
    parser = argparse.ArgumentParser()
    score_command.register(parser.add_subparsers())
    args = parser.parse_args(["score", str(source), "--output", str(output), *extra])
    code = args.func(args, load_settings(env={}))
    return code, output.read_text() if output.exists() else ""


def test_score_writes_one_row_per_input_row_in_order(tmp_path: Path) -> None:
    text = (
        "timestamp,value\n2019-09-13,5\n2019-09-16T00:00:00Z,10\n2019-09-17,315\n"
        "2019-09-18 00:00,45\n2019-09-19,\n"
    )
    code, out = score(tmp_path, text, "--detector", "persistence_threshold", "--param", "enter_level=5",
                      "--param", "exit_level=2")  # fmt: skip
    assert code == 0
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["timestamp", "score", "alarm", "state"]
    assert [r[0] for r in rows[1:]] == [
        "2019-09-13",
        "2019-09-16T00:00:00Z",
        "2019-09-17",
        "2019-09-18 00:00",
        "2019-09-19",
    ]
    assert [r[3] for r in rows[1:]] == ["0", "0", "1", "1", "1"]  # state: on while the episode lasts
    assert [r[2] for r in rows[1:]] == ["0", "0", "1", "0", "0"]  # alarm: the row that pages
    assert float(rows[3][1]) == pytest.approx(0.6)


def test_score_runs_every_detector_on_a_real_series(
    tmp_path: Path, spread_history: list[tuple[dt.date, float]]
) -> None:
    text = "timestamp,value\n" + "".join(f"{d},{v}\n" for d, v in spread_history if d.year == 2019)
    for name in ("robust_zscore", "bocpd", "half_space_trees", "funding_stress_index"):
        code, out = score(tmp_path, text, "--detector", name)
        assert code == 0
        rows = list(csv.DictReader(out.splitlines()))
        assert len(rows) == text.count("\n") - 1
        assert {row["alarm"] for row in rows} <= {"0", "1"}


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        ("date,value\n2019-01-02,1\n", [], "header must be 'timestamp,value'"),
        ("timestamp,value\n2019-13-40,1\n", [], "line 2: timestamp '2019-13-40' is not an ISO date"),
        ("timestamp,value\n2019-01-02,abc\n", [], "line 2: value 'abc' is not a number"),
        ("timestamp,value\n2019-01-02,1,2\n", [], "line 2: expected 2 fields"),
        ("timestamp,value\n", ["--param", "window=1"], "bad --param for robust_zscore"),
        ("timestamp,value\n", ["--param", "nonsense=1"], "bad --param for robust_zscore"),
        ("timestamp,value\n", ["--param", "novalue"], "expected KEY=VALUE"),
    ],
)
def test_bad_input_gives_one_clear_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, extra: list[str], message: str
) -> None:
    code, out = score(tmp_path, text, "--detector", "robust_zscore", *extra)
    err = capsys.readouterr().err
    assert code == 2
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_score_list_shows_every_detector_and_its_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    score_command.register(parser.add_subparsers())
    args = parser.parse_args(["score", "--list"])
    assert args.func(args, load_settings(env={})) == 0
    out = capsys.readouterr().out
    for name in ("persistence_threshold", "robust_zscore", "bocpd", "adwin", "funding_stress_index"):
        assert f"{name} (" in out
    assert "    expected_run_length=250.0" in out


def test_signals_derive_from_the_data_with_known_values_and_holes(series_dir: Path) -> None:
    notes: list[str] = []
    run = run_in_process(history_prints(series_dir, notes), {})
    signals, hole_notes = signal_series(run.signals, EVALUATED_SIGNALS)
    notes += hole_notes
    spread = signals["sofr_iorb_spread_bp"].values
    assert spread[dt.date(2019, 9, 17).isoformat()] == 315.0  # IOER 2.10 that day
    assert spread[dt.date(2025, 10, 31).isoformat()] == 32.0  # IORB 3.90
    assert {"onrrp_usd_bn", "reserves_usd_bn", "tga_usd_bn", "dgs10_target_top_spread_bp"} <= set(signals)
    assert any("sofr99_iorb_spread_bp: no data 2023-12-15" in note for note in notes)


def test_episode_lead_lag_and_calm_false_alarms_are_counted_in_business_days() -> None:
    days = [dt.date(2018, 1, 2) + dt.timedelta(days=i) for i in range(3000)]
    alarms = {
        d: d in (dt.date(2019, 9, 18), dt.date(2021, 6, 1), dt.date(2021, 6, 2), dt.date(2022, 2, 1))
        for d in days
    }
    row = score_alarms("s", "d", {}, alarms)
    assert row.episodes["repo_spike_2019"] == 2
    assert row.episodes["dash_for_cash_2020"] is None
    assert row.calm_alarms_per_year == pytest.approx(
        2 / ((dt.date(2023, 5, 31) - dt.date(2021, 1, 4)).days / 365.25)
    )


def test_evaluating_defaults_detects_2019_and_writes_a_rerunnable_section(
    series_dir: Path, tmp_path: Path
) -> None:
    result = evaluate(series_dir, defaults_only=True)
    spread_row = next(r for r in result.rows if r.signal == "sofr_iorb_spread_bp")
    assert spread_row.default and isinstance(spread_row.episodes["repo_spike_2019"], int)
    always = next(r for r in result.rows if r.detector == "always alarm")
    assert always.detected == 4 and always.calm_alarms_per_year == 0.0
    doc = tmp_path / "detectors.md"
    doc.write_text("# Detectors\n\nhand-written intro\n")
    section = render_markdown(result)
    # Only figures from the data: a run that took another time renders the same text.
    assert render_markdown(dataclasses.replace(result, defaults_seconds=123.0)) == section
    write_generated_section(doc, section)
    write_generated_section(doc, section)
    text = doc.read_text()
    assert text.count(GENERATED_BEGIN) == 1 and text.count(GENERATED_END) == 1
    assert text.startswith("# Detectors\n\nhand-written intro\n")


def test_evaluate_without_a_data_directory_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(defaults_only=True)
    assert evaluate_command.run(args, load_settings(env={})) == 2
    assert "set PLUMBLINE_DATA_DIR" in capsys.readouterr().err
