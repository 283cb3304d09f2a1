"""The ceiling of a Faust agent on this broker: ``json.loads`` and a counter, nothing else.

Run by :mod:`benchmarks.pipeline` as a child process (``python -m benchmarks.bare_agent``) against a
topic it has already filled with ``--count`` print-sized JSON messages. The agent writes one JSON
line to ``--out``: the wall-clock times (``time.time()``) of its first and its ``count``-th event,
then the process stops itself. The group join (about half the session timeout on the embedded
broker) happens before the first event, so it is not in the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare_agent")
    parser.add_argument("--broker", required=True, help="host:port of the Kafka broker")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--count", type=int, required=True, help="events to read before stopping")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--app-id", default="plumbline-bench-bare-agent")
    parser.add_argument("--session-timeout", type=float, default=6.0)
    parser.add_argument("--heartbeat-interval", type=float, default=1.0)
    parser.add_argument("--datadir", type=Path, required=True)
    args = parser.parse_args(argv)

    import faust

    # The same broker settings as the plumbline worker (streams/app.py create_app), nothing more.
    app = faust.App(
        args.app_id,
        broker=f"kafka://{args.broker}",
        store="memory://",
        web_enabled=False,
        broker_session_timeout=args.session_timeout,
        broker_heartbeat_interval=args.heartbeat_interval,
        consumer_auto_offset_reset="earliest",
        topic_partitions=args.partitions,
        topic_allow_declare=False,
        datadir=str(args.datadir),
    )
    topic = app.topic(
        args.topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        partitions=args.partitions,
    )  # fmt: skip
    state: dict[str, Any] = {"count": 0, "first": None}

    @app.agent(topic, name="bare")
    async def bare(stream: Any) -> None:
        async for value in stream:
            json.loads(value)
            state["count"] += 1
            if state["first"] is None:
                state["first"] = time.time()
            if state["count"] == args.count:
                last = time.time()
                args.out.write_text(json.dumps({"first": state["first"], "last": last, "count": args.count}))
                os.kill(os.getpid(), signal.SIGTERM)

    worker = faust.Worker(app, loglevel="warn", quiet=True)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
