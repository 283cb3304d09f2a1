"""Poison on every topic the worker consumes: each bad message is a dead letter, the pipeline goes on.

On the real embedded broker with a real worker, good prints of 2019-08..10 go to the prints topic
with every kind of bad message interleaved, on each prints partition and on the index-inputs topic:
not JSON, a wrong schema version, a message over the size limit, NaN, infinity, an unknown series (a
signal, on index-inputs), a date in the future and a wrong unit. Each becomes a dead-letter record
with its reason (counted by ``plumbline_dead_letter_total{topic,reason}``), and the signals and alerts
topics equal an in-process run over the good prints alone (tests/faults/harness.py). After it, no
label value on the worker's /metrics comes from outside the catalogue, the detectors and the fixed
reasons: names an input chose must never become time series.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import signal
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from connectors.producer import PrintProducer
from foundation.catalogue import SERIES, SIGNALS
from foundation.records import DEAD_LETTER_PAYLOAD_CHARS, MAX_RECORD_BYTES, REASONS, Signal
from foundation.settings import Settings
from streams.config import detector_plan
from streams.metrics import package_version
from tests.faults.harness import Delivery, check_delivery, expected_run, read_topic, wait_for
from tests.streams.test_worker_faults import WorkerProcess, broker_with_two_partitions, metric, window

pytestmark = pytest.mark.e2e

#: Names only an input chose; none may appear on /metrics. One tries to break out of a label value.
UNKNOWN_SERIES = 'BITCOIN",evil="1'
UNKNOWN_SIGNAL = "signal_" + "x" * 200
FUTURE = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)


def _edit(record: bytes, **changes: object) -> bytes:
    body = json.loads(record)
    body.update(changes)
    return json.dumps(body).encode()


def poison_for(good: bytes, unknown: dict[str, object]) -> list[tuple[str, bytes]]:
    """Every kind of bad message, made from the good record ``good``, with the reason it must get."""
    padded = _edit(good, padding="x" * (MAX_RECORD_BYTES + 100))  # valid JSON, but too large
    return [
        ("not_json", b"not json at all \xff"),
        ("schema_version", _edit(good, schema_version=99)),
        ("too_large", padded),
        ("not_finite", good.replace(b'"value":', b'"value":NaN,"was":')),
        ("not_finite", good.replace(b'"value":', b'"value":Infinity,"was":')),
        (next(iter(unknown)), _edit(good, **unknown[next(iter(unknown))])),  # type: ignore[arg-type]
        ("future_date", _edit(good, observation_date=FUTURE.isoformat())),
        ("unit_mismatch", _edit(good, unit="furlongs")),
    ]


@dataclasses.dataclass(frozen=True)
class Outcome:
    settings: Settings
    sent: Counter[tuple[str, str]]  # (topic, reason) -> bad messages sent
    counted: dict[tuple[str, str], float]  # plumbline_dead_letter_total at the end
    dead_letters: list[dict[str, object]]
    delivery: Delivery
    metrics_text: str
    too_large_bytes: dict[str, int]  # topic -> size of the oversized message sent there


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Outcome]:
    tmp_path = tmp_path_factory.mktemp("poison")
    with broker_with_two_partitions(tmp_path, index_grace_seconds=10.0) as settings:
        good = window(data_dir, "2019-08-01", "2019-10-15")
        reference = expected_run(settings, good)
        assert reference.alerts, "the window must give alerts, or the comparison proves little"
        sofr = next(p for p in good if p.series_id == "SOFR")
        a_signal = Signal(
            "sofr_iorb_spread_bp", sofr.observation_date, 1.0, "bp", {"SOFR": "x"}, sofr.published_at
        )
        bad = {
            settings.topic_prints: poison_for(
                sofr.to_json(), {"unknown_series": {"series_id": UNKNOWN_SERIES}}
            ),
            settings.topic_index_inputs: poison_for(
                a_signal.to_json(), {"unknown_signal": {"signal_id": UNKNOWN_SIGNAL}}
            ),
        }
        partitions = {settings.topic_prints: settings.topic_partitions, settings.topic_index_inputs: 1}
        sent: Counter[tuple[str, str]] = Counter()
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, acks="all", max_request_size=1024 * 1024
        )
        chunks = 4  # good prints, then a round of every bad message on every partition, four times
        size = -(-len(good) // chunks)
        with PrintProducer(settings) as prints:
            for start in range(0, len(good), size):
                prints.send_all(good[start : start + size])
                for topic, messages in bad.items():
                    for partition in range(partitions[topic]):
                        for reason, payload in messages:
                            producer.send(topic, key=b"poison", value=payload, partition=partition)
                            sent[(topic, reason)] += 1
                producer.flush()
        producer.close()

        worker = WorkerProcess(settings, "worker")
        try:

            def counted() -> dict[tuple[str, str], float]:
                return {
                    key: metric(
                        settings,
                        worker.metrics_port,
                        "plumbline_dead_letter_total",
                        f'reason="{key[1]}",topic="{key[0]}"',
                    )
                    for key in sent
                }

            def done() -> bool:
                return counted() == {key: float(n) for key, n in sent.items()}

            wait_for(done, timeout_seconds=120, every_seconds=1.0)
            delivery = check_delivery(settings, reference)
            if not delivery.ok:  # the index waits out its grace period before its last dates
                wait_for(
                    lambda: check_delivery(settings, reference).ok, timeout_seconds=60, every_seconds=2.0
                )
                delivery = check_delivery(settings, reference)
            with urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=5) as r:
                metrics_text = r.read().decode()
            final = counted()
        finally:
            worker.kill(signal.SIGTERM)
        letters = [json.loads(value) for _, value in read_topic(settings, settings.topic_dead_letter)]
        sizes = {topic: len(dict(messages)["too_large"]) for topic, messages in bad.items()}
        yield Outcome(settings, sent, final, letters, delivery, metrics_text, sizes)


def test_every_bad_message_on_every_topic_is_a_dead_letter_with_its_reason(poisoned: Outcome) -> None:
    assert poisoned.counted == {key: float(n) for key, n in poisoned.sent.items()}
    got = Counter((str(letter["topic"]), str(letter["reason"])) for letter in poisoned.dead_letters)
    assert got == poisoned.sent
    wanted = {"not_json", "schema_version", "too_large", "not_finite", "future_date", "unit_mismatch"}
    for topic in poisoned.settings.input_topics:
        assert {reason for t, reason in got if t == topic} >= wanted, topic
    assert {reason for _, reason in got} <= set(REASONS)


def test_an_oversized_message_is_not_copied_whole_into_its_dead_letter(poisoned: Outcome) -> None:
    too_large = [letter for letter in poisoned.dead_letters if letter["reason"] == "too_large"]
    assert too_large
    for letter in too_large:
        assert letter["truncated"] is True
        assert letter["payload_bytes"] == poisoned.too_large_bytes[str(letter["topic"])] > MAX_RECORD_BYTES
        assert len(str(letter["payload"])) <= DEAD_LETTER_PAYLOAD_CHARS
        assert len(json.dumps(letter)) < 2 * DEAD_LETTER_PAYLOAD_CHARS


def test_the_good_prints_between_them_give_exactly_the_in_process_signals_and_alerts(
    poisoned: Outcome,
) -> None:
    assert poisoned.delivery.ok, str(poisoned.delivery)


def test_no_label_value_on_metrics_comes_from_outside_the_catalogue(poisoned: Outcome) -> None:
    settings = poisoned.settings
    allowed = {
        "series": set(SERIES),
        "signal": set(SIGNALS),
        "detector": {spec.name for specs in detector_plan(settings).values() for spec in specs},
        "reason": set(REASONS),
        "topic": set(settings.all_topics),
        "replay": {"true", "false"},
        "version": {package_version()},
    }
    assert UNKNOWN_SERIES not in poisoned.metrics_text and "evil" not in poisoned.metrics_text
    assert UNKNOWN_SIGNAL not in poisoned.metrics_text and "furlongs" not in poisoned.metrics_text
    seen: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(poisoned.metrics_text):
        if not family.name.startswith("plumbline_"):
            continue  # the standard process, platform and GC collectors: fixed by the runtime
        for sample in family.samples:
            for name, value in sample.labels.items():
                if name == "le":
                    float(value)  # a histogram bucket bound
                    continue
                assert name in allowed, f"{sample.name}: label {name!r} has no fixed set of values"
                assert value in allowed[name], f"{sample.name}{{{name}={value!r}}} is not in the catalogue"
                seen.setdefault(name, set()).add(value)
    # The check looked at something: the dead letters and the signals the good prints made.
    assert {"reason", "topic", "signal", "series", "detector"} <= set(seen), seen
