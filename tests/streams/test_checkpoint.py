"""Checkpoint files opened by more than one process at once."""

from __future__ import annotations

import multiprocessing
import tempfile
from pathlib import Path

from streams.checkpoint import record_worker_start


def _start(directory: str) -> int:
    return record_worker_start(Path(directory))


def test_two_workers_opening_a_new_directory_at_once_both_start() -> None:
    # Workers sharing a host's state directory open workers.sqlite at the same instant. Without a
    # retry, SQLite's journal-mode switch failed with "database is locked" in about 1 pair in 10
    # here, and the worker died at start (a CI failure of the two-worker test).
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        for _ in range(60):
            directory = tempfile.mkdtemp()
            assert sorted(pool.map(_start, [directory, directory])) == [1, 2]
