"""A small HTTP load generator for the benches: N concurrent clients, each sending one request at a
time for a fixed duration, with per-request latency.

asyncio with raw HTTP/1.1 keeps the client's own cost per request far below the server's (the
benches share two cores with the server): no HTTP library, one connection per request, as
gunicorn's sync workers close every connection after answering.
"""

from __future__ import annotations

import asyncio
import dataclasses
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


async def _one(host: str, port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, payload


async def _run(
    *,
    host: str,
    port: int,
    make_request: Callable[[int, int], bytes],
    clients: int,
    warmup: float,
    duration: float,
) -> tuple[Counter[int], list[float], float, int]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + warmup
    stop_at = measure_from + duration
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    acknowledged = 0

    async def client(index: int) -> None:
        nonlocal acknowledged
        sequence = 0
        while True:
            begun = time.perf_counter()
            now = loop.time()
            if now >= stop_at:
                return
            sequence += 1
            try:
                status, _ = await _one(host, port, make_request(index, sequence))
            except OSError:
                status = 0
            if 200 <= status < 300:
                acknowledged += 1
            if measure_from <= now and loop.time() <= stop_at:
                statuses[status] += 1
                latencies.append((time.perf_counter() - begun) * 1000)

    await asyncio.gather(*(client(i) for i in range(clients)))
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
    statuses, latencies, seconds, acknowledged = asyncio.run(
        _run(
            host=host,
            port=port,
            make_request=make_request,
            clients=clients,
            warmup=warmup,
            duration=duration,
        )
    )
    return LoadResult(label, clients, seconds, statuses, latencies, items_per_request, acknowledged)


def fetch(
    *, method: str, host: str, port: int, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One request (setup steps: logging in, checks)."""
    request = http_request(
        method=method, host=host, port=port, path=path, body=body, headers=headers
    )
    return asyncio.run(_one(host, port, request))
