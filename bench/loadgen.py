"""A small HTTP load generator for the benches: N concurrent clients, each sending one request at
a time for a fixed duration, with per-request latency.

The benches share two cores with the server, so the client's own cost per request must stay
far below the server's: non-blocking sockets on one epoll loop (selectors), raw HTTP/1.1, no
HTTP library and no asyncio (whose streams cost several times more per connection). One
connection per request, as gunicorn's sync workers close every connection after answering;
a response is complete at its Content-Length, and the client closes then, as an HTTP client
does, instead of waiting for the server's FIN.
"""

from __future__ import annotations

import dataclasses
import selectors
import socket
import statistics
import time
from collections import Counter
from collections.abc import Callable


@dataclasses.dataclass
class LoadResult:
    label: str
    clients: int
    seconds: float
    statuses: Counter[int]
    latencies_ms: list[float]
    items_per_request: int = 1
    # Every 2xx answer, warm-up and tail included: what the server acknowledged in total.
    acknowledged: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def items_per_second(self) -> float:
        return self.ok * self.items_per_request / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    def summary(self) -> dict[str, float | int | str | dict[str, int]]:
        return {
            "label": self.label,
            "clients": self.clients,
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "acknowledged_total": self.acknowledged,
            "rps": round(self.rps, 1),
            "items_per_second": round(self.items_per_second, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p90_ms": round(self.percentile(90), 2),
            "p99_ms": round(self.percentile(99), 2),
            "max_ms": round(max(self.latencies_ms, default=float("nan")), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else 0,
        }


def http_request(
    *, method: str, host: str, port: int, path: str, body: bytes, headers: dict[str, str]
) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# Requests still unanswered this long after the measured window are abandoned.
ABANDON_AFTER = 60.0


def _response_complete(buffer: bytearray) -> tuple[int, bytes] | None:
    """(status, body) once `buffer` holds a whole response with a Content-Length; else None."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
            break
    body_start = head_end + 4
    if length is None or len(buffer) - body_start < length:
        return None
    return _status(head), bytes(buffer[body_start : body_start + length])


def _status(head: bytes) -> int:
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


class _Client:
    """One client's request in flight: connect → send → read until complete → close."""

    __slots__ = ("begun", "buffer", "index", "request", "sent", "sequence", "sock")

    def __init__(self, index: int) -> None:
        self.index = index
        self.sequence = 0
        self.sock: socket.socket | None = None
        self.request = b""
        self.sent = 0
        self.buffer = bytearray()
        self.begun = 0.0


def _run(
    *,
    host: str,
    port: int,
    make_request: Callable[[int, int], bytes],
    clients: int,
    warmup: float,
    duration: float,
) -> tuple[Counter[int], list[float], float, int]:
    selector = selectors.DefaultSelector()
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    acknowledged = 0
    active = 0

    def begin(client: _Client) -> None:
        nonlocal active
        client.sequence += 1
        client.request = make_request(client.index, client.sequence)
        client.sent = 0
        client.buffer = bytearray()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.sock = sock
        client.begun = time.perf_counter()
        # A refused connection shows up as a failed send on the loop, not as a recursion here.
        sock.connect_ex((host, port))
        selector.register(sock, selectors.EVENT_WRITE, client)
        active += 1

    def finish(client: _Client, status: int) -> None:
        nonlocal acknowledged, active
        now = time.perf_counter()
        if client.sock is not None:
            try:
                selector.unregister(client.sock)
                active -= 1
            except KeyError:
                pass
            client.sock.close()
            client.sock = None
        if 200 <= status < 300:
            acknowledged += 1
        if measure_from <= client.begun and now <= stop_at:
            statuses[status] += 1
            latencies.append((now - client.begun) * 1000)
        if now < stop_at:
            begin(client)

    for index in range(clients):
        begin(_Client(index))
    while active and time.perf_counter() < stop_at + ABANDON_AFTER:
        for key, mask in selector.select(timeout=1.0):
            client: _Client = key.data
            sock = client.sock
            if sock is None:
                continue
            try:
                if mask & selectors.EVENT_WRITE:
                    client.sent += sock.send(client.request[client.sent :])
                    if client.sent >= len(client.request):
                        selector.modify(sock, selectors.EVENT_READ, client)
                    continue
                chunk = sock.recv(262144)
            except OSError:
                finish(client, 0)
                continue
            if not chunk:  # the server closed: whatever arrived is the answer
                head = bytes(client.buffer).partition(b"\r\n\r\n")[0]
                finish(client, _status(head) if head else 0)
                continue
            client.buffer += chunk
            done = _response_complete(client.buffer)
            if done is not None:
                finish(client, done[0])
    for key in list(selector.get_map().values()):  # answers that never came: not measured
        key.fileobj.close()  # type: ignore[union-attr]
    selector.close()
    return statuses, latencies, duration, acknowledged


def run_load(
    *,
    label: str,
    host: str,
    port: int,
    make_request: Callable[[int, int], bytes],
    clients: int,
    warmup: float,
    duration: float,
    items_per_request: int = 1,
) -> LoadResult:
    """Drive `clients` concurrent clients for warmup + duration seconds; measure the duration.

    make_request(client_index, sequence) returns the raw request bytes to send.
    """
    statuses, latencies, seconds, acknowledged = _run(
        host=host,
        port=port,
        make_request=make_request,
        clients=clients,
        warmup=warmup,
        duration=duration,
    )
    return LoadResult(label, clients, seconds, statuses, latencies, items_per_request, acknowledged)


def fetch(
    *, method: str, host: str, port: int, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One request (setup steps: logging in, checks)."""
    request = http_request(
        method=method, host=host, port=port, path=path, body=body, headers=headers
    )
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(request)
        buffer = bytearray()
        while (done := _response_complete(buffer)) is None:
            chunk = sock.recv(262144)
            if not chunk:
                head, _, payload = bytes(buffer).partition(b"\r\n\r\n")
                return (_status(head) if head else 0), payload
            buffer += chunk
    return done
