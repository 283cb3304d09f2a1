"""Fault: the archive cannot be written (disk full, read-only). What plumbline does: produces nothing.

The connector service runs its real poll loop (``ConnectorService.run`` in a thread, polling every
second) against a local HTTP stand-in of the NY Fed and the real embedded broker, with its
``/metrics`` and ``/readyz`` endpoint up. A first poll archives and produces one day of SOFR prints.
Then the archive's storage fails and the stand-in publishes two more days: each poll that fetched
them must fail its archive write, say so in one log line (no traceback), count
``plumbline_connector_archive_errors_total{reason}``, turn ``/readyz`` to 503, and put nothing on the
prints topic. The process keeps polling. Once the storage recovers, the next poll archives and
produces those prints, each key exactly once on the topic. With an archive path on a read-only
volume, ``plumbline connectors run --once`` and ``plumbline fetch`` end with one line and exit 1.

How the faults are made real (tests run as root, where permission bits stop nothing):

* **disk full**: the archive lives on its own tmpfs of 1 MiB; a filler file takes every free
  byte. SQLite's next WAL append gets ENOSPC from the kernel and reports ``SQLITE_FULL``, exactly as
  on a full disk; deleting the filler is the recovery.
* **read-only under a running process**: ``chattr +i`` on the archive file and its WAL (ext4 and
  most disk file systems). Remounting a volume read-only is refused while a process holds a file on
  it open for writing (EBUSY: the live connector always does), and a kernel that remounts a failing
  disk read-only does so without asking; the immutable flag is the honest stand-in: the kernel
  refuses every write on the already-open descriptors (EPERM where a read-only volume says EROFS;
  SQLite reports both as ``SQLITE_IOERR_WRITE``), and ``chattr -i`` is the recovery.
* **read-only at start** (the CLI): a tmpfs mounted ``ro``, a real read-only volume.

Both need root with CAP_SYS_ADMIN / CAP_LINUX_IMMUTABLE (``make test`` runs as root); elsewhere the
tests skip with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import http.server
import json
import logging
import os
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.archive import Archive
from connectors.service import ConnectorService
from foundation.records import Print
from foundation.settings import Settings
from plumbline.cli import main
from plumbline.connector_metrics import ConnectorEndpoint, connector_registry
from tests.conftest import serving
from tests.connectors.test_telemetry import http_get
from tests.faults.harness import read_topic, wait_for

pytestmark = pytest.mark.e2e

SOFR_PATH = "/api/rates/secured/sofr/search.json"
FIRST_DAY = "2019-09-16"
WAIT_SECONDS = 30.0


# The NY Fed stand-in ------------------------------------------------------------------------------


class NyFedStub:
    """A local HTTP server answering the SOFR search with the shared sample, limited to ``days``."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.days: set[str] | None = {FIRST_DAY}
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not self.path.startswith(SOFR_PATH):
                    self.send_response(404)
                    self.end_headers()
                    return
                days = stub.days
                rates = [r for r in stub.payload["refRates"] if days is None or r["effectiveDate"] in days]
                body = json.dumps({"refRates": rates}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def publish_everything(self) -> None:
        self.days = None


@pytest.fixture
def nyfed(formats_dir: Path) -> Iterator[NyFedStub]:
    stub = NyFedStub(json.loads((formats_dir / "nyfed_api_rates_secured_sofr_search.json").read_text()))
    with serving(stub.server):
        yield stub


# Real storage faults ------------------------------------------------------------------------------


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)


