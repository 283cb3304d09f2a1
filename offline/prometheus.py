"""A temporary, private Prometheus over a TSDB directory: range queries of history, nothing scraped.

The alert rules' backtest (:mod:`offline.rules`) evaluates the shipped PromQL on backfilled history.
Only a real Prometheus evaluates PromQL exactly as production does, so this starts one (the
``prometheus`` binary on the PATH, as ``plumbline stack`` does) on a free loopback port, with an
empty scrape configuration and a retention long enough to keep 2018's blocks (the default 15 days
would delete them at the first compaction). Prometheus loads blocks that appear in its data
directory only at start (or at its next one-minute reload), so :meth:`TemporaryPrometheus.restart`
is how freshly written blocks become visible.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["PrometheusError", "TemporaryPrometheus", "promtool_binary", "run_promtool"]

#: History starts in 2018; a retention shorter than the data's age deletes blocks at the first compaction.
_RETENTION = "100y"
_READY_TIMEOUT_SECONDS = 30.0
_QUERY_TIMEOUT_SECONDS = 60.0


class PrometheusError(RuntimeError):
    """Prometheus or promtool is missing, did not start, or refused a query; the message says what to do."""


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PrometheusError(f"{name} not found: `make install` (apt-get install prometheus) provides it")
    return found


def promtool_binary() -> str:
    """The promtool on the PATH, or a one-line :class:`PrometheusError`."""
    return _binary("promtool")


def run_promtool(arguments: list[str], timeout_seconds: float = 600.0) -> str:
    """Run ``promtool ARGUMENTS``; its stdout, or a :class:`PrometheusError` with its last error line."""
    command = [promtool_binary(), *arguments]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        raise PrometheusError(f"promtool {arguments[0]} took more than {timeout_seconds:.0f} s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise PrometheusError(
            f"promtool {' '.join(arguments[:3])} failed: {detail[-1] if detail else done.returncode}"
        )
    return done.stdout


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class TemporaryPrometheus:
    """A Prometheus on ``data_dir`` and a free port of ``host``; a context manager that stops it.

    Nothing is scraped and no rule is loaded: it only answers queries over the blocks in ``data_dir``.
    """

    def __init__(self, data_dir: Path, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._config = data_dir.parent / f"{data_dir.name}.prometheus.yml"
        self._log = data_dir.parent / f"{data_dir.name}.prometheus.log"

    @property
    def url(self) -> str:
        """The base URL of the running Prometheus."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start Prometheus and wait until it is ready (its blocks loaded)."""
        binary = _binary("prometheus")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # No scrape jobs: the backfilled blocks are the only data, and no sample of "now" mixes in.
        self._config.write_text("global:\n  evaluation_interval: 1d\nscrape_configs: []\n")
        self.port = _free_port(self.host)
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self._config}",
                    f"--storage.tsdb.path={self.data_dir}",
                    f"--web.listen-address={self.host}:{self.port}",
                    f"--storage.tsdb.retention.time={_RETENTION}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self._log.read_text(errors="replace").strip().splitlines()[-1:]
                raise PrometheusError(f"prometheus exited at start: {tail[0] if tail else 'no log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise PrometheusError(
            f"prometheus was not ready after {_READY_TIMEOUT_SECONDS:.0f} s (log: {self._log})"
        )

    def stop(self) -> None:
        """Stop the Prometheus this object started (if it runs)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def restart(self) -> None:
        """Stop and start again: the way to load blocks written into the data directory meanwhile."""
        self.stop()
        self.start()

    def query_range(
        self, expr: str, start_seconds: float, end_seconds: float, step_seconds: int
    ) -> list[Any]:
        """The matrix of a range query: ``[{"metric": {...}, "values": [[t, "v"], ...]}, ...]``."""
        params = urllib.parse.urlencode(
            {
                "query": expr,
                "start": f"{start_seconds:.0f}",
                "end": f"{end_seconds:.0f}",
                "step": str(step_seconds),
            }
        )
        try:
            with urllib.request.urlopen(
                f"{self.url}/api/v1/query_range", params.encode(), timeout=_QUERY_TIMEOUT_SECONDS
            ) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise PrometheusError(f"prometheus refused the query {expr!r}: {detail}") from None
        except OSError as exc:
            raise PrometheusError(f"prometheus at {self.url} does not answer: {exc}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"prometheus refused the query {expr!r}: {body.get('error')}")
        result: list[Any] = body["data"]["result"]
        return result

    def __enter__(self) -> TemporaryPrometheus:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
