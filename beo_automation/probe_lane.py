"""The probe lane: a second gunicorn listener (HEALTH_PORT) that serves only the monitoring
endpoints, so a health probe never waits behind the API's queue.

Each sync worker serves one connection at a time. With one listener, a probe joins the queue of
every client's connections already waiting; under load it waits for all of them. With a second
listener, every worker's accept loop selects on both sockets and takes one connection from each
ready one in turn, so a probe waits for at most the request in hand. Requests that arrive on the
probe listener for any other path get a 404 envelope: the lane cannot be used to jump the queue.

Which listener a request came in on is the local port of its connection (gunicorn puts the
socket in the WSGI environ), not the Host header a client chooses.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable
from typing import Any

PROBE_PATHS = frozenset({"/api/health/", "/api/health/live/", "/metrics"})

_NOT_ON_LANE = json.dumps(
    {
        "success": False,
        "error": {
            "code": 404,
            "message": "Only /api/health/, /api/health/live/ and /metrics are served on this port",
        },
    }
).encode()

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _local_port(environ: dict[str, Any]) -> int | None:
    conn = environ.get("gunicorn.socket")
    if not isinstance(conn, socket.socket):
        return None
    try:
        address = conn.getsockname()
    except OSError:
        return None
    return address[1] if isinstance(address, tuple) else None


class ProbeLane:
    """WSGI middleware: on the probe port, only PROBE_PATHS reach the application."""

    def __init__(self, app: WSGIApp, *, port: int | None) -> None:
        self.app, self.port = app, port

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if (
            self.port is not None
            and environ.get("PATH_INFO") not in PROBE_PATHS
            and _local_port(environ) == self.port
        ):
            start_response(
                "404 Not Found",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(_NOT_ON_LANE))),
                ],
            )
            return [_NOT_ON_LANE]
        return self.app(environ, start_response)
