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


def test_acknowledged_records_leave_the_outbox_with_the_next_commit(tmp_path: Path) -> None:
    from streams.checkpoint import CheckpointStore

    store = CheckpointStore(tmp_path / "p.sqlite")
    ids = store.commit_blob("k", {"n": 1}, [("t", b"a", b"1"), ("t", b"b", b"2")], offset=0)
    store.delivered(ids[0])
    # Reopened before any commit (a kill -9): the acknowledged record is still queued and is sent
    # again, at least once; nothing unacknowledged is ever dropped.
    assert [i for i, *_ in CheckpointStore(tmp_path / "p.sqlite").outbox()] == ids
    store.commit_blob("k", {"n": 2}, [], offset=1)
    assert [i for i, *_ in CheckpointStore(tmp_path / "p.sqlite").outbox()] == ids[1:]
    store.delivered(ids[1])
    store.close()  # closing flushes the acknowledgements too
    assert CheckpointStore(tmp_path / "p.sqlite").outbox() == []
