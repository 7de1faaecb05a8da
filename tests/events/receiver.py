"""A real webhook receiver on 127.0.0.1 (port 0) that verifies Standard Webhooks signatures."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: Any


@dataclasses.dataclass
class Receiver:
    """Answers each POST with the next scripted status (the last one repeats)."""

    secret: str
    statuses: list[int] = dataclasses.field(default_factory=lambda: [200])
    delay: float = 0.0
    requests: list[Received] = dataclasses.field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self._lock:
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = Webhook(receiver.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                payload, verified = json.loads(body or b"null"), False
            with receiver._lock:
                receiver.requests.append(
                    Received(self.path, headers, body, verified=verified, payload=payload)
                )
            if receiver.delay:
                time.sleep(receiver.delay)
            # A receiver that checks signatures refuses what it cannot verify.
            status = receiver.next_status() if verified else 401
            answer = b'{"ok": true}' if status < 300 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextlib.contextmanager
def webhook_receiver(
    secret: str, *, statuses: list[int] | None = None, delay: float = 0.0
) -> Iterator[Receiver]:
    receiver = Receiver(secret=secret, statuses=statuses or [200], delay=delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/beo"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
