"""Safe defaults: every listener on the bind host (loopback), a webhook that wants its token, no secret shown.

- Every listening socket of every process of `plumbline stack up` (broker, webhook receiver,
  Alertmanager, whose cluster listener is off, Prometheus, the worker's metrics) and of
  `plumbline connectors run` is bound to ``PLUMBLINE_BIND_HOST``: 127.0.0.1 unless configured, and
  configuring it moves them all. Read from ``/proc/<pid>/net`` by socket inode, per process tree.
- With ``PLUMBLINE_WEBHOOK_TOKEN`` set the receiver answers 401 without ``Authorization: Bearer``;
  the stack hands Alertmanager the token in a credentials file, and notifications still arrive.
- Every secret, set in the environment or in its file, appears in none of `plumbline config`'s
  output and none of the worker's or the connectors' debug logs.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from foundation.settings import Settings, load_settings
from plumbline import stack
from plumbline.webhook import make_server, read_notifications
from tests.conftest import free_port, make_settings, serving
from tests.faults.harness import wait_for
from tests.test_kafka_security import KEY_PASSWORD, Pki, pki  # noqa: F401  (the fixture: a TLS client key)

TOKEN = "webhook-t0ken-SECRET-7f3a9c"
SECRETS = {
    "PLUMBLINE_FRED_API_KEY": "fred-key-SECRET-91b2c3d4e5",
    "PLUMBLINE_KAFKA_SASL_PASSWORD": "sasl-pw-SECRET-5e6f7a",
    "PLUMBLINE_KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,  # the ``pki`` fixture's client key is encrypted with it
    "PLUMBLINE_WEBHOOK_TOKEN": TOKEN,
}

# -- listening sockets ------------------------------------------------------------------------------

_TCP_LISTEN, _UDP_BOUND = "0A", "07"


def _address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # /proc/net prints each 32-bit word of the address in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(words)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), int(port, 16)


def _tree(pid: int) -> set[int]:
    """``pid`` and every process below it."""
    out, todo = set(), [pid]
    while todo:
        current = todo.pop()
        out.add(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in (task / "children").read_text().split()]
    return out


def listeners(pid: int) -> set[tuple[str, str, int]]:
    """Every (protocol, address, port) a process tree listens on: TCP in LISTEN, UDP bound unconnected."""
    found: set[tuple[str, str, int]] = set()
    for member in _tree(pid):
        inodes = set()
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{member}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
        for table in ("tcp", "tcp6", "udp", "udp6"):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{member}/net/{table}").read_text().splitlines()[1:]:
                    fields = line.split()
                    state, inode = fields[3], fields[9]
                    if inode in inodes and state == (_TCP_LISTEN if table.startswith("tcp") else _UDP_BOUND):
                        found.add((table.rstrip("6"), *_address(fields[1])))
    return found


# -- helpers ----------------------------------------------------------------------------------------


class _Source(BaseHTTPRequestHandler):
    """A data source that is down (503): the connectors poll it, the request lines are kept."""

    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def down_source() -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []
    handler = type("Source", (_Source,), {"requests": requests})
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url, requests


@contextlib.contextmanager
def not_a_broker() -> Iterator[int]:
    """A port that accepts TCP connections and closes them at once: the worker's wait for a broker
    ends, and its SASL_SSL clients then fail on their first handshake (logging as they go)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(2)
        listener.close()


def connectors_env(settings: Settings, source_url: str) -> dict[str, str]:
    """``plumbline connectors run`` against a local source, archiving only, debug logs."""
    env = {k: v for k, v in settings.environment().items() if v}
    env.update(
        PATH=os.environ["PATH"],
        PLUMBLINE_NYFED_BASE_URL=source_url,
        PLUMBLINE_FRED_BASE_URL=source_url,
        PLUMBLINE_FRED_API_BASE_URL=source_url,
        PLUMBLINE_FISCALDATA_BASE_URL=source_url,
        PLUMBLINE_HTTP_MAX_ATTEMPTS="1",
        PLUMBLINE_CONNECTORS_METRICS_PORT=str(free_port()),
        PLUMBLINE_LOG_LEVEL="debug",
    )
    return env


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "plumbline", *argv], env=env, stdout=handle, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def check_stack_listeners(settings: Settings) -> dict[str, set[tuple[str, str, int]]]:
    """Each running component's listeners; asserts each is on the bind host and has its port."""
    found = {}
    for component in stack.status(settings):
        assert component.running and component.pid is not None, component
        found[component.name] = listeners(component.pid)
    ports = {c.name: getattr(settings, c.port_field) for c in stack.COMPONENTS}
    for name, sockets in found.items():
        assert ("tcp", settings.bind_host, ports[name]) in sockets, (name, sockets)
        elsewhere = {s for s in sockets if s[1] != settings.bind_host}
        assert not elsewhere, f"{name} listens beyond {settings.bind_host}: {elsewhere}"
    # Alertmanager's cluster (gossip, TCP and UDP 9094 on every interface by default) is off.
    assert found["alertmanager"] == {("tcp", settings.bind_host, settings.alertmanager_port)}
    # The worker serves its metrics and nothing else: Faust's web server is off.
    assert found["worker"] == {("tcp", settings.bind_host, settings.metrics_port)}
    return found


