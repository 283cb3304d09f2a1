"""Kafka TLS and SASL settings: validated at start, secrets from files and masked, and reaching every client.

No TLS or SASL broker runs here (the embedded Tansu broker speaks PLAINTEXT). So these tests check
that the settings reach each client library's configuration: kafka-python's options (and that
kafka-python knows every one of them), an aiokafka consumer's client, and the Faust app's
``broker_credentials`` (and what Faust's aiokafka driver makes of them). One test goes to the wire:
a TLS server that demands a client certificate sees plumbline's producer present the configured one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundation.kafka_security import aiokafka_options, kafka_python_options
from foundation.settings import Settings, SettingsError, load_settings

KEY_PASSWORD = "k3y-passw0rd"
SASL_PASSWORD = "sasl-passw0rd-value"


@dataclasses.dataclass(frozen=True)
class Pki:
    """A throwaway CA, a server certificate for 127.0.0.1, and a client certificate with an encrypted key."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=plumbline-test-ca",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)  # fmt: skip
    for name, extra in (("server", ["-extfile", "san.ext"]), ("client", [])):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=plumbline-{name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-out", f"{name}.pem", *extra, cwd=d)  # fmt: skip
    _openssl("pkey", "-in", "client.key", "-aes256", "-passout", f"pass:{KEY_PASSWORD}",
             "-out", "client.enc.key", cwd=d)  # fmt: skip
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.enc.key")


def _secret_file(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")  # as `echo value > file` writes it
    return path


def sasl_ssl_env(pki: Pki, tmp_path: Path) -> dict[str, str]:
    """Mutual TLS plus SCRAM, both secrets read from files (the Kubernetes secret-volume way)."""
    return {
        "PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "PLUMBLINE_KAFKA_SSL_CA_FILE": str(pki.ca),
        "PLUMBLINE_KAFKA_SSL_CERT_FILE": str(pki.client_cert),
        "PLUMBLINE_KAFKA_SSL_KEY_FILE": str(pki.client_key),
        "PLUMBLINE_KAFKA_SSL_KEY_PASSWORD_FILE": str(_secret_file(tmp_path, "key-password", KEY_PASSWORD)),
        "PLUMBLINE_KAFKA_SSL_CHECK_HOSTNAME": "false",
        "PLUMBLINE_KAFKA_SASL_MECHANISM": "scram-sha-512",
        "PLUMBLINE_KAFKA_SASL_USERNAME": "plumbline",
        "PLUMBLINE_KAFKA_SASL_PASSWORD_FILE": str(_secret_file(tmp_path, "sasl-password", SASL_PASSWORD)),
    }


def test_the_default_is_plaintext_for_every_client() -> None:
    from streams.app import broker_credentials, create_app

    settings = load_settings(env={})
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert kafka_python_options(settings) == aiokafka_options(settings) == {"security_protocol": "PLAINTEXT"}
    assert broker_credentials(settings) is None
    assert create_app(settings).app.conf.broker_credentials is None


def test_secrets_are_read_from_files_without_the_trailing_newline(pki: Pki, tmp_path: Path) -> None:
    settings = load_settings(env=sasl_ssl_env(pki, tmp_path))
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka_ssl_key_password == KEY_PASSWORD
    assert settings.kafka_sasl_password == SASL_PASSWORD
    assert settings.kafka_ssl_check_hostname is False


def test_kafka_python_gets_every_option_and_knows_each_name(pki: Pki, tmp_path: Path) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    options = kafka_python_options(load_settings(env=sasl_ssl_env(pki, tmp_path)))
    assert options == {
        "security_protocol": "SASL_SSL",
        "ssl_cafile": str(pki.ca),
        "ssl_certfile": str(pki.client_cert),
        "ssl_keyfile": str(pki.client_key),
        "ssl_password": KEY_PASSWORD,
        "ssl_check_hostname": False,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "plumbline",
        "sasl_plain_password": SASL_PASSWORD,
    }
    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        assert set(options) <= set(client.DEFAULT_CONFIG), client  # kafka-python refuses unknown names


def test_the_connectors_producer_and_the_topic_admin_pass_them_on(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kafka

    from connectors import producer as producer_module
    from plumbline import stack

    settings = load_settings(env=sasl_ssl_env(pki, tmp_path))
    made: list[dict[str, Any]] = []

    class Recording:
        DEFAULT_CONFIG = kafka.KafkaProducer.DEFAULT_CONFIG

        def __init__(self, **config: Any) -> None:
            made.append(config)

        def list_topics(self) -> list[str]:
            return list(settings.all_topics)

        def close(self) -> None:
            pass

    monkeypatch.setattr(producer_module, "KafkaProducer", Recording)
    producer_module.PrintProducer(settings)
    monkeypatch.setattr(kafka, "KafkaAdminClient", Recording)
    stack.create_topics(settings)
    assert len(made) == 2
    for config in made:
        assert config.items() >= kafka_python_options(settings).items()


def test_aiokafka_consumers_of_the_rebuild_get_the_context_and_sasl(pki: Pki, tmp_path: Path) -> None:
    from aiokafka import AIOKafkaConsumer

    from streams.rebuild import _client_options

    settings = load_settings(env=sasl_ssl_env(pki, tmp_path))

    async def make() -> Any:
        consumer = AIOKafkaConsumer(group_id=None, **_client_options(settings))  # type: ignore[arg-type]
        return consumer._client  # configured, never started: no connection is made

    client = asyncio.run(make())
    assert client._security_protocol == "SASL_SSL"
    assert client._sasl_mechanism == "SCRAM-SHA-512"
    assert (client._sasl_plain_username, client._sasl_plain_password) == ("plumbline", SASL_PASSWORD)
    context = client._ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is False
    assert any(ca["subject"] == ((("commonName", "plumbline-test-ca"),),) for ca in context.get_ca_certs())


def test_faust_gets_sasl_credentials_over_tls(pki: Pki, tmp_path: Path) -> None:
    import faust
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from streams.app import create_app

    settings = load_settings(env=sasl_ssl_env(pki, tmp_path))
    conf = create_app(settings).app.conf
    credentials = conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("plumbline", SASL_PASSWORD)
    # What Faust's aiokafka driver hands its consumer, producer and admin: the same as the rebuild's.
    auth = dict(credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context))
    ours = aiokafka_options(settings)
    assert isinstance(auth.pop("ssl_context"), ssl.SSLContext)
    del ours["ssl_context"]
    assert auth == ours


def test_faust_gets_ssl_credentials_for_plain_tls(pki: Pki) -> None:
    import faust

    from streams.app import create_app

    settings = load_settings(
        env={"PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SSL", "PLUMBLINE_KAFKA_SSL_CA_FILE": str(pki.ca)}
    )
    credentials = create_app(settings).app.conf.broker_credentials
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.protocol.value == "SSL"
    assert credentials.context.check_hostname is True


def test_sasl_without_tls_goes_to_faust_as_sasl_plaintext() -> None:
    import faust

    from streams.app import create_app

    settings = load_settings(
        env={
            "PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "PLUMBLINE_KAFKA_SASL_MECHANISM": "PLAIN",
            "PLUMBLINE_KAFKA_SASL_USERNAME": "u",
            "PLUMBLINE_KAFKA_SASL_PASSWORD": "p",
        }
    )
    credentials = create_app(settings).app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT" and credentials.ssl_context is None
    assert "ssl_cafile" not in kafka_python_options(settings)


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[tuple[int, list[str]]]:
    """A TLS server on 127.0.0.1 demanding a client certificate; records each client's CN."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    seen: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(5)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    peer: Any = tls.getpeercert()
                    seen.extend(value for rdn in peer["subject"] for key, value in rdn if key == "commonName")
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_the_producer_presents_the_configured_client_certificate(
    pki: Pki, tls_server: tuple[int, list[str]]
) -> None:
    """On the wire: kafka-python completes mutual TLS with our CA, certificate and encrypted key."""
    from kafka.errors import KafkaError

    from connectors.producer import PrintProducer

    port, seen = tls_server
    settings = load_settings(
        env={
            "PLUMBLINE_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            "PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SSL",
            "PLUMBLINE_KAFKA_SSL_CA_FILE": str(pki.ca),
            "PLUMBLINE_KAFKA_SSL_CERT_FILE": str(pki.client_cert),
            "PLUMBLINE_KAFKA_SSL_KEY_FILE": str(pki.client_key),
            "PLUMBLINE_KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,
        }
    )
    with pytest.raises(KafkaError):  # the server speaks TLS, not Kafka
        PrintProducer(settings, max_block_ms=1500)
    assert "plumbline-client" in seen


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "TLS"},
         "PLUMBLINE_KAFKA_SECURITY_PROTOCOL: 'TLS' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
        ({"PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
         "PLUMBLINE_KAFKA_SASL_MECHANISM: PLUMBLINE_KAFKA_SECURITY_PROTOCOL is SASL_SSL, which needs a "
         "mechanism: one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
        ({"PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "PLUMBLINE_KAFKA_SASL_MECHANISM": "GSSAPI"},
         "PLUMBLINE_KAFKA_SASL_MECHANISM: 'GSSAPI' is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
        ({"PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "PLUMBLINE_KAFKA_SASL_MECHANISM": "PLAIN",
          "PLUMBLINE_KAFKA_SASL_USERNAME": "u"},
         "PLUMBLINE_KAFKA_SASL_PASSWORD (or PLUMBLINE_KAFKA_SASL_PASSWORD_FILE): "
         "PLUMBLINE_KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT, set it"),
        ({"PLUMBLINE_KAFKA_SASL_USERNAME": "u"},
         "PLUMBLINE_KAFKA_SASL_USERNAME: set, but PLUMBLINE_KAFKA_SECURITY_PROTOCOL is PLAINTEXT; "
         "use SASL_PLAINTEXT or SASL_SSL"),
        ({"PLUMBLINE_KAFKA_SSL_CA_FILE": "{ca}"},
         "PLUMBLINE_KAFKA_SSL_CA_FILE: set, but PLUMBLINE_KAFKA_SECURITY_PROTOCOL is PLAINTEXT; "
         "use SSL or SASL_SSL"),
        ({"PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SSL", "PLUMBLINE_KAFKA_SSL_CERT_FILE": "{cert}"},
         "PLUMBLINE_KAFKA_SSL_KEY_FILE: PLUMBLINE_KAFKA_SSL_CERT_FILE is set, so its pair must be too"),
        ({"PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SSL", "PLUMBLINE_KAFKA_SSL_CA_FILE": "{missing}"},
         "PLUMBLINE_KAFKA_SSL_CA_FILE: {missing} is not a readable file"),
        ({"PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SSL", "PLUMBLINE_KAFKA_SSL_CERT_FILE": "{cert}",
          "PLUMBLINE_KAFKA_SSL_KEY_FILE": "{key}", "PLUMBLINE_KAFKA_SSL_KEY_PASSWORD": "wrong"},
         "PLUMBLINE_KAFKA_SSL_CA_FILE, _CERT_FILE, _KEY_FILE, _KEY_PASSWORD: unusable for TLS: "),
        ({"PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SSL", "PLUMBLINE_KAFKA_SSL_CHECK_HOSTNAME": "maybe"},
         "PLUMBLINE_KAFKA_SSL_CHECK_HOSTNAME: 'maybe' is not a boolean (true or false)"),
        ({"PLUMBLINE_KAFKA_SASL_PASSWORD_FILE": "{missing}"},
         "PLUMBLINE_KAFKA_SASL_PASSWORD_FILE: cannot read {missing}: No such file or directory"),
        ({"PLUMBLINE_KAFKA_SASL_PASSWORD_FILE": "{empty}"},
         "PLUMBLINE_KAFKA_SASL_PASSWORD_FILE: {empty} is empty"),
        ({"PLUMBLINE_KAFKA_SASL_PASSWORD_FILE": "{ca}", "PLUMBLINE_KAFKA_SASL_PASSWORD": "x"},
         "PLUMBLINE_KAFKA_SASL_PASSWORD: set it or PLUMBLINE_KAFKA_SASL_PASSWORD_FILE, not both"),
    ],
    ids=["protocol", "no-mechanism", "gssapi", "no-password", "sasl-on-plaintext", "tls-on-plaintext",
         "cert-without-key", "unreadable-ca", "wrong-key-password", "hostname-flag", "missing-secret-file",
         "empty-secret-file", "secret-twice"],
)  # fmt: skip
def test_each_mistake_is_one_line_naming_the_setting(
    env: dict[str, str], message: str, pki: Pki, tmp_path: Path
) -> None:
    (tmp_path / "empty").write_text("\n")
    names = {"ca": pki.ca, "cert": pki.client_cert, "key": pki.client_key,
             "missing": tmp_path / "missing", "empty": tmp_path / "empty"}  # fmt: skip
    env = {name: value.format(**names) for name, value in env.items()}
    with pytest.raises(SettingsError) as caught:
        load_settings(env=env)
    assert str(caught.value).startswith(message.format(**names))
    assert "\n" not in str(caught.value)


def test_config_masks_secrets_completely_and_shows_their_files(pki: Pki, tmp_path: Path) -> None:
    env = sasl_ssl_env(pki, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "plumbline", "config"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], "PLUMBLINE_STATE_DIR": str(tmp_path), **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = dict(line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("PLUMBLINE_"))
    assert shown["PLUMBLINE_KAFKA_SASL_PASSWORD"] == shown["PLUMBLINE_KAFKA_SSL_KEY_PASSWORD"] == "****"
    assert shown["PLUMBLINE_KAFKA_SASL_PASSWORD_FILE"] == env["PLUMBLINE_KAFKA_SASL_PASSWORD_FILE"]
    assert shown["PLUMBLINE_KAFKA_SASL_USERNAME"] == "plumbline"
    for secret in (SASL_PASSWORD, KEY_PASSWORD, SASL_PASSWORD[-2:] + "\n"):
        assert secret not in result.stdout


def test_child_processes_get_the_secrets_but_not_copies_of_file_secrets(pki: Pki, tmp_path: Path) -> None:
    from_files = load_settings(env=sasl_ssl_env(pki, tmp_path))
    env = from_files.environment()
    assert env["PLUMBLINE_KAFKA_SASL_PASSWORD"] == "" and SASL_PASSWORD not in env.values()
    assert load_settings(env=env) == from_files
    direct = load_settings(
        env={"PLUMBLINE_FRED_API_KEY": "k" * 12, "PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SSL"}
    )
    assert load_settings(env=direct.environment()) == direct


def test_the_toml_file_takes_the_security_settings(pki: Pki, tmp_path: Path) -> None:
    config = tmp_path / "plumbline.toml"
    config.write_text(
        f'[plumbline]\nkafka_security_protocol = "SSL"\nkafka_ssl_ca_file = "{pki.ca}"\n'
        "kafka_ssl_check_hostname = false\n"
    )
    settings: Settings = load_settings(env={}, config_file=config)
    assert kafka_python_options(settings) == {
        "security_protocol": "SSL", "ssl_cafile": str(pki.ca), "ssl_check_hostname": False,
    }  # fmt: skip
