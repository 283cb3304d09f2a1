"""Per-partition state checkpoints with a transactional outbox (SQLite).

Why not Faust tables: table recovery reads changelogs up to the broker's end offsets, which the
embedded broker under-reports, and it adds a changelog write per state change. Instead each
partition's state lives in one SQLite file, and every processed message commits, in ONE
transaction, the state it changed and the records it will send (the outbox). Records leave the
outbox when the broker acknowledges them; a worker that starts on the partition first re-sends
whatever is still there. Because the commit happens before Faust acknowledges the message, the
committed consumer offset never passes the checkpoint: after ``kill -9`` the worker re-reads at most
the messages since its last commit, and those are exact repeats, which the engine ignores.

Result: state is exactly-once, output records are at-least-once (a record sent but not yet
acknowledged at the crash is sent again, identical, same key). See docs/architecture.md.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from foundation.records import Signal
from streams.engine import Changes, DetectorState, FundingEngine, Observation

__all__ = ["CheckpointStore", "OutboxRecord", "record_worker_start"]

OutboxRecord = tuple[str, bytes, bytes]  # topic, key, value
_OFFSET_KEY = "input_offset"
_TOPIC_ID_KEY = "input_topic_id"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS observations (
    series TEXT NOT NULL, day TEXT NOT NULL, value REAL NOT NULL, vintage INTEGER NOT NULL,
    replay INTEGER NOT NULL, published_at TEXT NOT NULL, PRIMARY KEY (series, day));
CREATE TABLE IF NOT EXISTS emitted (
    signal TEXT NOT NULL, day TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (signal, day));
CREATE TABLE IF NOT EXISTS detectors (
    signal TEXT NOT NULL, detector TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (signal, detector));
CREATE TABLE IF NOT EXISTS latest_signals (signal TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,
    key BLOB NOT NULL, value BLOB NOT NULL);
"""


#: How long to wait for another process holding a checkpoint file's lock.
_BUSY_TIMEOUT_SECONDS = 30.0


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_SECONDS)
    # WAL + synchronous=NORMAL: a committed transaction survives the process being killed (-9); only
    # an operating-system crash can lose the last few, and those messages are then re-read.
    # Two processes opening a new file at once (workers sharing a host's directory) can get
    # "database is locked" from the journal-mode switch at once: SQLite skips its busy handler
    # there to avoid a deadlock, so the setup is retried here instead.
    deadline = time.monotonic() + _BUSY_TIMEOUT_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
            return connection
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                connection.close()
                raise
            time.sleep(0.05)


