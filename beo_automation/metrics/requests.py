"""Request metrics shared by every process: per-minute buckets and Prometheus counters in Redis.

Every web process (each gunicorn worker is one) counts its requests in memory and a background
thread adds them to Redis once a second, in one pipelined round trip:

- `<prefix>:req:<minute>`: a hash {n, err, ms} per minute (requests, 5xx responses, summed
  duration), expiring after RETENTION_SECONDS: the alert evaluation sums the last
  ALERT_WINDOW_MINUTES of them for the average response time and the error rate;
- `<prefix>:http_requests`, `<prefix>:http_duration`, `<prefix>:http_duration_sum`: cumulative
  counters by method/route/status and per-bucket latency counts that GET /metrics exposes as a
  Prometheus counter and histogram.

Why batched: a Redis round trip per request is a large share of a cheap request
(bench/metrics_middleware.py measures both; figures in docs/performance.md), while counting in
memory is not, and the request never waits on Redis, even a sick one. The price: a process
killed with SIGKILL loses its last second of counts (a normal exit flushes them).

Redis rather than prometheus-client's multiprocess mode: the counters have to be shared with
the alert evaluation (a Celery worker, possibly on another machine) anyway, and they survive
worker recycling (gunicorn's max_requests) without a directory of mmap files to manage.

Without Redis (the embedded default) the same numbers are kept in this process only: right for
the single web process's /metrics, but the alert evaluation runs in another process there, so it
reports response time and error rate as not measured instead of inventing them.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import threading
import time
from collections import defaultdict

import structlog
from django.conf import settings

from alerts.redis_client import alerts_key, redis_client, redis_client_for

logger = structlog.get_logger("beo_automation.metrics.requests")

# Prometheus histogram buckets (seconds); +Inf is implicit.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RETENTION_SECONDS = 3600
COUNTER_RETENTION_SECONDS = 7 * 24 * 3600
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The flusher gives up quickly on a sick Redis and skips flushes for a while.
WRITE_TIMEOUT = 1.0
SUSPEND_SECONDS = 10.0
FLUSH_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class RequestSample:
    method: str
    route: str
    status: int
    duration_s: float
    in_window: bool = True  # False for monitoring traffic (METRICS_EXCLUDE_PATHS)


@dataclasses.dataclass(frozen=True)
class RequestWindow:
    minutes: int
    requests: int
    errors: int
    total_ms: float

    @property
    def avg_ms(self) -> float | None:
        return self.total_ms / self.requests if self.requests else None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclasses.dataclass
class Counters:
    """Cumulative request counters: {(method, route, status): n}, per-bucket durations
    {(method, route, le): n} and {(method, route): seconds}."""

    requests: dict[tuple[str, ...], float] = dataclasses.field(default_factory=dict)
    duration_buckets: dict[tuple[str, ...], float] = dataclasses.field(default_factory=dict)
    duration_sums: dict[tuple[str, ...], float] = dataclasses.field(default_factory=dict)


def bucket_label(duration_s: float) -> str:
    for bound in DURATION_BUCKETS:
        if duration_s <= bound:
            return repr(bound)
    return "+Inf"


def minute_of(at: float) -> int:
    return int(at // 60)


class _LocalStore:
    """Request numbers kept in this process: the buffer between flushes, or (without Redis)
    the process's own totals."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[int, list[float]] = defaultdict(lambda: [0, 0, 0.0])
        self.counters = Counters()
        self.samples = 0

    def record(self, sample: RequestSample, at: float) -> None:
        with self.lock:
            self.samples += 1
            if sample.in_window:
                bucket = self.buckets[minute_of(at)]
                bucket[0] += 1
                bucket[1] += 1 if sample.status >= 500 else 0
                bucket[2] += sample.duration_s * 1000
                oldest = minute_of(at) - RETENTION_SECONDS // 60
                for minute in [m for m in self.buckets if m < oldest]:
                    del self.buckets[minute]
            key = (sample.method, sample.route, str(sample.status))
            c = self.counters
            c.requests[key] = c.requests.get(key, 0) + 1
            bkey = (sample.method, sample.route, bucket_label(sample.duration_s))
            c.duration_buckets[bkey] = c.duration_buckets.get(bkey, 0) + 1
            skey = (sample.method, sample.route)
            c.duration_sums[skey] = c.duration_sums.get(skey, 0.0) + sample.duration_s

    def window(self, minutes: int, at: float) -> RequestWindow:
        last = minute_of(at)
        with self.lock:
            rows = [
                self.buckets[m] for m in range(last - minutes + 1, last + 1) if m in self.buckets
            ]
        return RequestWindow(
            minutes=minutes,
            requests=int(sum(r[0] for r in rows)),
            errors=int(sum(r[1] for r in rows)),
            total_ms=float(sum(r[2] for r in rows)),
        )

    def snapshot(self) -> Counters:
        with self.lock:
            return Counters(
                dict(self.counters.requests),
                dict(self.counters.duration_buckets),
                dict(self.counters.duration_sums),
            )

    def drain(self) -> tuple[dict[int, list[float]], Counters, int]:
        """Everything recorded since the last drain, leaving the store empty."""
        with self.lock:
            drained = (dict(self.buckets), self.counters, self.samples)
            self.buckets = defaultdict(lambda: [0, 0, 0.0])
            self.counters = Counters()
            self.samples = 0
        return drained


