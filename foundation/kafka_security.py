"""How the Kafka security settings reach each Kafka client plumbline uses: written once, here.

Three client libraries talk to the broker: kafka-python (the connectors' producer, the stack's
topic admin), aiokafka (a worker's partition rebuild) and Faust (the worker, on aiokafka). Each wants
the same facts under other names: kafka-python takes file names, aiokafka and Faust an
:class:`ssl.SSLContext`. :func:`kafka_python_options` and :func:`aiokafka_options` are the two
translations; Faust's credentials object is made from :func:`aiokafka_options` in ``streams/app.py``.
The settings themselves (and their validation, and the secrets read from ``*_FILE``) live in
:mod:`foundation.settings`.

The default, PLAINTEXT, is what the embedded broker speaks:

>>> from foundation.settings import load_settings
>>> kafka_python_options(load_settings(env={}))
{'security_protocol': 'PLAINTEXT'}
>>> sasl = load_settings(env={
...     "PLUMBLINE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
...     "PLUMBLINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
...     "PLUMBLINE_KAFKA_SASL_USERNAME": "plumbline",
...     "PLUMBLINE_KAFKA_SASL_PASSWORD": "s3cret",
... })
>>> sorted(aiokafka_options(sasl).items())  # doctest: +NORMALIZE_WHITESPACE
[('sasl_mechanism', 'SCRAM-SHA-512'), ('sasl_plain_password', 's3cret'),
 ('sasl_plain_username', 'plumbline'), ('security_protocol', 'SASL_PLAINTEXT')]
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the settings module imports this one to validate; no cycle at run time
    from foundation.settings import Settings

__all__ = [
    "SASL_MECHANISMS",
    "SECURITY_PROTOCOLS",
    "aiokafka_options",
    "kafka_python_options",
    "ssl_context",
    "uses_sasl",
    "uses_ssl",
]

#: The protocols Kafka clients speak (``security.protocol``), as every client library spells them.
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
#: The SASL mechanisms plumbline supports (GSSAPI and OAUTHBEARER need more than a password).
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def uses_ssl(protocol: str) -> bool:
    """Whether connections under ``protocol`` are TLS.

    >>> uses_ssl("SASL_SSL"), uses_ssl("SASL_PLAINTEXT")
    (True, False)
    """
    return protocol in ("SSL", "SASL_SSL")


def uses_sasl(protocol: str) -> bool:
    """Whether connections under ``protocol`` authenticate with SASL.

    >>> uses_sasl("SASL_SSL"), uses_sasl("SSL")
    (True, False)
    """
    return protocol.startswith("SASL_")


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of ``settings`` (None unless the protocol is SSL or SASL_SSL).

    What :func:`aiokafka.helpers.create_ssl_context` builds (a default client context trusting the CA
    file, else the system's CAs, with the client certificate chain loaded), made with the standard
    library so the foundation floor loads no Kafka library; plus ``check_hostname``, which aiokafka's
    helper always turns on. Raises :class:`ssl.SSLError` or :class:`OSError` on an unusable file
    (the settings validation turns that into one line).
    """
    if not uses_ssl(settings.kafka_security_protocol):
        return None
    ca_file = settings.kafka_ssl_ca_file
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file is not None else None
    )
    if settings.kafka_ssl_cert_file is not None:
        context.load_cert_chain(
            str(settings.kafka_ssl_cert_file),
            keyfile=str(settings.kafka_ssl_key_file) if settings.kafka_ssl_key_file is not None else None,
            password=settings.kafka_ssl_key_password,
        )
    # Off only for brokers reached by an address their certificate does not name (the chain is still
    # verified); check_hostname must go off before verify_mode could be changed, and it stays required.
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context


def _sasl_options(settings: Settings) -> dict[str, Any]:
    if not uses_sasl(settings.kafka_security_protocol):
        return {}
    # kafka-python and aiokafka both call the SCRAM credentials "sasl_plain_*" too.
    return {
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": settings.kafka_sasl_password,
    }


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's ``KafkaProducer``, ``KafkaConsumer`` and ``KafkaAdminClient``.

    Only the options that differ from kafka-python's defaults under the chosen protocol: file names,
    since kafka-python builds its own TLS context from them.
    """
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if uses_ssl(settings.kafka_security_protocol):
        files = {
            "ssl_cafile": settings.kafka_ssl_ca_file,
            "ssl_certfile": settings.kafka_ssl_cert_file,
            "ssl_keyfile": settings.kafka_ssl_key_file,
        }
        options.update({name: str(path) for name, path in files.items() if path is not None})
        if settings.kafka_ssl_key_password is not None:
            options["ssl_password"] = settings.kafka_ssl_key_password
        options["ssl_check_hostname"] = settings.kafka_ssl_check_hostname
    options.update(_sasl_options(settings))
    return options


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's clients (and, through ``streams/app.py``, Faust's).

    A fresh :class:`ssl.SSLContext` each call: the context is what carries the files to aiokafka.
    """
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    options.update(_sasl_options(settings))
    return options
