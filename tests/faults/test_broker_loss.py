"""Broker loss: the embedded broker (memory-only) is stopped and started again; its topics are new.

(a) Mid-replay, on the whole stack: a replay of 2019-06..2019-12 is sent while the worker consumes
    it; the broker is stopped after part of it was consumed and started again (``stack up``
    recreates the topics, empty, offsets from 0, no committed offsets). The replay command exits
    with one line; run again, as the product says, it sends the whole window again. The worker
    notices the new topics (their ids), empties the checkpoints of the lost ones and derives its
    partitions again from the new topics' start. The new signals and alerts topics then hold
    exactly the uninterrupted in-process run: every signal's final value, every alert event, none
    with two contents; no page to the paging receiver, none repeated.
(b) Mid-live-polling: the connectors poll a local HTTP NY Fed while the broker goes away and comes
    back; a print fetched during the outage stays pending, and the publisher re-sends the archive
    to the new topic by itself: every print is on it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from connectors.archive import Archive
from connectors.replay import plan_from_settings
from connectors.service import ConnectorService
from foundation.records import Print
from foundation.settings import Settings
from offline.evaluation import SIGNAL_SERIES
from plumbline import stack
from tests.conftest import serving
from tests.faults.harness import check_delivery, expected_run, pages, repeated_pages, wait_for

pytestmark = pytest.mark.e2e


def worker_metric(settings: Settings, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return -1.0
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + "{"))


def replay_command(settings: Settings, *extra: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in settings.masked().items() if value}
    env["PATH"] = "/usr/bin:/bin"
    return subprocess.Popen(
        [sys.executable, "-m", "plumbline", "replay", "--from", "2019-06-01", "--to", "2019-12-31", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_broker_lost_mid_replay_loses_no_print_and_duplicates_nothing(local_stack: Settings) -> None:
    settings = local_stack
    plan = plan_from_settings(
        settings, list(SIGNAL_SERIES), dt.date(2019, 6, 1), dt.date(2019, 12, 31), skip_missing=True
    )
    reference = expected_run(settings, plan.prints)
    assert any(a.signal == "sofr_iorb_spread_bp" and a.state == "firing" for a in reference.alerts)
    # 20 days of history a second: the window takes about ten seconds to send.
    first = replay_command(settings, "--speed", "1728000")
    assert wait_for(lambda: worker_metric(settings, "plumbline_records_in_total") >= 200, 90, 0.1)
    stack.down(settings, say=lambda line: None, components=["broker"])
    _, err = first.communicate(timeout=120)
    consumed = worker_metric(settings, "plumbline_records_in_total")
    assert consumed < len(plan.prints), "the broker must go while the replay is still consumed"
    assert first.returncode == 1 and "Traceback" not in err, err
    assert "no Kafka broker answers" in err.strip().splitlines()[-1], err
    assert "run the same command again to resume" in err, err

    time.sleep(3)  # the worker runs without a broker for a while
    stack.up(settings, components=["broker"], say=lambda line: None)
    second = replay_command(settings)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "sending the whole window again" in err, err

    # The new output topics must hold what an uninterrupted run gives: the worker derived its
    # partitions again from the new input topics, so nothing of the lost topics is missing.
    assert wait_for(lambda: check_delivery(settings, reference).ok, 120, 2.0), str(
        check_delivery(settings, reference)
    )
    time.sleep(5)  # anything late or repeated would arrive now
    delivery = check_delivery(settings, reference)
    assert delivery.ok, str(delivery)
    log = (settings.state_dir / "logs" / "worker.log").read_text()
    assert "is a new topic (the broker lost its data)" in log
    assert worker_metric(settings, "plumbline_input_topics_recreated_total") >= 2  # prints and index inputs
    got = pages(settings)
    assert not repeated_pages(got)
    assert not [p for p in got if dict(p.labels).get("replay") != "true"], "replayed history paged someone"
    print(
        f"{len(plan.prints)} prints, broker stopped after {consumed:.0f} consumed; {len(reference.alerts)} "
        f"alerts, {delivery.redelivered_alerts} byte-equal redeliveries, {len(got)} notifications "
        "(replay receiver)"
    )


@pytest.fixture
def nyfed(data_dir: Path) -> Iterator[dict[str, Any]]:
    """A local HTTP NY Fed: the SOFR search sample; ``state["extra"]`` adds a day to it."""
    sample = data_dir.parent / "formats" / "nyfed_api_rates_secured_sofr_search.json"
    body = json.loads(sample.read_text())
    state: dict[str, Any] = {"extra": None}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path.startswith("/api/rates/secured/sofr/search.json")
            payload = json.loads(json.dumps(body))
            if state["extra"] is not None:
                payload["refRates"].insert(0, state["extra"])
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(payload).encode() if ok else b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        state["url"] = url
        state["body"] = body
        yield state


def prints_on_topic(settings: Settings) -> set[tuple[str, int]]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, consumer_timeout_ms=1500,
                             auto_offset_reset="earliest")  # fmt: skip
    try:
        partition = TopicPartition(settings.topic_prints, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        return {(p.key, p.vintage) for p in (Print.from_json(m.value) for m in consumer)}
    finally:
        consumer.close()


def test_broker_lost_while_polling_live_loses_no_print(broker: Settings, nyfed: dict[str, Any]) -> None:
    settings = dataclasses.replace(broker, nyfed_base_url=nyfed["url"], source_min_interval_seconds=0.0)
    with ConnectorService(settings, ["SOFR"]) as service:
        service.poll_once()
        before = prints_on_topic(settings)
        assert len(before) == 18

        stack.down(settings, say=lambda line: None, components=["broker"])
        newest = nyfed["body"]["refRates"][0]
        nyfed["extra"] = {**newest, "effectiveDate": "2019-09-20", "percentRate": 1.86}
        started = time.monotonic()
        service.poll_once()  # archived, pending: the broker is away (one line, no crash)
        assert time.monotonic() - started < 60
        with Archive.open(settings) as archive:
            fetched_offline = {(p.key, p.vintage) for p in archive.pending()}
        assert "SOFR@2019-09-20" in {key for key, _ in fetched_offline}
        assert all(key.endswith("@2019-09-20") for key, _ in fetched_offline)

        stack.up(settings, components=["broker"], say=lambda line: None)
        assert prints_on_topic(settings) == set()  # the broker kept nothing
        service.poll_once()  # the publisher sees a new topic and re-sends the archive
        after = prints_on_topic(settings)
    assert after == before | fetched_offline
    with Archive.open(settings) as archive:
        assert archive.pending() == []
