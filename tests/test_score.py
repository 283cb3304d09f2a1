"""``plumbline score`` reads the timestamps people have, pages once per episode and never half-writes.

The output contract (docs/detectors.md): ``timestamp,score,alarm,state``; ``alarm`` is 1 on the row
where an alarm episode starts, ``state`` 1 while it lasts.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import pytest

from foundation.settings import load_settings
from plumbline.commands import score as score_command
from tests.conftest import REPO_ROOT
from tests.detectors.test_score_and_evaluate_commands import score as score_text


def score(tmp_path: Path, text: str, *extra: str) -> tuple[int, list[dict[str, str]]]:
    """``plumbline score`` on ``text``: the exit code and the output rows (none when no file)."""
    code, output = score_text(tmp_path, text, *extra)
    return code, list(csv.DictReader(output.splitlines()))


def csv_text(timestamps: list[str], values: list[float]) -> str:
    return "timestamp,value\n" + "".join(f"{t},{v}\n" for t, v in zip(timestamps, values, strict=True))


# A calm stretch, then a step of 10 noise units that stays: every detector kind should see it.
CALM_THEN_STEP = [0.1 * ((i * 7) % 11 - 5) for i in range(80)] + [
    10.0 + 0.1 * ((i * 7) % 11 - 5) for i in range(40)
]


@pytest.mark.parametrize(
    ("timestamps", "time_format", "calendar_on"),
    [
        ([f"{1871 + i}" for i in range(120)], "year", False),
        ([f"{2000 + i // 12}-{i % 12 + 1:02d}" for i in range(120)], "year-month", False),
        ([f"{1990 + i // 4}Q{i % 4 + 1}" for i in range(120)], "year-quarter", False),
        ([f"{1990 + i // 4}-Q{i % 4 + 1}" for i in range(120)], "year-quarter", False),
        ([str(i) for i in range(120)], "index", False),
        ([str(1_600_000_000 + 3600 * i) for i in range(120)], "epoch", False),
        ([f"2024-01-{1 + i // 24:02d}T{i % 24:02d}:00:00+05:00" for i in range(120)], "iso-datetime", False),
        ([f"2024-01-{1 + i // 24:02d} {i % 24:02d}:30" for i in range(120)], "iso-datetime", False),
    ],
)
def test_every_timestamp_kind_is_read_and_scored(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    timestamps: list[str],
    time_format: str,
    calendar_on: bool,
) -> None:
    text = csv_text(timestamps, CALM_THEN_STEP)
    assert score_command.read_timeline(timestamps).time_format == time_format
    code, rows = score(tmp_path, text, "--detector", "robust_zscore")
    assert code == 0
    assert [r["timestamp"] for r in rows] == timestamps
    assert sum(int(r["alarm"]) for r in rows[80:85]) == 1, "the step pages within five rows"
    assert sum(int(r["alarm"]) for r in rows[:80]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "calendar effects off" in err[0]
    code, explicit = score(tmp_path, text, "--detector", "robust_zscore", "--time-format", time_format)
    assert code == 0 and explicit == rows


def test_business_day_dates_get_the_calendar_and_other_dates_do_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    business_days = score_command.read_timeline(["2019-09-13", "2019-09-16", "2019-09-17", "2019-09-18"])
    assert business_days.calendar_off_reason is None
    every_day = [f"2024-03-{day:02d}" for day in range(1, 29)]
    assert "weekends or US bond-market holidays" in str(
        score_command.read_timeline(every_day).calendar_off_reason
    )
    weekly = [f"2024-{1 + i // 4:02d}-{1 + 7 * (i % 4):02d}" for i in range(12)]
    assert "not daily" in str(score_command.read_timeline(weekly).calendar_off_reason)
    midnight_epochs = [str(1_568_592_000 + 86400 * i) for i in (0, 1, 2, 3)]  # 2019-09-16 .. 19, Mon-Thu
    assert score_command.read_timeline(midnight_epochs).calendar_off_reason is None
    code, _ = score(tmp_path, csv_text(["2019-09-13", "2019-09-16"], [1.0, 2.0]), "--detector", "cusum")
    assert code == 0 and capsys.readouterr().err == ""


def test_wide_spacings_reach_detectors_as_steps_so_gaps_keep_their_meaning() -> None:
    years = score_command.read_timeline(["1871", "1872", "1874"])
    assert [t / 86400 for t in years.detector_timestamps] == [1871.0, 1872.0, 1874.0]
    daily = score_command.read_timeline(["2019-09-16", "2019-09-17"])
    assert daily.detector_timestamps == [1568592000.0, 1568678400.0]  # POSIX seconds, as in the worker


def test_alarm_pages_once_per_episode_and_state_lasts(tmp_path: Path) -> None:
    values = [0.0] * 10 + [9.0] * 6 + [0.0] * 10 + [9.0] * 6
    timestamps = [str(i) for i in range(len(values))]
    code, rows = score(
        tmp_path, csv_text(timestamps, values), "--detector", "persistence_threshold",
        "--param", "enter_level=5", "--param", "k=2", "--param", "n=3",
    )  # fmt: skip
    assert code == 0
    states = [int(r["state"]) for r in rows]
    alarms = [int(r["alarm"]) for r in rows]
    assert sum(states) > 2 * sum(alarms)
    assert alarms == score_command.onsets([bool(s) for s in states])
    assert [i for i, a in enumerate(alarms) if a] == [11, 27]


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        ("timestamp,value\n2019-01-03,1\n2019-01-02,2\n", [], "line 3: timestamp '2019-01-02' comes before"),
        ("timestamp,value\n2019-01-02,1\n2019-01-02,2\n", [], "line 3: timestamp '2019-01-02' repeats"),
        ("timestamp,value\n1871,1\n1871,2\n", [], "timestamps must strictly increase"),
        ("timestamp,value\n5,1\n3,2\n", [], "line 3: timestamp '3' comes before"),
        (
            "timestamp,value\n2019-01-02,1\nyesterday,2\n",
            [],
            "line 3: timestamp 'yesterday' is not like line 2",
        ),
        ("timestamp,value\n2014Q1,1\n2014Q5,2\n", [], "line 3"),
        ("timestamp,value\n2019-01-02,1\n", ["--time-format", "year"], "is not one of years"),
        (
            "timestamp,value\n1,1\n",
            ["--param", "min_scales=[1]", "--detector", "funding_stress_index"],
            "bad --param for funding_stress_index",
        ),
    ],
)
def test_bad_timestamps_give_one_line_exit_2_and_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, extra: list[str], message: str
) -> None:
    output = tmp_path / "out.csv"
    output.write_text("previous result\n")
    code, _ = score(tmp_path, text, "--detector", "robust_zscore", *extra)
    err = capsys.readouterr().err
    assert code == 2
    assert output.read_text() == "previous result\n", "a failed run leaves the old output alone"
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob(".plumbline-score-*"))


def test_unwritable_output_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("timestamp,value\n1,1\n2,2\n")
    parser = argparse.ArgumentParser()
    score_command.register(parser.add_subparsers())
    args = parser.parse_args(
        ["score", str(source), "--detector", "cusum", "--output", str(tmp_path / "no" / "o.csv")]
    )
    assert args.func(args, load_settings(env={})) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and len(err.strip().splitlines()) == 1


def test_command_line_never_shows_a_traceback_for_bad_input(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"timestamp,value\n\xff\xfe,1\n")
    output = tmp_path / "out.csv"
    result = subprocess.run(
        [sys.executable, "-m", "plumbline", "score", str(source), "--detector", "cusum", "--output", output],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not output.exists()
