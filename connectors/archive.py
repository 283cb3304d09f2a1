"""The print archive: a SQLite file that is the source of truth for every print ever accepted.

Every accepted print is stored, with its vintage, *before* it is produced; ``produced_at`` records
that the broker acknowledged it, so a crash between the two is repaired by producing what is pending.
The key is (series, observation date). A value already known for the key is a repeat and a no-op; a
new value is a revision, stored as the next vintage; nothing is ever overwritten. Values are compared
after the edge rounding of :func:`connectors.base.canonical_value`.

A value equal to *any* earlier vintage counts as a repeat, not only the latest: sources lag each other
(FRED can serve the pre-revision value for hours after the NY Fed revised it), and re-importing an
old history file must not make a print flip back and forth.

A write that fails (a full disk, a read-only file or volume, a write lock held elsewhere, an I/O
error) raises :class:`ArchiveWriteError`, one line naming the file and the cause, after rolling the
whole transaction back: the archive is left as it was, and the caller produces nothing of it.

>>> import datetime as dt
>>> from foundation.records import Print
>>> archive = Archive(":memory:")
>>> sofr = Print("SOFR", dt.date(2019, 9, 17), 5.25, "percent", "nyfed",
...              dt.datetime(2019, 9, 18, 12, tzinfo=dt.UTC))
>>> archive.store(sofr).outcome, archive.store(sofr).outcome
('new', 'repeat')
>>> revised = archive.store(Print("SOFR", dt.date(2019, 9, 17), 5.26, "percent", "nyfed",
...                               dt.datetime(2019, 9, 18, 12, tzinfo=dt.UTC)))
>>> revised.outcome, revised.print.vintage, [p.value for p in archive.vintages("SOFR", dt.date(2019, 9, 17))]
('revision', 2, [5.25, 5.26])
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal

from connectors.base import canonical_value
from foundation.records import DeadLetter, Print
from foundation.settings import Settings

__all__ = [
    "ARCHIVE_ERROR_REASONS",
    "Archive",
    "ArchiveWriteError",
    "ArchivedDeadLetter",
    "Stored",
    "default_archive_path",
]

#: Why a write to the archive failed (the ``reason`` label of ``plumbline_connector_archive_errors``):
#: ``disk_full`` (SQLITE_FULL, no space left), ``read_only`` (the file or its volume refuses writes),
#: ``locked`` (another process held the write lock past the timeout), ``io_error`` (anything else).
ARCHIVE_ERROR_REASONS = ("disk_full", "read_only", "locked", "io_error")
_EXPLAINED = {
    "disk_full": "the disk is full",
    "read_only": "the file or its volume is read-only",
    "locked": "another process holds its write lock",
    "io_error": "the write failed",
}

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prints (
    series_id TEXT NOT NULL,
    observation_date TEXT NOT NULL,
    vintage INTEGER NOT NULL CHECK (vintage >= 1),
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    source TEXT NOT NULL,
    published_at TEXT NOT NULL,
    replay INTEGER NOT NULL,
    archived_at TEXT NOT NULL,
    produced_at TEXT,
    PRIMARY KEY (series_id, observation_date, vintage)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS prints_pending ON prints (archived_at) WHERE produced_at IS NULL;
CREATE INDEX IF NOT EXISTS prints_published ON prints (published_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    error TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL,
    produced_at TEXT
);
"""
_PRINT_COLUMNS = "series_id, observation_date, vintage, value, unit, source, published_at, replay"
_SELECT_KEY = (
    f"SELECT {_PRINT_COLUMNS} FROM prints WHERE series_id = ? AND observation_date = ? ORDER BY vintage"
)