def test_the_listener_scan_sees_every_interface_and_ipv6() -> None:
    assert _address("0100007F:0050") == ("127.0.0.1", 80)
    assert _address("00000000000000000000000001000000:1F90") == ("::1", 8080)
    with contextlib.ExitStack() as sockets:
        anywhere = sockets.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        anywhere.bind(("0.0.0.0", 0))
        anywhere.listen()
        gossip = sockets.enter_context(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
        gossip.bind(("::", 0))
        found = listeners(os.getpid())
        assert ("tcp", "0.0.0.0", anywhere.getsockname()[1]) in found
        assert ("udp", "::", gossip.getsockname()[1]) in found


# -- the webhook token, unit --------------------------------------------------------------------------


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    out = tmp_path / "alerts.jsonl"
    with serving(make_server("127.0.0.1", 0, out, token=TOKEN)) as url:
        yield f"{url}/alerts/page", out


def _post(url: str, authorization: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, data=b'{"alerts": []}', headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_the_receiver_answers_401_without_the_token_and_records_nothing(
    receiver: tuple[str, Path],
) -> None:
    url, out = receiver
    for authorization in (None, "", "Bearer", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}"):
        assert _post(url, authorization) == 401, authorization
    assert read_notifications(out) == []
    assert _post(url, f"Bearer {TOKEN}") == 200
    assert _post(url, f"bearer  {TOKEN} ") == 200  # the scheme is case-insensitive (RFC 7235)
    assert len(read_notifications(out)) == 2
    with urllib.request.urlopen(url.rsplit("/alerts", 1)[0] + "/", timeout=5) as health:
        assert health.status == 200  # the health check needs no token


def test_without_a_token_the_receiver_takes_any_request(tmp_path: Path) -> None:
    with serving(make_server("127.0.0.1", 0, tmp_path / "alerts.jsonl")) as url:
        assert _post(f"{url}/alerts/page", None) == 200


def test_the_token_is_a_masked_secret_read_from_its_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    settings = load_settings(env={"PLUMBLINE_WEBHOOK_TOKEN_FILE": str(token_file)})
    assert settings.webhook_token == TOKEN
    assert settings.masked()["PLUMBLINE_WEBHOOK_TOKEN"] == "****"
    # A child process gets the file's path, not the value.
    assert TOKEN not in settings.environment().values()


# -- the stack, end to end ------------------------------------------------------------------------------


@pytest.mark.e2e
def test_stack_listens_on_loopback_only_and_alertmanager_sends_the_webhook_token(
    tmp_path: Path, data_dir: Path
) -> None:
    token_file = tmp_path / "webhook-token"
    token_file.write_text(TOKEN + "\n")
    settings = make_settings(tmp_path / "state", data_dir, webhook_token_file=token_file)
    assert settings.bind_host == "127.0.0.1"  # the default
    try:
        stack.up(settings, say=lambda line: None, timeout_seconds=90)
        check_stack_listeners(settings)

        rendered = (settings.state_dir / "alertmanager" / "alertmanager.yml").read_text()
        credentials = settings.state_dir / "alertmanager" / "webhook-token"
        assert TOKEN not in rendered and f"credentials_file: {json.dumps(str(credentials))}" in rendered
        assert rendered.count("credentials_file:") == 4  # page, notify, record, replay
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600 and credentials.read_text() == TOKEN

        webhook = f"http://127.0.0.1:{settings.webhook_port}/alerts/page"
        assert _post(webhook, None) == 401
        assert read_notifications(stack.alerts_file(settings)) == []

        # A real alert through the real Alertmanager: it reaches the receiver, so it sent the token.
        alert = [{"labels": {"alertname": "TokenCheck", "severity": "critical", "replay": "false"}}]
        request = urllib.request.Request(
            f"http://127.0.0.1:{settings.alertmanager_port}/api/v2/alerts",
            data=json.dumps(alert).encode(), headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

        def token_check_arrived() -> bool:
            return any(
                a["labels"].get("alertname") == "TokenCheck"
                for entry in read_notifications(stack.alerts_file(settings))
                for a in entry["notification"].get("alerts", [])
            )

        assert wait_for(token_check_arrived, timeout_seconds=60), "Alertmanager's notification never arrived"
    finally:
        stack.down(settings, say=lambda line: None)


def check_connectors_listener(process: subprocess.Popen[bytes], env: dict[str, str]) -> None:
    """`plumbline connectors run` serves /metrics on the bind host and nowhere else."""
    wanted = {
        ("tcp", env.get("PLUMBLINE_BIND_HOST", "127.0.0.1"), int(env["PLUMBLINE_CONNECTORS_METRICS_PORT"]))
    }
    assert wait_for(lambda: listeners(process.pid) == wanted or process.poll() is not None, 60)
    assert listeners(process.pid) == wanted


@pytest.mark.e2e
def test_a_configured_bind_host_moves_every_listener(tmp_path: Path, data_dir: Path) -> None:
    # 127.0.0.2 is loopback too (all of 127/8 is), so the test binds it without touching the network.
    settings = make_settings(tmp_path / "state", data_dir, bind_host="127.0.0.2")
    with down_source() as (source_url, _requests):
        env = connectors_env(settings, source_url)
        connectors = start(["connectors", "run", "--no-produce", "--series", "SOFR"], env, tmp_path / "c.log")
        try:
            stack.up(settings, say=lambda line: None, timeout_seconds=90)
            found = check_stack_listeners(settings)
            assert all(address == "127.0.0.2" for sockets in found.values() for _, address, _ in sockets)
            check_connectors_listener(connectors, env)
        finally:
            stack.down(settings, say=lambda line: None)
            stop(connectors)


# -- secrets ----------------------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("where", ["env", "file"])
def test_no_secret_in_config_or_in_debug_logs(where: str, pki: Pki, tmp_path: Path) -> None:  # noqa: F811
    env = {
        "PATH": os.environ["PATH"],
        "PLUMBLINE_STATE_DIR": str(tmp_path / "state"),
        "PLUMBLINE_METRICS_PORT": str(free_port()),
        "PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "PLUMBLINE_KAFKA_SSL_CA_FILE": str(pki.ca),
        "PLUMBLINE_KAFKA_SSL_CERT_FILE": str(pki.client_cert),
        "PLUMBLINE_KAFKA_SSL_KEY_FILE": str(pki.client_key),
        "PLUMBLINE_KAFKA_SSL_CHECK_HOSTNAME": "false",
        "PLUMBLINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "PLUMBLINE_KAFKA_SASL_USERNAME": "plumbline",
        "PLUMBLINE_LOG_LEVEL": "debug",
    }
    for name, value in SECRETS.items():
        if where == "env":
            env[name] = value
        else:
            path = tmp_path / name.lower()
            path.write_text(value + "\n")
            env[name + "_FILE"] = str(path)
    config = subprocess.run(
        [sys.executable, "-m", "plumbline", "config"], env=env, capture_output=True, text=True, timeout=60
    )
    assert config.returncode == 0, config.stderr
    shown = dict(line.split("=", 1) for line in config.stdout.splitlines())
    assert all(shown[name].startswith("****") for name in SECRETS), shown

    with not_a_broker() as broker_port:
        # A broker that is not one: the worker's clients try it and fail, logging as they go.
        env["PLUMBLINE_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{broker_port}"
        logs = run_worker_and_connectors(env, tmp_path)
    outputs = {"plumbline config": config.stdout + config.stderr, **logs}
    # They did log: the worker at debug level, the connectors the FRED request (its key masked).
    assert " DEBUG " in outputs["worker log"] and "api_key=****" in outputs["connectors log"]
    for what, text in outputs.items():
        for name, value in SECRETS.items():
            assert value not in text, f"{name} appears in the {what}"


def run_worker_and_connectors(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The worker and the connectors run with ``env`` until each has logged its failure; their logs."""
    settings = load_settings(env=env)
    with down_source() as (source_url, requests):
        connectors_environment = connectors_env(settings, source_url)
        connectors_environment.update({k: v for k, v in env.items() if k.endswith("_FILE")})
        worker_log = tmp_path / "worker.log"
        worker = start(["worker", "--loglevel", "debug"], env, worker_log)
        connectors = start(
            ["connectors", "run", "--no-produce", "--series", "SOFR", "DEXJPUS"],
            connectors_environment,
            tmp_path / "connectors.log",
        )
        try:
            check_connectors_listener(connectors, connectors_environment)
            # The FRED key was really used (in the query string of the API's requests) ...
            key = SECRETS["PLUMBLINE_FRED_API_KEY"]
            assert wait_for(lambda: any(key in r for r in requests), 60), requests
            # ... and the worker has set up its SASL_SSL clients and tried the broker (not one, so
            # it stops: what matters is what it logged on the way).
            assert wait_for(lambda: worker.poll() is not None or " ERROR " in worker_log.read_text(), 60)
        finally:
            stop(worker)
            stop(connectors)
    return {
        "worker log": (tmp_path / "worker.log").read_text(errors="replace"),
        "connectors log": (tmp_path / "connectors.log").read_text(errors="replace"),
    }
