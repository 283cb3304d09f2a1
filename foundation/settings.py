"""One typed settings object for every plumbline process.

Settings come, in increasing precedence, from the defaults below, an optional TOML file
(``PLUMBLINE_CONFIG`` or ``--config``) and ``PLUMBLINE_*`` environment variables. Every value is
validated once, at start: a bad value raises :class:`SettingsError` whose message is one line
naming the setting, so a misconfigured worker never starts half-way.

>>> s = load_settings(env={"PLUMBLINE_BROKER_PORT": "29092"})
>>> s.broker_port, s.bootstrap_servers
(29092, '127.0.0.1:29092')
>>> load_settings(env={"PLUMBLINE_BROKER_PORT": "abc"})
Traceback (most recent call last):
...
foundation.settings.SettingsError: PLUMBLINE_BROKER_PORT: 'abc' is not an integer
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

from foundation.kafka_security import SASL_MECHANISMS, SECURITY_PROTOCOLS, ssl_context, uses_sasl, uses_ssl

__all__ = ["Settings", "SettingsError", "load_settings"]

ENV_PREFIX = "PLUMBLINE_"
_SECRET_FIELDS = frozenset({"fred_api_key", "kafka_ssl_key_password", "kafka_sasl_password", "webhook_token"})
# Each secret can instead be read from a file named by PLUMBLINE_<SECRET>_FILE: the convention of
# Kubernetes secret volumes and docker secrets, so the value is in no environment and no process list.
_SECRET_FILES = {name: name + "_file" for name in sorted(_SECRET_FIELDS)}
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_LOG_FORMATS = ("text", "json")


class SettingsError(ValueError):
    """A setting has a value plumbline cannot use; the message names the setting."""


def _default_state_dir() -> Path:
    return Path.cwd() / ".plumbline"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Effective configuration. Field ``x`` is read from ``PLUMBLINE_X`` (upper case)."""

    # Network: everything local binds loopback only.
    bind_host: str = "127.0.0.1"
    broker_port: int = 19092
    # Where clients reach the broker, ``host:port[,host:port]``. Empty: the local broker at
    # bind_host:broker_port. In containers the worker binds 0.0.0.0 but connects to e.g. kafka:9092.
    bootstrap_servers: str = ""
    prometheus_port: int = 19090
    alertmanager_port: int = 19093
    webhook_port: int = 19095
    metrics_port: int = 19100

    # Topics are created explicitly by `plumbline stack up`, never auto-created (see docs/architecture.md).
    # v2: prints are copied to every partition computing a signal they feed (v1 partitioned them by
    # series group); `plumbline republish` fills a new topic from the archive.
    topic_prints: str = "plumbline.prints.v2"
    topic_signals: str = "plumbline.signals.v1"
    topic_alerts: str = "plumbline.alerts.v1"
    topic_dead_letter: str = "plumbline.dead-letter.v1"
    # Every signal again, on ONE partition, for the composite index (it needs all of them).
    topic_index_inputs: str = "plumbline.index-inputs.v1"
    topic_partitions: int = 1

    # Faust consumer-group timing. The embedded broker holds a join for about half the session
    # timeout, so Faust's 60 s default would mean 30 s before the first event.
    app_id: str = "plumbline"
    session_timeout_seconds: float = 6.0
    heartbeat_interval_seconds: float = 1.0

    # Directories. state_dir holds pid files, logs, Prometheus TSDB and received alerts.
    state_dir: Path = dataclasses.field(default_factory=_default_state_dir)
    data_dir: Path | None = None

    # The first detector: SOFR - policy rate spread persistence with hysteresis.
    spread_enter_level_bp: float = 5.0
    spread_exit_level_bp: float = 2.0
    spread_window_k: int = 3
    spread_window_n: int = 5
    spread_max_gap_days: float = 10.0
    # Seconds a date of the composite index waits before it passes over a silent prints partition
    # (streams/index.py): a daily index value is late by this much at most in live operation.
    index_grace_seconds: float = 10.0
    # Agents process messages in batches: one checkpoint transaction and one round of sends per
    # batch. A batch closes at this many messages, or this long after its first (the added latency).
    batch_max_messages: int = 1000
    batch_max_wait_seconds: float = 0.05
    # A starting worker waits this long for the broker before one line and exit 1 (a supervisor restarts it).
    broker_wait_seconds: float = 30.0
    # Optional TOML file choosing detectors per signal (streams/config.py); defaults: detectors/defaults.py.
    detectors_file: Path | None = None
    # Where this worker keeps its per-partition state checkpoints (default: <state_dir>/checkpoints).
    # Local to the worker: a partition that moves is rebuilt from its input topic (docs/architecture.md).
    checkpoint_dir: Path | None = None

    # Secrets (masked by `plumbline config`).
    fred_api_key: str | None = None
    fred_api_key_file: Path | None = None
    # Bearer token the webhook receiver demands (401 without it); `plumbline stack up` hands it to
    # Alertmanager in a credentials file. Unset: the receiver, on loopback, accepts any request.
    webhook_token: str | None = None
    webhook_token_file: Path | None = None

    # Messages larger than this are dead-lettered (reason too_large) before they are parsed. A print
    # is about 300 bytes, a signal about 500.
    max_record_bytes: int = 64 * 1024

    # Kafka security (foundation/kafka_security.py maps these onto each client; docs/security.md).
    # PLAINTEXT is what the embedded broker speaks; a managed Kafka wants SSL or SASL_SSL.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_ssl_ca_file: Path | None = None  # unset: the system's CAs
    kafka_ssl_cert_file: Path | None = None  # client certificate (mutual TLS), with its key
    kafka_ssl_key_file: Path | None = None
    kafka_ssl_key_password: str | None = None
    kafka_ssl_key_password_file: Path | None = None
    kafka_ssl_check_hostname: bool = True
    kafka_sasl_mechanism: str | None = None  # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_sasl_password_file: Path | None = None

    # Connectors (docs/connectors.md). The archive is the source of truth for every print ever accepted;
    # by default it lives next to the rest of the state, not in the cache, because losing it loses history.
    archive_path: Path | None = None
    http_timeout_seconds: float = 20.0
    http_max_attempts: int = 5
    http_backoff_base_seconds: float = 1.0
    http_backoff_max_seconds: float = 60.0
    # A Retry-After longer than this is not slept through inside one request: the poller reschedules.
    http_retry_after_max_seconds: float = 300.0
    # Minimum spacing of requests to one source (host); FRED allows 120 requests a minute per key.
    source_min_interval_seconds: float = 1.0
    poll_retry_seconds: float = 300.0
    poll_window_hours: float = 6.0
    poll_lookback_days: int = 10
    nyfed_base_url: str = "https://markets.newyorkfed.org"
    fred_base_url: str = "https://fred.stlouisfed.org"
    fred_api_base_url: str = "https://api.stlouisfed.org"
    fiscaldata_base_url: str = "https://api.fiscaldata.treasury.gov/services/api/fiscal_service"
    # The connector service's /metrics, /livez and /readyz (`plumbline connectors run`), on bind_host.
    connectors_metrics_port: int = 19101

    # Logging of every plumbline process (foundation/logs.py): one level for the foundation,
    # connectors, detectors, streams, offline and plumbline loggers alike; "text" or "json" (one
    # object per line: time, level, logger, message and the record's extra fields).
    log_level: str = "info"
    log_format: str = "text"

    def __post_init__(self) -> None:
        if not self.bootstrap_servers:
            object.__setattr__(self, "bootstrap_servers", f"{self.bind_host}:{self.broker_port}")
        for address in self.bootstrap_servers.split(","):
            host, _, port = address.strip().rpartition(":")
            if not host or not port.isdigit():
                raise SettingsError(f"{_env_name('bootstrap_servers')}: {address!r} is not host:port")
        # Child processes run with other working directories: every path is made absolute once.
        for name in ("state_dir", "data_dir", "detectors_file", "checkpoint_dir"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value).expanduser().resolve())
        for name in ("broker_port", "prometheus_port", "alertmanager_port", "webhook_port", "metrics_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise SettingsError(f"{_env_name(name)}: {port} is not a TCP port (1-65535)")
        if not 1024 <= self.max_record_bytes <= 16 * 1024 * 1024:
            raise SettingsError(f"{_env_name('max_record_bytes')}: must be in [1024, 16777216] bytes")
        if self.batch_max_messages < 1:
            raise SettingsError(f"{_env_name('batch_max_messages')}: must be at least 1")
        if not 0 < self.batch_max_wait_seconds <= 5:
            raise SettingsError(f"{_env_name('batch_max_wait_seconds')}: must be in (0, 5]")
        if not 0 <= self.broker_wait_seconds <= 3600:
            raise SettingsError(f"{_env_name('broker_wait_seconds')}: must be in [0, 3600]")
        if self.topic_partitions < 1:
            raise SettingsError(f"{_env_name('topic_partitions')}: must be at least 1")
        if not 0 < self.heartbeat_interval_seconds < self.session_timeout_seconds:
            raise SettingsError(
                f"{_env_name('heartbeat_interval_seconds')}: must be positive and below "
                f"{_env_name('session_timeout_seconds')} ({self.session_timeout_seconds})"
            )
        if self.spread_exit_level_bp > self.spread_enter_level_bp:
            raise SettingsError(
                f"{_env_name('spread_exit_level_bp')}: {self.spread_exit_level_bp} is above "
                f"{_env_name('spread_enter_level_bp')} ({self.spread_enter_level_bp}); "
                "hysteresis needs exit <= enter"
            )
        if not 1 <= self.spread_window_k <= self.spread_window_n:
            raise SettingsError(f"{_env_name('spread_window_k')}: need 1 <= k <= n ({self.spread_window_n})")
        if self.detectors_file is not None and not self.detectors_file.is_file():
            raise SettingsError(f"{_env_name('detectors_file')}: {self.detectors_file} does not exist")
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise SettingsError(f"{_env_name('data_dir')}: {self.data_dir} is not a directory")
        self._validate_connector_settings()
        self._validate_logging_settings()
        self._read_secret_files()
        self._validate_kafka_security()

    def _validate_connector_settings(self) -> None:
        if self.archive_path is not None:
            object.__setattr__(self, "archive_path", Path(self.archive_path).expanduser().resolve())
        for name in (
            "http_timeout_seconds", "http_backoff_base_seconds", "http_backoff_max_seconds",
            "http_retry_after_max_seconds", "poll_retry_seconds", "poll_window_hours",
        ):  # fmt: skip
            if not getattr(self, name) > 0:
                raise SettingsError(f"{_env_name(name)}: must be positive, got {getattr(self, name)}")
        if self.source_min_interval_seconds < 0:
            raise SettingsError(f"{_env_name('source_min_interval_seconds')}: must not be negative")
        if self.http_max_attempts < 1:
            raise SettingsError(f"{_env_name('http_max_attempts')}: must be at least 1")
        if self.poll_lookback_days < 0:
            raise SettingsError(f"{_env_name('poll_lookback_days')}: must not be negative")
        for name in (
            "nyfed_base_url", "fred_base_url", "fred_api_base_url", "fiscaldata_base_url",
        ):  # fmt: skip
            if not str(getattr(self, name)).startswith(("http://", "https://")):
                raise SettingsError(f"{_env_name(name)}: {getattr(self, name)!r} is not an http(s) URL")

    def _validate_logging_settings(self) -> None:
        if not 1 <= self.connectors_metrics_port <= 65535:
            raise SettingsError(
                f"{_env_name('connectors_metrics_port')}: {self.connectors_metrics_port} "
                "is not a TCP port (1-65535)"
            )
        level = self.log_level.strip().lower()
        if level not in _LOG_LEVELS:
            raise SettingsError(
                f"{_env_name('log_level')}: {self.log_level!r} is not one of {', '.join(_LOG_LEVELS)}"
            )
        object.__setattr__(self, "log_level", level)
        log_format = self.log_format.strip().lower()
        if log_format not in _LOG_FORMATS:
            raise SettingsError(
                f"{_env_name('log_format')}: {self.log_format!r} is not one of {', '.join(_LOG_FORMATS)}"
            )
        object.__setattr__(self, "log_format", log_format)

    @property
    def broker_url(self) -> str:
        """The broker URL as Faust wants it."""
        return ";".join(f"kafka://{address.strip()}" for address in self.bootstrap_servers.split(","))

    @property
    def input_topics(self) -> tuple[str, ...]:
        """The topics workers consume: the source of truth of their state, kept forever."""
        return (self.topic_prints, self.topic_index_inputs)

    @property
    def all_topics(self) -> tuple[str, ...]:
        """Every topic plumbline owns, in pipeline order."""
        return (
            self.topic_prints,
            self.topic_signals,
            self.topic_alerts,
            self.topic_dead_letter,
            self.topic_index_inputs,
        )

    def _read_secret_files(self) -> None:
        for secret, file_field in _SECRET_FILES.items():
            path = getattr(self, file_field)
            if path is None:
                continue
            path = Path(path).expanduser().resolve()
            object.__setattr__(self, file_field, path)
            if getattr(self, secret) is not None:
                raise SettingsError(f"{_env_name(secret)}: set it or {_env_name(file_field)}, not both")
            try:
                # A secret file written by `echo` ends with a newline that is no part of the secret.
                value = path.read_text().rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise SettingsError(f"{_env_name(file_field)}: cannot read {path}: {_reason(exc)}") from None
            if not value:
                raise SettingsError(f"{_env_name(file_field)}: {path} is empty")
            object.__setattr__(self, secret, value)

    def _validate_kafka_security(self) -> None:
        protocol = self.kafka_security_protocol.strip().upper()
        if protocol not in SECURITY_PROTOCOLS:
            raise SettingsError(
                f"{_env_name('kafka_security_protocol')}: {self.kafka_security_protocol!r} is not one of "
                f"{', '.join(SECURITY_PROTOCOLS)}"
            )
        object.__setattr__(self, "kafka_security_protocol", protocol)
        mechanism = (self.kafka_sasl_mechanism or "").strip().upper() or None
        if mechanism is not None and mechanism not in SASL_MECHANISMS:
            raise SettingsError(
                f"{_env_name('kafka_sasl_mechanism')}: {self.kafka_sasl_mechanism!r} is not one of "
                f"{', '.join(SASL_MECHANISMS)}"
            )
        object.__setattr__(self, "kafka_sasl_mechanism", mechanism)
        tls_files = ("kafka_ssl_ca_file", "kafka_ssl_cert_file", "kafka_ssl_key_file")
        for name in tls_files:
            path = getattr(self, name)
            if path is None:
                continue
            path = Path(path).expanduser().resolve()
            object.__setattr__(self, name, path)
            if not path.is_file() or not os.access(path, os.R_OK):
                raise SettingsError(f"{_env_name(name)}: {path} is not a readable file")
        # A setting the chosen protocol would ignore is a mistake to report, not to drop silently.
        protocol_name = _env_name("kafka_security_protocol")
        if not uses_ssl(protocol):
            for name in (*tls_files, "kafka_ssl_key_password"):
                if getattr(self, name) is not None:
                    raise SettingsError(
                        f"{_env_name(name)}: set, but {protocol_name} is {protocol}; use SSL or SASL_SSL"
                    )
        if not uses_sasl(protocol):
            for name in ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password"):
                if getattr(self, name) is not None:
                    raise SettingsError(
                        f"{_env_name(name)}: set, but {protocol_name} is {protocol}; "
                        "use SASL_PLAINTEXT or SASL_SSL"
                    )
        else:
            if mechanism is None:
                raise SettingsError(
                    f"{_env_name('kafka_sasl_mechanism')}: {protocol_name} is {protocol}, which needs a "
                    f"mechanism: one of {', '.join(SASL_MECHANISMS)}"
                )
            for name in ("kafka_sasl_username", "kafka_sasl_password"):
                if not getattr(self, name):
                    also = f" (or {_env_name(name + '_file')})" if name in _SECRET_FILES else ""
                    raise SettingsError(f"{_env_name(name)}{also}: {protocol_name} is {protocol}, set it")
        if (self.kafka_ssl_cert_file is None) != (self.kafka_ssl_key_file is None):
            given, missing = (
                ("kafka_ssl_cert_file", "kafka_ssl_key_file")
                if self.kafka_ssl_key_file is None
                else ("kafka_ssl_key_file", "kafka_ssl_cert_file")
            )
            raise SettingsError(f"{_env_name(missing)}: {_env_name(given)} is set, so its pair must be too")
        if self.kafka_ssl_key_password is not None and self.kafka_ssl_key_file is None:
            raise SettingsError(
                f"{_env_name('kafka_ssl_key_password')}: set, but {_env_name('kafka_ssl_key_file')} is not"
            )
        # Load the files once now: a wrong CA, certificate or key password stops the process at start
        # with one line, not at the first connection with a traceback from inside a client library.
        try:
            ssl_context(self)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            names = "_CA_FILE, _CERT_FILE, _KEY_FILE, _KEY_PASSWORD"
            raise SettingsError(f"PLUMBLINE_KAFKA_SSL{names}: unusable for TLS: {_reason(exc)}") from None

    def environment(self) -> dict[str, str]:
        """Every setting as the environment variables that load it back: for child processes.

        Unlike :meth:`masked`, secrets are in clear, except a secret read from a file: that is passed
        as its ``*_FILE`` path, so the child reads the file itself and the value stays out of its
        environment.
        """
        out: dict[str, str] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in _SECRET_FILES and getattr(self, _SECRET_FILES[field.name]) is not None:
                value = None
            out[_env_name(field.name)] = "" if value is None else str(value)
        return out

    def masked(self) -> dict[str, str]:
        """Every setting by environment-variable name, secrets masked, for display."""
        out: dict[str, str] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "fred_api_key" and value:
                # The last two characters of an API key tell keys apart; a password shows nothing.
                shown = "****" + str(value)[-2:] if len(str(value)) > 6 else "****"
            elif field.name in _SECRET_FIELDS and value:
                shown = "****"
            else:
                shown = "" if value is None else str(value)
            out[_env_name(field.name)] = shown
        return out


def _env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _reason(exc: BaseException) -> str:
    """An exception as a short phrase for a one-line message."""
    return str(getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc)


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _coerce(name: str, raw: Any, annotation: Any) -> Any:
    """Turn a TOML or environment value into the field's type, or fail naming the setting."""
    label = _env_name(name)
    args = set(typing.get_args(annotation)) or {annotation}
    text = raw.strip() if isinstance(raw, str) else raw
    if type(None) in args and (raw is None or text == ""):
        return None
    if bool in args:
        if isinstance(raw, bool):
            return raw
        if str(text).lower() in _TRUE + _FALSE:
            return str(text).lower() in _TRUE
        raise SettingsError(f"{label}: {raw!r} is not a boolean (true or false)")
    try:
        if int in args:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(text)
        if float in args:
            if isinstance(raw, bool):
                raise ValueError
            value = float(text)
            if value != value:  # NaN never makes sense as a setting
                raise ValueError
            return value
    except (TypeError, ValueError):
        noun = "an integer" if int in args else "a number"
        raise SettingsError(f"{label}: {raw!r} is not {noun}") from None
    if Path in args:
        return Path(str(text)).expanduser()
    return str(text)


def load_settings(
    env: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    **overrides: Any,
) -> Settings:
    """Build :class:`Settings` from defaults, a TOML file, the environment and explicit overrides."""
    env = os.environ if env is None else env
    hints = get_type_hints(Settings)
    names = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}

    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        path = Path(path).expanduser()
        try:
            table = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise SettingsError(f"{ENV_PREFIX}CONFIG: {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{ENV_PREFIX}CONFIG: {path} is not valid TOML ({exc})") from None
        table = table.get("plumbline", table)
        for key, raw in table.items():
            if key not in names:
                raise SettingsError(f"{ENV_PREFIX}CONFIG: unknown setting {key!r} in {path}")
            values[key] = _coerce(key, raw, hints[key])

    for key in names:
        raw = env.get(_env_name(key))
        if raw is not None:
            values[key] = _coerce(key, raw, hints[key])
    for key, raw in overrides.items():
        if key not in names:
            raise SettingsError(f"unknown setting {key!r}")
        values[key] = raw if raw is None else _coerce(key, raw, hints[key])
    return Settings(**values)