class ArchiveWriteError(RuntimeError):
    """A write to the archive failed and was rolled back; ``reason`` is one of :data:`ARCHIVE_ERROR_REASONS`.

    >>> str(ArchiveWriteError("/state/archive.sqlite3", "disk_full", "database or disk is full"))
    'archive /state/archive.sqlite3 cannot be written: the disk is full (database or disk is full)'
    """

    def __init__(self, path: str | Path, reason: str, detail: str) -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = " ".join(detail.split())
        super().__init__(f"archive {self.path} cannot be written: {_EXPLAINED[reason]} ({self.detail})")


def _diagnose(path: str | Path, exc: BaseException) -> str:
    """Which of :data:`ARCHIVE_ERROR_REASONS` ``exc`` (from SQLite or the OS) stands for.

    SQLite names a full disk (``SQLITE_FULL``), a read-only database and a held lock, but reports a
    write the operating system refused, or a file it could not open, only as an I/O error: for those
    the file system is asked (read-only mount, files that refuse to open for writing, no free space).
    """
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return "disk_full"
        return "read_only" if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else "io_error"
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL":
        return "disk_full"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "locked"
    if name.startswith("SQLITE_READONLY"):
        return "read_only"
    if str(path) == ":memory:":
        return "io_error"
    file = Path(path)
    try:
        volume = os.statvfs(file.parent)
    except OSError:
        return "io_error"
    if volume.f_flag & os.ST_RDONLY:
        return "read_only"
    for candidate in (file, Path(f"{file}-wal")):
        try:
            os.close(os.open(candidate, os.O_WRONLY))
        except FileNotFoundError:
            continue
        except OSError as refused:
            if refused.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                return "read_only"
    # Reserved blocks keep root writing on a "full" ext4: count what anyone may use, with a margin.
    if volume.f_bavail * volume.f_frsize < 64 * 1024:
        return "disk_full"
    return "io_error"


def default_archive_path(settings: Settings) -> Path:
    """``PLUMBLINE_ARCHIVE_PATH``, else ``<state_dir>/archive.sqlite3``."""
    return settings.archive_path or settings.state_dir / "archive.sqlite3"


@dataclasses.dataclass(frozen=True)
class Stored:
    """What storing one print did: ``new`` (vintage 1), ``revision`` (a new vintage) or ``repeat``."""

    outcome: Literal["new", "revision", "repeat"]
    print: Print


@dataclasses.dataclass(frozen=True)
class ArchivedDeadLetter:
    """A dead letter with its archive id (for marking it produced)."""

    id: int
    record: DeadLetter


def _print_from_row(row: Sequence[object]) -> Print:
    series_id, day, vintage, value, unit, source, published, replay = row
    return Print(
        series_id=str(series_id),
        observation_date=dt.date.fromisoformat(str(day)),
        value=float(value),  # type: ignore[arg-type]
        unit=str(unit),
        source=str(source),
        published_at=dt.datetime.fromisoformat(str(published)),
        vintage=int(vintage),  # type: ignore[call-overload]
        replay=bool(replay),
    )


def _utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


