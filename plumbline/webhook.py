"""A tiny Alertmanager webhook receiver that records every notification it gets.

Each POST body (Alertmanager's webhook JSON, version 4) is appended as one JSON line to the output
file, with the receiving path and time, so tests and `plumbline alerts` can read exactly what
Alertmanager delivered. Run it as ``python -m plumbline.webhook --port P --out FILE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["iter_alerts", "read_notifications", "serve"]

_MAX_BODY_BYTES = 4 * 1024 * 1024


def _handler(out: Path, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY_BYTES:
                self.send_error(413, "body too large")
                return
            body = self.rfile.read(length)
            try:
                notification = json.loads(body)
            except ValueError:
                self.send_error(400, "body is not JSON")
                return
            entry = {
                "received_at": dt.datetime.now(dt.UTC).isoformat(),
                "path": self.path,
                "notification": notification,
            }
            with lock, out.open("a") as handle:
                handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self.send_response(200)
            self.end_headers()

        def do_GET(self) -> None:
            # Health check for `plumbline stack status`.
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, format: str, *args: Any) -> None:
            return  # the JSON-lines file is the log

    return Handler


def serve(host: str, port: int, out: Path) -> None:
    """Serve until interrupted."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch()
    server = ThreadingHTTPServer((host, port), _handler(out, threading.Lock()))
    try:
        server.serve_forever()
    finally:
        server.server_close()


def read_notifications(path: Path) -> list[dict[str, Any]]:
    """Every recorded notification, oldest first (missing file: none)."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        if line.strip():
            entries.append(json.loads(line))
    return entries


def iter_alerts(path: Path) -> Iterator[dict[str, Any]]:
    """One flat dict per alert in every recorded notification, with receiver and receive time."""
    for entry in read_notifications(path):
        notification = entry["notification"]
        for alert in notification.get("alerts", []):
            yield {
                "received_at": entry["received_at"],
                "path": entry["path"],
                "receiver": notification.get("receiver", ""),
                "status": alert.get("status", ""),
                "labels": alert.get("labels", {}),
                "annotations": alert.get("annotations", {}),
                "startsAt": alert.get("startsAt", ""),
                "endsAt": alert.get("endsAt", ""),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    serve(args.host, args.port, args.out)


if __name__ == "__main__":
    main()
