"""The committed generated documents are what ``plumbline generate`` produces from the code and data now.

Generation runs once per session, in memory (about 30 s: the evaluation of every candidate detector,
and the alert rules evaluated by a temporary Prometheus on a free loopback port); nothing in the
working tree is written. Marked e2e: it needs the prometheus and promtool binaries.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
from pathlib import Path

import pytest

from foundation.settings import load_settings
from offline import documents
from offline.documents import Document, generate_documents
from offline.evaluation import GENERATED_BEGIN, GENERATED_END
from plumbline.commands import generate as generate_command
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

RERUN = "rerun `PLUMBLINE_DATA_DIR=../shared/data/series .venv/bin/plumbline generate` (or `make generate`)"


@pytest.fixture(scope="session")
def generated(data_dir: Path) -> list[Document]:
    return generate_documents(data_dir, REPO_ROOT)


def _diff(document: Document, lines: int = 30) -> str:
    committed = document.path.read_text().splitlines() if document.path.is_file() else []
    diff = difflib.unified_diff(
        committed, document.text.splitlines(), f"committed {document.name}", "generated", lineterm="", n=1
    )
    return "\n".join(list(diff)[:lines])


def test_every_committed_generated_document_is_current(generated: list[Document]) -> None:
    assert {d.name for d in generated} == {
        "docs/detectors.md", "docs/backtest.md", "deploy/prometheus/BACKTEST.md",
    }  # fmt: skip
    stale = [d for d in generated if not d.is_current()]
    assert not stale, (
        f"{', '.join(d.name for d in stale)} differ from what the code and data now give; {RERUN} "
        "and commit the result.\n" + "\n\n".join(_diff(d) for d in stale)
    )


def test_generated_sections_keep_the_hand_written_text_around_them(generated: list[Document]) -> None:
    for document in generated:
        if document.name == "deploy/prometheus/BACKTEST.md":
            continue
        text = document.text
        assert text.count(GENERATED_BEGIN) == 1 and text.count(GENERATED_END) == 1, document.name
        committed = document.path.read_text()
        assert text[: text.index(GENERATED_BEGIN)] == committed[: committed.index(GENERATED_BEGIN)]
        assert text[text.index(GENERATED_END) :] == committed[committed.index(GENERATED_END) :]
    backtest = next(d.text for d in generated if d.name == "docs/backtest.md")
    section = backtest[backtest.index(GENERATED_BEGIN) : backtest.index(GENERATED_END)]
    assert "plumbline backtest --from 2018-04-01 --to " in section and " prints, " in section
    assert "| signal | detector | repo_spike_2019" in section


def _in_tree(generated: list[Document], root: Path) -> list[Document]:
    """The generated documents, aimed at a copy of the committed ones under ``root``."""
    out = []
    for document in generated:
        path = root / document.name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(document.path, path)
        out.append(Document(document.name, path, document.text))
    return out


def test_check_lists_each_stale_document_and_writes_nothing_then_generate_fixes_it(
    generated: list[Document],
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copies = _in_tree(generated, tmp_path)
    stale = copies[1]
    stale.path.write_text(stale.path.read_text().replace(" prints, ", " prints (old), ", 1))
    before = {d.name: d.path.read_text() for d in copies}
    monkeypatch.setattr(documents, "generate_documents", lambda data_dir: copies)
    settings = load_settings(env={}, data_dir=data_dir)

    assert generate_command.run(argparse.Namespace(check=True), settings) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [f"differs: {stale.name}"]
    assert "plumbline generate" in out.err
    assert {d.name: d.path.read_text() for d in copies} == before

    assert generate_command.run(argparse.Namespace(check=False), settings) == 0
    assert f"wrote: {stale.name}" in capsys.readouterr().out
    assert generate_command.run(argparse.Namespace(check=True), settings) == 0


def test_generate_without_a_data_directory_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert generate_command.run(argparse.Namespace(check=True), load_settings(env={})) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "set PLUMBLINE_DATA_DIR" in err
