"""Shared fixtures: the data directory, free ports, and real local services (broker, full stack)."""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.settings import Settings, load_settings
from plumbline import stack

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(server: socketserver.TCPServer) -> Iterator[str]:
    """``server`` answering from a thread of its own; yields its base URL, then shuts it down."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of real history CSVs (PLUMBLINE_DATA_DIR, else ../shared/data/series)."""
    path = Path(os.environ.get("PLUMBLINE_DATA_DIR") or REPO_ROOT.parent / "shared" / "data" / "series")
    if not (path / "SOFR.csv").is_file():
        pytest.fail(f"history data not found in {path}: set PLUMBLINE_DATA_DIR", pytrace=False)
    return path.resolve()


@pytest.fixture(scope="session")
def formats_dir(data_dir: Path) -> Path:
    """The folder of upstream format samples (FORMATS.md), next to the series folder."""
    path = data_dir.parent / "formats"
    if not (path / "nyfed_api_rates_secured_sofr_search.json").is_file():
        pytest.fail(f"format samples not found in {path}", pytrace=False)
    return path


def make_settings(state_dir: Path, data_dir: Path | None = None, **overrides: object) -> Settings:
    """Settings on fresh free ports under ``state_dir``, ignoring the caller's environment."""
    return load_settings(
        env={},
        state_dir=state_dir,
        data_dir=data_dir,
        broker_port=free_port(),
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        webhook_port=free_port(),
        metrics_port=free_port(),
        **overrides,
    )


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Settings]:
    """A real embedded Tansu broker with plumbline's topics, on a free port; stopped afterwards."""
    settings = make_settings(tmp_path / "state")
    stack.up(settings, components=["broker"], say=lambda line: None)
    try:
        yield settings
    finally:
        stack.down(settings, say=lambda line: None)


@pytest.fixture
def local_stack(tmp_path: Path, data_dir: Path) -> Iterator[Settings]:
    """The whole embedded stack (broker, webhook, Alertmanager, Prometheus, worker) on free ports."""
    settings = make_settings(tmp_path / "state", data_dir)
    try:
        stack.up(settings, say=lambda line: None)
        yield settings
    finally:
        stack.down(settings, say=lambda line: None)