@contextlib.contextmanager
def tmpfs(where: Path, *options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``where`` for the test (skip when this process may not mount)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = _run("mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        if _run("umount", str(where)).returncode != 0:
            _run("umount", "-l", str(where))


class DiskFull:
    """Fill the archive's own tmpfs to the last byte; recover by deleting the filler."""

    reason = "disk_full"
    says = "the disk is full"

    def __init__(self, volume: Path) -> None:
        self.filler = volume / "filler"

    def inject(self, archive_path: Path) -> None:
        with open(self.filler, "wb", buffering=0) as out:
            for chunk in (b"\0" * 4096, b"\0"):  # pages, then the bytes of a last partial page
                try:
                    while out.write(chunk):
                        pass
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc

    def recover(self, archive_path: Path) -> None:
        self.filler.unlink()


class ReadOnly:
    """``chattr +i`` on the archive and its WAL (see the module docstring); ``chattr -i`` to recover."""

    reason = "read_only"
    says = "is read-only"

    @staticmethod
    def files(archive_path: Path) -> list[str]:
        return [str(archive_path), f"{archive_path}-wal"]

    def inject(self, archive_path: Path) -> None:
        done = _run("chattr", "+i", *self.files(archive_path))
        assert done.returncode == 0, done.stderr

    def recover(self, archive_path: Path) -> None:
        _run("chattr", "-i", *self.files(archive_path))


def _immutable_stops_open_writers(folder: Path) -> str | None:
    """Why ``chattr +i`` does not stop writes on an open descriptor in ``folder`` (``None``: it does)."""
    probe = folder / "immutable-probe"
    with open(probe, "wb", buffering=0) as out:
        marked = _run("chattr", "+i", str(probe))
        if marked.returncode != 0:
            return f"chattr +i is not available here: {marked.stderr.strip()}"
        try:
            out.write(b"x")
        except OSError:
            return None
        finally:
            _run("chattr", "-i", str(probe))
    return f"the file system of {folder} lets an open descriptor write to an immutable file"


# What the connector service shows ----------------------------------------------------------------


def _samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = http_get(f"{base}/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _topic_keys(settings: Settings) -> Counter[str]:
    keys: Counter[str] = Counter()
    for key, value in read_topic(settings, settings.topic_prints, idle_ms=1500):
        record = Print.from_json(value)
        assert key is not None and key.decode() == record.key
        keys[f"{record.key}#v{record.vintage}"] += 1
    return keys


def _archived_keys(settings: Settings) -> set[str]:
    with Archive.open(settings) as archive:
        return {f"{p.key}#v{p.vintage}" for p in archive.iter_prints()}


def _archive_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "archive" in r.getMessage() and r.levelno >= logging.WARNING]


def _fault_scenario(
    settings: Settings,
    nyfed: NyFedStub,
    fault: DiskFull | ReadOnly,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The scenario of the module docstring, with ``fault`` as the storage failure."""
    caplog.set_level(logging.INFO, logger="connectors")
    settings = dataclasses.replace(
        settings,
        nyfed_base_url=nyfed.url,
        source_min_interval_seconds=0.0,
        http_max_attempts=1,
        poll_retry_seconds=1.0,
        # The sample is from 2019: today's print is never archived, so the loop polls every second.
        poll_window_hours=24.0 * 365,
    )
    archive_path = settings.archive_path
    assert archive_path is not None
    stop = threading.Event()
    service = ConnectorService(settings, ["SOFR"], stop=stop)
    telemetry = service.telemetry
    endpoint = ConnectorEndpoint(
        connector_registry(telemetry), "127.0.0.1", 0, liveness=service.liveness, readiness=service.readiness
    ).start()
    base = f"http://127.0.0.1:{endpoint.port}"
    loop = threading.Thread(target=service.run, name="connector-loop", daemon=True)
    injected = False
    try:
        loop.start()
        assert wait_for(lambda: telemetry.snapshot().produced.get("print", 0) == 6, WAIT_SECONDS)
        first_day = _topic_keys(settings)
        assert len(first_day) == 6 and set(first_day.values()) == {1}
        assert http_get(f"{base}/readyz")[0] == 200

        # The storage fails, then the source publishes two more days (12 prints).
        fault.inject(archive_path)
        injected = True
        nyfed.publish_everything()

        def failed_polls() -> int:
            return telemetry.snapshot().polls.get(("nyfed", "nyfed:SOFR", "archive_error"), 0)

        assert wait_for(lambda: failed_polls() >= 2, WAIT_SECONDS), telemetry.snapshot().polls
        assert loop.is_alive(), "the connector service died on an archive write failure"
        status, body = http_get(f"{base}/readyz")
        assert status == 503, body
        assert "the last archive write failed" in body and fault.says in body, body
        assert http_get(f"{base}/livez")[0] == 200
        samples = _samples(base)
        errors = samples[("plumbline_connector_archive_errors_total", (("reason", fault.reason),))]
        assert errors >= 2
        assert samples[("plumbline_connector_archive_failing", ())] == 1
        family = "plumbline_connector_archive_errors_total"
        assert sum(v for (name, _), v in samples.items() if name == family) == errors  # no other reason
        assert _archived_keys(settings) == set(first_day)  # nothing of the failed polls was archived
        assert _topic_keys(settings) == first_day  # ... nor produced
        # One line per failed poll saying what failed, no traceback, nothing else logged about it.
        failures = failed_polls()
        lines = _archive_lines(caplog)
        assert len(lines) >= failures >= 2
        for record in lines[:failures]:
            message = record.getMessage()
            assert record.levelno == logging.ERROR and record.exc_info is None and "\n" not in message
            assert message.startswith("nyfed:SOFR archive write failed, nothing produced"), message
            assert str(archive_path) in message and fault.says in message, message
        assert "Traceback" not in caplog.text

        # The storage recovers: the next poll archives and produces the 12 prints, once each.
        fault.recover(archive_path)
        injected = False
        assert wait_for(lambda: telemetry.snapshot().produced.get("print", 0) == 18, WAIT_SECONDS)
        assert wait_for(lambda: http_get(f"{base}/readyz")[0] == 200, WAIT_SECONDS)
        assert loop.is_alive()
        every_day = _topic_keys(settings)
        assert len(every_day) == 18 and set(every_day.values()) == {1}, every_day  # none lost, none twice
        assert set(every_day) == _archived_keys(settings)
        with Archive.open(settings) as archive:
            assert archive.pending() == []
        samples = _samples(base)
        assert samples[("plumbline_connector_archive_failing", ())] == 0
        after = samples[("plumbline_connector_archive_errors_total", (("reason", fault.reason),))]
        assert after == failed_polls() == len(_archive_lines(caplog))  # one count, one line per failed poll
    finally:
        if injected:
            fault.recover(archive_path)
        stop.set()
        loop.join(timeout=WAIT_SECONDS)
        endpoint.close()
        service.close()
    assert not loop.is_alive()


def test_disk_full_produces_nothing_unarchived_and_recovers_exactly_once(
    broker: Settings, nyfed: NyFedStub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with tmpfs(tmp_path / "volume", "size=1m", "mode=0755") as volume:
        settings = dataclasses.replace(broker, archive_path=volume / "archive.sqlite3")
        _fault_scenario(settings, nyfed, DiskFull(volume), caplog)


def test_read_only_archive_produces_nothing_unarchived_and_recovers_exactly_once(
    broker: Settings, nyfed: NyFedStub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    why_not = _immutable_stops_open_writers(folder)
    if why_not is not None:
        pytest.skip(why_not)
    settings = dataclasses.replace(broker, archive_path=folder / "archive.sqlite3")
    _fault_scenario(settings, nyfed, ReadOnly(), caplog)


@pytest.mark.parametrize(
    "argv",
    [
        ["connectors", "run", "--series", "SOFR", "--once"],
        ["fetch", "--series", "SOFR", "--data-dir", "DATA"],
    ],
    ids=["connectors-run", "fetch"],
)
def test_cli_with_an_archive_on_a_read_only_volume_says_so_in_one_line(
    argv: list[str],
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with tmpfs(tmp_path / "readonly", "ro", "size=64k") as volume:
        archive_path = volume / "archive.sqlite3"
        for name in [n for n in os.environ if n.startswith("PLUMBLINE_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("PLUMBLINE_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("PLUMBLINE_ARCHIVE_PATH", str(archive_path))
        monkeypatch.setenv("PLUMBLINE_NYFED_BASE_URL", "http://127.0.0.1:9")  # never reached
        code = main([str(data_dir) if a == "DATA" else a for a in argv])
        err = capsys.readouterr().err
        failure = [line for line in err.splitlines() if "cannot be written" in line]
        assert code == 1, err
        assert len(failure) == 1 and "Traceback" not in err, err
        assert failure[0].startswith(f"plumbline {argv[0]}") and str(archive_path) in failure[0], err
        assert "read-only" in failure[0], err
        assert not archive_path.exists()
