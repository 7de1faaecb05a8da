"""A real local HTTP server that receives Apprise's JSON webhook (json://127.0.0.1:<port>/...)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Records every POST; answers with the queued status codes first, then 200."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: deque[int] = deque()
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def fail_next(self, *statuses: int) -> None:
        with self.lock:
            self.answers.extend(statuses)

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r["json"] for r in self.received if path is None or r["path"] == path]

    def titles(self, path: str | None = None) -> list[str]:
        return [b.get("title", "") for b in self.bodies(path)]

    def wait_for(self, count: int, *, path: str | None = None, timeout: float = 20) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            bodies = self.bodies(path)
            if len(bodies) >= count:
                return bodies
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} deliveries, got {len(bodies)}: {bodies}")
            time.sleep(0.05)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver.lock:
                    status = receiver.answers.popleft() if receiver.answers else 200
                    receiver.received.append(
                        {
                            "path": self.path,
                            "status": status,
                            "json": json.loads(raw or b"{}"),
                            "at": time.time(),
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @contextlib.contextmanager
    def running(self) -> Iterator[Receiver]:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=5)