class CheckpointStore:
    """The checkpoint file of one partition."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = _connect(path)
        # Acknowledged outbox ids, deleted with the next commit: a DELETE transaction per
        # acknowledged record was the worker's costliest call of its own (7% of a replay). An id
        # acknowledged but not yet deleted when the process dies is sent again (at least once).
        self._acknowledged: list[int] = []

    def close(self) -> None:
        """Close the file (a later store on the same path sees everything committed)."""
        try:
            self._forget_acknowledged()
        finally:
            self._db.close()

    def _forget_acknowledged(self) -> None:
        if self._acknowledged:
            ids, self._acknowledged = self._acknowledged, []
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    # -- funding engine --------------------------------------------------------------------------

    def load_engine(self, engine: FundingEngine) -> None:
        """Fill a fresh engine with the checkpointed state."""
        for series, day, value, vintage, replay, published in self._db.execute(
            "SELECT series, day, value, vintage, replay, published_at FROM observations"
        ):
            engine.observations.setdefault(series, {})[dt.date.fromisoformat(day)] = Observation(
                value, vintage, bool(replay), dt.datetime.fromisoformat(published)
            )
        for signal, day, value in self._db.execute("SELECT signal, day, value FROM emitted"):
            engine.emitted.setdefault(signal, {})[dt.date.fromisoformat(day)] = value
        for signal, record in self._db.execute("SELECT signal, record FROM latest_signals"):
            engine.signals[signal] = Signal.from_json(record)
        for signal, name, state in self._db.execute("SELECT signal, detector, state FROM detectors"):
            current = engine.detectors.get((signal, name))
            if current is not None:  # a detector no longer configured is dropped
                engine.restore_detector(DetectorState.from_json(current.spec, json.loads(state)))
        engine.changes = Changes()

    # -- the input offset the state reflects -----------------------------------------------------

    def offset(self) -> int | None:
        """Offset of the last input message this state includes (None: nothing committed yet)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (_OFFSET_KEY,)).fetchone()
        return None if row is None else int(row[0])

    def topic_id(self) -> str | None:
        """The broker's id of the input topic incarnation :meth:`offset` refers to (None: not known)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (_TOPIC_ID_KEY,)).fetchone()
        return None if row is None else str(row[0])

    def follow_topic(self, topic_id: str) -> bool:
        """Make the checkpoint refer to the input topic with ``topic_id``; True if it was another topic.

        The input topic is the changelog of this state (docs/architecture.md). A checkpoint taken
        on another incarnation of the topic (the broker lost its data and the topic was created
        again, offsets from 0) is emptied: state, outbox and offset. The partition is then derived
        again from whatever the new topic holds (the archive republishes, a replay is run again), so
        every output is sent again onto the new output topics, which lost theirs too. Keeping the
        state instead would make the republished prints no-ops, and their outputs would never reach
        the new topics. A checkpoint that knew no id (written before ids were recorded) only
        records it.
        """
        known = self.topic_id()
        if known == topic_id:
            return False
        self._db.execute("BEGIN")
        try:
            if known is not None:
                for table in ("observations", "emitted", "detectors", "latest_signals", "meta", "outbox"):
                    self._db.execute(f"DELETE FROM {table}")  # the names above, not input
                self._acknowledged = []
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_TOPIC_ID_KEY, topic_id))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return known is not None

    def _set_offset(self, offset: int | None) -> None:
        if offset is not None:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_OFFSET_KEY, str(offset)))

    def commit(
        self, engine: FundingEngine, outputs: Sequence[OutboxRecord], offset: int | None = None
    ) -> list[int]:
        """Persist what the engine changed, the input ``offset`` it now includes, and queue
        ``outputs``, atomically; returns outbox ids."""
        changes = engine.changes
        db = self._db
        db.execute("BEGIN")
        try:
            self._forget_acknowledged()
            self._set_offset(offset)
            for series, day in changes.observations:
                observation = engine.observations.get(series, {}).get(day)
                if observation is None:
                    db.execute(
                        "DELETE FROM observations WHERE series = ? AND day = ?", (series, day.isoformat())
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO observations VALUES (?, ?, ?, ?, ?, ?)",
                        (series, day.isoformat(), observation.value, observation.vintage,
                         int(observation.replay), observation.published_at.isoformat()),
                    )  # fmt: skip
            for signal, day in changes.emitted:
                value = engine.emitted.get(signal, {}).get(day)
                if value is None:
                    db.execute("DELETE FROM emitted WHERE signal = ? AND day = ?", (signal, day.isoformat()))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO emitted VALUES (?, ?, ?)", (signal, day.isoformat(), value)
                    )
            for signal in changes.signals:
                db.execute(
                    "INSERT OR REPLACE INTO latest_signals VALUES (?, ?)",
                    (signal, engine.signals[signal].to_json().decode()),
                )
            for key in changes.detectors:
                state = engine.detectors[key]
                db.execute(
                    "INSERT OR REPLACE INTO detectors VALUES (?, ?, ?)",
                    (key[0], key[1], json.dumps(state.to_json(), allow_nan=False)),
                )
            ids = self._queue(outputs)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        engine.changes = Changes()
        return ids

    # -- JSON blobs (the composite index) --------------------------------------------------------

    def load_blob(self, key: str) -> dict[str, Any] | None:
        """A JSON document stored under ``key``, if any."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def commit_blob(
        self, key: str, document: dict[str, Any], outputs: Sequence[OutboxRecord], offset: int | None = None
    ) -> list[int]:
        """Store a JSON document (and the input ``offset`` it includes), queue ``outputs``, atomically."""
        self._db.execute("BEGIN")
        try:
            self._forget_acknowledged()
            self._set_offset(offset)
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(document, allow_nan=False))
            )
            ids = self._queue(outputs)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return ids

    # -- outbox ----------------------------------------------------------------------------------

    def _queue(self, outputs: Sequence[OutboxRecord]) -> list[int]:
        ids = []
        for topic, key, value in outputs:
            cursor = self._db.execute(
                "INSERT INTO outbox (topic, key, value) VALUES (?, ?, ?)", (topic, key, value)
            )
            ids.append(int(cursor.lastrowid or 0))
        return ids

    def outbox(self) -> list[tuple[int, str, bytes, bytes]]:
        """Records queued but not yet acknowledged by the broker, oldest first."""
        self._forget_acknowledged()
        return [
            (int(i), str(t), bytes(k), bytes(v))
            for i, t, k, v in self._db.execute("SELECT id, topic, key, value FROM outbox ORDER BY id")
        ]

    def delivered(self, outbox_id: int) -> None:
        """The broker acknowledged this record: it leaves the outbox (with the next commit)."""
        self._acknowledged.append(outbox_id)


def record_worker_start(directory: Path) -> int:
    """Count one more worker start in ``directory``; returns the total (survives restarts)."""
    db = _connect(directory / "workers.sqlite")
    try:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT value FROM meta WHERE key = 'starts'").fetchone()
        starts = (int(row[0]) if row else 0) + 1
        db.execute("INSERT OR REPLACE INTO meta VALUES ('starts', ?)", (str(starts),))
        db.execute("COMMIT")
        return starts
    finally:
        db.close()