class Archive:
    """The SQLite print archive (``":memory:"`` for tests). Not shared between threads."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the archive; :class:`ArchiveWriteError` if it cannot be written."""
        self.path = path
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: every write below opens its own explicit transaction.
            self._db = sqlite3.connect(str(path), isolation_level=None)
        except (OSError, sqlite3.OperationalError) as exc:
            raise ArchiveWriteError(path, _diagnose(path, exc), _detail(exc)) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged store survives a power cut
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(_SCHEMA_VERSION),))
        except sqlite3.OperationalError as exc:
            self._db.close()
            raise ArchiveWriteError(path, _diagnose(path, exc), _detail(exc)) from None
        if row is not None and int(row[0]) != _SCHEMA_VERSION:
            self._db.close()
            raise RuntimeError(
                f"{path}: archive schema version {row[0]}, this plumbline reads {_SCHEMA_VERSION}"
            )

    @classmethod
    def open(cls, settings: Settings) -> Archive:
        """The archive at :func:`default_archive_path`."""
        return cls(default_archive_path(settings))

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # Prints -------------------------------------------------------------------------------------

    def store(self, record: Print, *, known_at: dt.datetime | None = None) -> Stored:
        """Store ``record`` (validated again here) unless its value is already known for its key.

        The archive numbers vintages itself; ``record.vintage`` is ignored. A revision is published
        no earlier than ``known_at`` (when it was seen) and than the vintage it revises.
        """
        return self.store_many([record], known_at=known_at)[0]

    def store_many(self, records: Iterable[Print], *, known_at: dt.datetime | None = None) -> list[Stored]:
        """:meth:`store` for many prints in one transaction (all or nothing)."""
        records = list(records)
        for record in records:
            record.validate()  # before the transaction: one bad print stores nothing of the batch
        archived_at = _utc_text(dt.datetime.now(dt.UTC))
        out: list[Stored] = []
        with self._transaction():
            for record in records:
                out.append(self._store_one(record, known_at, archived_at))
        return out

    def _store_one(self, record: Print, known_at: dt.datetime | None, archived_at: str) -> Stored:
        value = canonical_value(record.value, record.unit)
        day = record.observation_date.isoformat()
        rows = self._db.execute(
            _SELECT_KEY,
            (record.series_id, day),
        ).fetchall()
        known = [_print_from_row(row) for row in rows]
        for previous in known:
            if previous.value == value:
                return Stored("repeat", previous)
        published = record.published_at
        if known:
            published = max([published, known[-1].published_at] + ([known_at] if known_at else []))
        stored = dataclasses.replace(
            record, value=value, vintage=len(known) + 1, published_at=published.astimezone(dt.UTC)
        )
        self._db.execute(
            f"INSERT INTO prints ({_PRINT_COLUMNS}, archived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                stored.series_id, day, stored.vintage, stored.value, stored.unit, stored.source,
                _utc_text(stored.published_at), int(stored.replay), archived_at,
            ),
        )  # fmt: skip
        return Stored("new" if stored.vintage == 1 else "revision", stored)

    def vintages(self, series_id: str, day: dt.date) -> list[Print]:
        """Every vintage of one key, oldest first."""
        rows = self._db.execute(
            _SELECT_KEY,
            (series_id, day.isoformat()),
        ).fetchall()
        return [_print_from_row(row) for row in rows]

    def has(self, series_id: str, day: dt.date) -> bool:
        """Whether any vintage of (series, day) is archived."""
        row = self._db.execute(
            "SELECT 1 FROM prints WHERE series_id = ? AND observation_date = ? LIMIT 1",
            (series_id, day.isoformat()),
        ).fetchone()
        return row is not None

    def last_observation_date(self, series_id: str) -> dt.date | None:
        """The newest observation date archived for a series."""
        row = self._db.execute(
            "SELECT MAX(observation_date) FROM prints WHERE series_id = ?", (series_id,)
        ).fetchone()
        return dt.date.fromisoformat(row[0]) if row and row[0] else None

    def iter_prints(
        self, series: Iterable[str] | None = None, since: dt.date | None = None
    ) -> Iterator[Print]:
        """Every vintage, in publication order (then date, series, vintage): the order to re-send."""
        query = f"SELECT {_PRINT_COLUMNS} FROM prints WHERE 1 = 1"
        params: list[object] = []
        if series is not None:
            chosen = sorted(set(series))
            query += f" AND series_id IN ({', '.join('?' for _ in chosen)})"
            params.extend(chosen)
        if since is not None:
            query += " AND observation_date >= ?"
            params.append(since.isoformat())
        query += " ORDER BY published_at, observation_date, series_id, vintage"
        for row in self._db.execute(query, params):
            yield _print_from_row(row)

    def pending(self) -> list[Print]:
        """Archived prints the broker has not acknowledged yet, in publication order.

        History (``replay`` prints from ``plumbline fetch``) is left out: it reaches the topic only
        when asked for, through ``plumbline republish``.
        """
        query = (
            f"SELECT {_PRINT_COLUMNS} FROM prints WHERE produced_at IS NULL AND replay = 0"
            " ORDER BY published_at, observation_date, series_id, vintage"
        )
        return [_print_from_row(row) for row in self._db.execute(query)]

    def mark_produced(self, records: Iterable[Print], at: dt.datetime | None = None) -> None:
        """Record that the broker acknowledged these vintages."""
        when = _utc_text(at or dt.datetime.now(dt.UTC))
        rows = [(when, p.series_id, p.observation_date.isoformat(), p.vintage) for p in records]
        with self._transaction():
            self._db.executemany(
                "UPDATE prints SET produced_at = ? "
                "WHERE series_id = ? AND observation_date = ? AND vintage = ?",
                rows,
            )

    def counts(self) -> dict[str, int]:
        """Distinct observation dates archived per series."""
        rows = self._db.execute(
            "SELECT series_id, COUNT(DISTINCT observation_date) FROM prints "
            "GROUP BY series_id ORDER BY series_id"
        ).fetchall()
        return {str(series_id): int(count) for series_id, count in rows}

    def total_vintages(self) -> int:
        """Number of archived (series, date, vintage) rows."""
        return int(self._db.execute("SELECT COUNT(*) FROM prints").fetchone()[0])

    # Dead letters -------------------------------------------------------------------------------

    def store_dead_letter(self, record: DeadLetter) -> bool:
        """Keep a dead letter once (the same bad record seen on every poll is stored once)."""
        fingerprint = hashlib.sha256(
            "\x1f".join((record.topic, record.reason, record.error, record.payload)).encode()
        ).hexdigest()
        with self._transaction():
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO dead_letters "
                "(fingerprint, topic, reason, error, payload, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    fingerprint,
                    record.topic,
                    record.reason,
                    record.error,
                    record.payload,
                    _utc_text(record.received_at),
                ),
            )
        return cursor.rowcount == 1

    def dead_letters(self, *, pending_only: bool = False) -> list[ArchivedDeadLetter]:
        """Archived dead letters, oldest first."""
        query = "SELECT id, topic, reason, error, payload, received_at FROM dead_letters"
        if pending_only:
            query += " WHERE produced_at IS NULL"
        out: list[ArchivedDeadLetter] = []
        for row_id, topic, reason, error, payload, received in self._db.execute(query + " ORDER BY id"):
            record = DeadLetter(topic, reason, error, payload, dt.datetime.fromisoformat(received))
            out.append(ArchivedDeadLetter(int(row_id), record))
        return out

    def mark_dead_letters_produced(self, ids: Iterable[int], at: dt.datetime | None = None) -> None:
        """Record that the broker acknowledged these dead letters."""
        when = _utc_text(at or dt.datetime.now(dt.UTC))
        with self._transaction():
            self._db.executemany(
                "UPDATE dead_letters SET produced_at = ? WHERE id = ?", [(when, i) for i in ids]
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self.path)


def _detail(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc.strerror or exc)
    return str(exc)


class _Transaction:
    """``BEGIN IMMEDIATE`` .. ``COMMIT``, or a rollback; a failed write becomes :class:`ArchiveWriteError`.

    On a full disk or an I/O error SQLite may already have rolled the transaction back itself (then
    a ``ROLLBACK`` would fail and hide the cause); a failed ``COMMIT`` leaves it open. Either way the
    connection ends outside any transaction, ready for the next write.
    """

    def __init__(self, db: sqlite3.Connection, path: str | Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._failed(exc) from None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as failed:
                self._rollback()
                raise self._failed(failed) from None
            return
        self._rollback()
        if isinstance(exc, sqlite3.OperationalError):
            raise self._failed(exc) from None

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # nothing was committed either way
                self._db.execute("ROLLBACK")

    def _failed(self, exc: sqlite3.OperationalError) -> ArchiveWriteError:
        return ArchiveWriteError(self._path, _diagnose(self._path, exc), _detail(exc))
