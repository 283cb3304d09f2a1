"""A tiny Alertmanager webhook receiver that records every notification it gets.

Each POST body (Alertmanager's webhook JSON, version 4) is appended as one JSON line to the output
file, with the receiving path and time, so tests and `plumbline alerts` can read exactly what
Alertmanager delivered. Run it as ``python -m plumbline.webhook --port P --out FILE``.

With a token (``PLUMBLINE_WEBHOOK_TOKEN`` or ``PLUMBLINE_WEBHOOK_TOKEN_FILE``), a POST without
``Authorization: Bearer <token>`` is answered 401 and recorded nowhere; `plumbline stack up` gives
Alertmanager the token in a credentials file. The health check (GET) needs no token.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hmac
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["iter_alerts", "make_server", "read_notifications", "serve"]

_MAX_BODY_BYTES = 4 * 1024 * 1024


def _authorized(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (no token set: every request is)."""
    if token is None:
        return True
    scheme, _, given = (header or "").partition(" ")
    # compare_digest takes as long whatever prefix matches, so timing does not reveal the token.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _handler(out: Path, lock: threading.Lock, token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if not _authorized(self.headers.get("Authorization"), token):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Bearer realm="plumbline"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.send_error(400, "bad Content-Length")
                return
            if not 0 <= length <= _MAX_BODY_BYTES:
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


def make_server(host: str, port: int, out: Path, token: str | None = None) -> ThreadingHTTPServer:
    """A receiver bound to ``host:port`` recording into ``out``; ``token``: the bearer token it demands."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch()
    return ThreadingHTTPServer((host, port), _handler(out, threading.Lock(), token or None))


def serve(host: str, port: int, out: Path, token: str | None = None) -> None:
    """Serve until interrupted."""
    server = make_server(host, port, out, token)
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
    from foundation.settings import SettingsError, load_settings

    try:
        # The token is a secret: from the environment or its file, never the command line (ps shows it).
        token = load_settings().webhook_token
    except SettingsError as exc:
        print(f"plumbline webhook: bad setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    serve(args.host, args.port, args.out, token)


if __name__ == "__main__":
    main()