local_store = _LocalStore()
# Requests waiting for the next flush, per (Redis URL, key prefix) they belong to.
_pending: dict[tuple[str, str], _LocalStore] = {}
_pending_lock = threading.Lock()
_flusher_pid: int | None = None
_suspended_until = 0.0
_dropped = 0


def request_record(sample: RequestSample, *, at: float | None = None) -> None:
    """Count one finished request (in memory: the flusher takes it to Redis). Never raises."""
    at = time.time() if at is None else at
    if not settings.REDIS_URL:
        local_store.record(sample, at)
        return
    target = (settings.REDIS_URL, settings.ALERTS_KEY_PREFIX)
    store = _pending.get(target)
    if store is None:
        with _pending_lock:
            store = _pending.setdefault(target, _LocalStore())
    store.record(sample, at)
    _ensure_flusher()


def _ensure_flusher() -> None:
    global _flusher_pid  # noqa: PLW0603 - one flusher thread per process
    pid = os.getpid()
    if _flusher_pid == pid:
        return
    with _pending_lock:
        if _flusher_pid == pid:
            return
        _flusher_pid = pid  # after a fork the parent's thread is gone: start ours
        threading.Thread(target=_flush_forever, name="request-metrics", daemon=True).start()


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        try:
            request_metrics_flush()
        except Exception:
            logger.exception("Request metrics flush failed")


def request_metrics_flush() -> int:
    """Add this process's pending counts to Redis now; returns how many requests it took."""
    global _suspended_until, _dropped  # noqa: PLW0603 - per-process circuit breaker state
    flushed = 0
    with _pending_lock:
        targets = list(_pending.items())
    for (url, prefix), store in targets:
        buckets, counters, samples = store.drain()
        if not samples:
            continue
        if time.monotonic() < _suspended_until:
            _dropped += samples
            continue
        try:
            _write(url, prefix, buckets, counters)
            flushed += samples
        except Exception as exc:  # noqa: BLE001 - Redis trouble: drop samples, never requests
            _suspended_until = time.monotonic() + SUSPEND_SECONDS
            _dropped += samples
            logger.warning(
                "Request metrics unavailable (Redis); dropping them for a while",
                error=str(exc),
                dropped=samples,
                pause_seconds=SUSPEND_SECONDS,
            )
    return flushed


def _write(url: str, prefix: str, buckets: dict[int, list[float]], counters: Counters) -> None:
    def key(*parts: object) -> str:
        return ":".join([prefix, *(str(p) for p in parts)])

    pipe = redis_client_for(url, timeout=WRITE_TIMEOUT).pipeline(transaction=False)
    for minute, (n, err, ms) in buckets.items():
        bucket = key("req", minute)
        pipe.hincrby(bucket, "n", int(n))
        if err:
            pipe.hincrby(bucket, "err", int(err))
        pipe.hincrbyfloat(bucket, "ms", round(ms, 3))
        pipe.expire(bucket, RETENTION_SECONDS)
    for labels, value in counters.requests.items():
        pipe.hincrby(key("http_requests"), json.dumps(list(labels)), int(value))
    for labels, value in counters.duration_buckets.items():
        pipe.hincrby(key("http_duration"), json.dumps(list(labels)), int(value))
    for labels, seconds in counters.duration_sums.items():
        pipe.hincrbyfloat(key("http_duration_sum"), json.dumps(list(labels)), seconds)
    # Renewed by every flush, so live counters never expire; a deployment (or a test run)
    # gone quiet for a week leaves nothing behind. Prometheus handles the counter reset.
    for name in ("http_requests", "http_duration", "http_duration_sum"):
        pipe.expire(key(name), COUNTER_RETENTION_SECONDS)
    pipe.execute()


atexit.register(request_metrics_flush)  # a normal exit (gunicorn's SIGTERM) loses nothing


def request_window(*, minutes: int | None = None, at: float | None = None) -> RequestWindow | None:
    """Requests, 5xx responses and total duration over the last `minutes` minutes (the current
    one included), from every process. None when that cannot be known: no shared store
    (no Redis) or Redis unreachable."""
    minutes = minutes or settings.ALERT_WINDOW_MINUTES
    at = time.time() if at is None else at
    client = redis_client()
    if client is None:
        return None
    request_metrics_flush()  # this process's own last second too
    last = minute_of(at)
    pipe = client.pipeline(transaction=False)
    for minute in range(last - minutes + 1, last + 1):
        pipe.hgetall(alerts_key("req", minute))
    rows: list[dict[bytes, bytes]] = pipe.execute()
    return RequestWindow(
        minutes=minutes,
        requests=sum(int(r.get(b"n", 0)) for r in rows),
        errors=sum(int(r.get(b"err", 0)) for r in rows),
        total_ms=sum(float(r.get(b"ms", 0)) for r in rows),
    )


def _decode(raw: dict[bytes, bytes]) -> dict[tuple[str, ...], float]:
    return {tuple(json.loads(k)): float(v) for k, v in raw.items()}


def request_counters() -> Counters:
    """The cumulative counters of every process (Redis), or of this process without Redis."""
    client = redis_client()
    if client is None:
        return local_store.snapshot()
    request_metrics_flush()
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(alerts_key("http_requests"))
    pipe.hgetall(alerts_key("http_duration"))
    pipe.hgetall(alerts_key("http_duration_sum"))
    requests, buckets, sums = pipe.execute()
    return Counters(_decode(requests), _decode(buckets), _decode(sums))


def dropped_samples() -> int:
    return _dropped
