"""The pipeline benchmark (``make bench``) runs end to end on a few weeks of history, so it cannot rot.

A smoke run: the real broker, workers, Prometheus, Alertmanager and webhook receiver, one repetition
of everything, no timing assertion. It checks that every figure of docs/benchmarks.md is produced
and finite, that every process it started is gone, and that the document renders.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest

from benchmarks import pipeline

pytestmark = pytest.mark.e2e


def _children() -> set[int]:
    """Pids of this process's live children (the benchmark must leave none behind)."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(status.parent.name))
    return found


def test_the_pipeline_benchmark_produces_every_figure_and_renders(data_dir: Path, tmp_path: Path) -> None:
    before = _children()
    report = pipeline.run_benchmarks(
        pipeline.Config.smoke_run(), data_dir, tmp_path / "work", say=lambda line: None
    )

    figures = report.figures()
    not_finite = {name: value for name, value in figures.items() if not math.isfinite(value)}
    assert not not_finite, f"figures not measured: {not_finite}"
    assert {"adwin", "page_hinkley", "kswin", "half_space_trees"} <= {row[0] for row in report.wrappers}
    assert len(report.latency.samples) == 1
    assert len(report.two_workers.rss_after_bytes) == 2
    assert sum(report.two_workers.prints_in) >= report.two_workers.prints
    assert report.profile.in_process_top
    assert _children() <= before, "the benchmark left processes running"

    text = pipeline.render(report)
    for heading in (
        "## Machine and versions",
        "## Targets",
        "## Ceilings on the broker",
        "## Full pipeline, end to end",
        "## One worker against two",
        "## In-process engine",
        "## Print-to-page latency",
        "## Worker memory",
        "## Detector wrappers against raw River",
        "## Where the time goes",
        "## Projection: 10,000 series over 20 years (on paper)",
    ):
        assert heading in text
    assert not re.search(r"\bnan\b|\binf\b", text), "a figure rendered as nan or inf"
    assert "SMOKE RUN" in text


def test_a_missing_data_directory_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert pipeline.main(["--smoke", "--data-dir", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PLUMBLINE_DATA_DIR" in err[0]
