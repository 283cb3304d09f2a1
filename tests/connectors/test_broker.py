"""Archive -> broker on the real embedded broker: restart loses the topic, republish restores it exactly;
`plumbline connectors run --once` against a local HTTP stub of the NY Fed publishes what it serves."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from connectors.archive import Archive
from connectors.base import FetchResult, make_print
from connectors.publisher import Publisher, kafka_producer_factory
from foundation.records import Print
from foundation.settings import Settings
from plumbline import stack
from plumbline.cli import build_parser
from plumbline.commands import connectors as connectors_command
from plumbline.commands import republish
from tests.conftest import serving

pytestmark = pytest.mark.broker


def consume_prints(settings: Settings, quiet_seconds: float = 1.5, max_seconds: float = 20.0) -> list[Print]:
    """Everything on the prints topic, read from the beginning until it stays quiet.

    Tansu's end_offsets() under-reports, so the topic is read until no message arrives for a while;
    manual assignment avoids a consumer-group join.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        partition = TopicPartition(settings.topic_prints, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        out: list[Print] = []
        deadline = time.monotonic() + max_seconds
        last_message = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_message < quiet_seconds:
            for records in consumer.poll(timeout_ms=200).values():
                for message in records:
                    out.append(Print.from_json(message.value))
                    assert message.key.decode() == out[-1].key
                    last_message = time.monotonic()
        return out
    finally:
        consumer.close()


def _distinct(prints: list[Print]) -> set[tuple[str, int]]:
    return {(p.key, p.vintage) for p in prints}


def _sofr(day: int, value: float) -> Print:
    return make_print("SOFR", dt.date(2019, 9, day), value, source="nyfed")


def test_republish_after_broker_restart_restores_every_print_and_repeats_are_identical(
    broker: Settings,
) -> None:
    said: list[str] = []
    with Archive.open(broker) as archive:
        publisher = Publisher(archive, kafka_producer_factory(broker), say=said.append)
        publisher.ingest(FetchResult(prints=[_sofr(16, 2.43), _sofr(17, 5.25), _sofr(18, 2.55)]))
        publisher.ingest(
            FetchResult(prints=[_sofr(17, 5.26)]), known_at=dt.datetime(2019, 9, 18, 19, tzinfo=dt.UTC)
        )
        publisher.close()
        before = consume_prints(broker)
        assert len(before) == 4 and len(_distinct(before)) == 4

        # The embedded broker keeps topics in memory: a restart loses them.
        stack.down(broker, say=lambda line: None)
        # While it is down, a new print is archived and stays pending: nothing is lost.
        offline = Publisher(archive, kafka_producer_factory(broker, max_block_ms=1000), say=said.append)
        report = offline.ingest(FetchResult(prints=[_sofr(19, 1.90)]))
        assert (report.new, report.produced, report.pending) == (1, 0, 1)
        offline.close()
        stack.up(broker, components=["broker"], say=lambda line: None)
        assert consume_prints(broker, quiet_seconds=1.0) == []

    args = build_parser().parse_args(["republish"])
    assert republish.run(args, broker) == 0  # re-sends all five vintages, then the pending one is marked
    after = consume_prints(broker)
    assert _distinct(after) == _distinct(before) | {("SOFR@2019-09-19", 1)}
    assert republish.run(args, broker) == 0  # a second republish: more messages, the same prints
    again = consume_prints(broker)
    assert len(again) == 2 * len(after)
    assert _distinct(again) == _distinct(after)
    by_identity: dict[tuple[str, int], set[bytes]] = {}
    for record in again:
        by_identity.setdefault((record.key, record.vintage), set()).add(record.to_json())
    assert all(len(payloads) == 1 for payloads in by_identity.values())  # repeats are byte-identical
    with Archive.open(broker) as archive:
        assert archive.pending() == []


@pytest.fixture
def nyfed_stub(formats_dir: Any) -> Iterator[str]:
    """A local HTTP server answering the NY Fed SOFR search with the shared sample payload."""
    body = (formats_dir / "nyfed_api_rates_secured_sofr_search.json").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path.startswith("/api/rates/secured/sofr/search.json")
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if ok else b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        yield url


def test_connectors_run_once_against_a_local_stub_publishes_the_prints(
    broker: Settings, nyfed_stub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = dataclasses.replace(broker, nyfed_base_url=nyfed_stub, source_min_interval_seconds=0.0)
    args = build_parser().parse_args(["connectors", "run", "--series", "SOFR", "--once"])
    assert connectors_command.run(args, settings) == 0
    assert "nyfed:SOFR ok: 18 new" in capsys.readouterr().err  # poll lines are log lines (stderr)
    produced = consume_prints(settings)
    assert len(_distinct(produced)) == 18
    assert {p.series_id for p in produced} == {"SOFR", "SOFR1", "SOFR25", "SOFR75", "SOFR99", "SOFRVOL"}
    spike = next(p for p in produced if p.key == "SOFR99@2019-09-17")
    assert spike.value == 9.0 and spike.vintage == 1 and not spike.replay
    # polling again is a no-op: the archive turns the repeat into nothing to produce
    assert connectors_command.run(args, settings) == 0
    assert "0 new, 0 revised, 18 repeats" in capsys.readouterr().err
