"""How long a worker with an empty disk takes to rebuild a partition holding the full history.

Run with ``python -m benchmarks.rebuild`` (needs ``PLUMBLINE_DATA_DIR``). It starts the embedded
broker on free ports, produces every print of the data directory (first vintages, publication
order) to a one-partition prints topic, lets a first worker process all of it, stops it, and starts
a second worker on an empty checkpoint directory: that worker rebuilds the partition from the topic
up to the committed offset (streams/rebuild.py) and exports how long it took
(``plumbline_state_rebuild_seconds``). The baseline, measured in the same run, is the in-process
engine over the same prints, so the ratio says what reading the topic and writing the checkpoint
cost on top of the computation itself.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from connectors.producer import PrintProducer
from connectors.replay import plan_replay
from foundation.catalogue import SERIES
from foundation.settings import Settings, load_settings
from plumbline import stack
from streams.config import detector_plan
from streams.engine import FundingEngine


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values) if values else None


_PRINTS_IN = 'plumbline_records_in_total{topic="plumbline.prints.v2"}'
_INDEX_IN = 'plumbline_records_in_total{topic="plumbline.index-inputs.v1"}'


def _committed(settings: Settings) -> tuple[int, int]:
    """The group's committed offsets of the prints and the index-inputs partitions."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=settings.app_id)
    try:
        return (
            consumer.committed(TopicPartition(settings.topic_prints, 0)) or 0,
            consumer.committed(TopicPartition(settings.topic_index_inputs, 0)) or 0,
        )
    finally:
        consumer.close()


def _worker(settings: Settings, checkpoint_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {k: v for k, v in settings.masked().items() if v}
    env.update(
        PATH=os.environ.get("PATH", ""),
        PLUMBLINE_METRICS_PORT=str(port),
        PLUMBLINE_CHECKPOINT_DIR=str(checkpoint_dir),
    )
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "plumbline", "worker", "--loglevel", "warn"],
            env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return process, port


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)


def main() -> int:
    data_dir = os.environ.get("PLUMBLINE_DATA_DIR")
    if not data_dir:
        print("benchmarks.rebuild: set PLUMBLINE_DATA_DIR to the folder of date,value CSVs", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="plumbline-rebuild-"))
    ports = {name: str(_free_port()) for name in ("BROKER", "PROMETHEUS", "ALERTMANAGER", "WEBHOOK")}
    settings = load_settings(
        env={f"PLUMBLINE_{name}_PORT": port for name, port in ports.items()}
        | {"PLUMBLINE_STATE_DIR": str(workdir / "state"), "PLUMBLINE_DATA_DIR": data_dir}
    )
    plan = plan_replay(
        Path(data_dir), tuple(SERIES), dt.date(2018, 1, 1), dt.date(9999, 12, 31), skip_missing=True
    )
    prints = list(plan.prints)

    engine = FundingEngine(detector_plan(settings))
    payloads = [p.to_json() for p in prints]
    started = time.perf_counter()
    for payload in payloads:
        engine.handle_print_bytes(payload)
    baseline = time.perf_counter() - started

    stack.up(settings, components=["broker"], say=lambda line: None)
    try:
        with PrintProducer(settings) as producer:
            producer.send_all(prints)
        first, first_port = _worker(settings, workdir / "disk-1", workdir / "worker-1.log")
        deadline = time.monotonic() + 900
        # Done when it has read every print and the index has had nothing new for 10 s (the broker's
        # offsets are not contiguous, so counts, not offsets, say when).
        seen_index, quiet_since = -1.0, time.monotonic()
        while (_metric(first_port, _PRINTS_IN) or 0) < len(prints) or time.monotonic() - quiet_since < 10:
            if time.monotonic() > deadline:
                print("benchmarks.rebuild: the first worker did not finish in 15 min", file=sys.stderr)
                return 1
            index_in = _metric(first_port, _INDEX_IN) or 0
            if index_in != seen_index:  # the index agent is still working through its inputs
                seen_index, quiet_since = index_in, time.monotonic()
            time.sleep(1)
        time.sleep(5)  # Faust commits offsets every few seconds
        before = _committed(settings)
        _stop(first)
        second, second_port = _worker(settings, workdir / "disk-2", workdir / "worker-2.log")
        deadline = time.monotonic() + 600
        rebuild = None
        # Both partitions it takes (prints and index inputs) are rebuilt: wait for the two.
        while time.monotonic() < deadline:
            if (_metric(second_port, "plumbline_state_rebuild_seconds_count") or 0) >= 2:
                rebuild = _metric(second_port, "plumbline_state_rebuild_seconds_sum")
                break
            time.sleep(0.5)
        _stop(second)
    finally:
        stack.down(settings, say=lambda line: None)
    if rebuild is None:
        print("benchmarks.rebuild: the second worker exported no rebuild", file=sys.stderr)
        return 1
    print(
        f"full history, {len(prints)} prints in one partition: rebuild of the prints and index-inputs "
        f"partitions (committed offsets {before}) on an empty disk {rebuild:.1f} s; "
        f"in-process engine over the same prints {baseline:.1f} s; ratio {rebuild / baseline:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
