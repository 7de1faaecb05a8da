"""Readiness checks on django-health-check: its checks, its runner and its view.

The checks are the framework's (Database, Cache, Redis, psutil's Memory and Disk) plus the
alerts' NotificationChannels. Memory and Disk add the figures the operations guide shows, read
from beo_automation.metrics.resources — the measurement the alert rules and /metrics use —
while the framework's own check (its own reading, moments later) judges the threshold; a
threshold of 0 turns that warning off, as in the framework. HealthReportView, a subclass of the
framework's HealthCheckView, runs them concurrently (each within HEALTH_CHECK_TIMEOUT) and
answers the guide's shape:

    {"status": "ok"|"error", "timestamp": ISO-8601, "checks": {name: {"status": ..., ...}}}

with 200 when every check is ok and 503 otherwise (a warning is not ok).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Literal

import redis.asyncio
import redis.exceptions
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views import View
from health_check.base import HealthCheck, HealthCheckResult
from health_check.checks import Cache, Database
from health_check.contrib import psutil as psutil_checks
from health_check.contrib.redis import Redis
from health_check.exceptions import (
    ServiceReturnedUnexpectedResult,
    ServiceUnavailable,
    ServiceWarning,
)
from health_check.views import HealthCheckView

from beo_automation.metrics.resources import disk_measure, memory_measure
from beo_automation.renderers import JSONRenderer

Status = Literal["ok", "warning", "error"]

# Details only an operator sees (`manage.py health_check`), never the public /api/health/:
# filesystem paths tell an attacker where the app is installed.
INTERNAL_DETAILS = frozenset({"path"})
# Checks of a remote service report how long it took to answer.
TIMED_CHECKS = frozenset({"database", "cache", "broker"})


@dataclasses.dataclass
class Memory(psutil_checks.Memory):
    """The framework's memory check (warns at `max_memory_usage_percent`), reporting system
    memory in use and this process's resident size."""

    details: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def run(self) -> None:
        usage = memory_measure()
        self.details = {
            "rss_mb": round(usage.process_rss_bytes / 2**20, 1),
            "percent": usage.percent,
        }
        super().run()


@dataclasses.dataclass
class DiskSpace(psutil_checks.Disk):
    """The framework's disk check (warns at `max_disk_usage_percent`) on the fullest disk of
    `paths`; a directory that cannot be stat'ed is an error (its path an internal detail)."""

    paths: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    details: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def run(self) -> None:
        usages = []
        for path in self.paths:
            try:
                usages.append(disk_measure(path))
            except OSError as exc:
                self.details = {"path": path}
                raise ServiceReturnedUnexpectedResult(
                    "cannot stat a directory of HEALTH_DISK_PATHS"
                ) from exc
        if not usages:
            return
        fullest = max(usages, key=lambda usage: usage.percent)
        self.details = {
            "path": fullest.path,
            "free_gb": round(fullest.free_bytes / 2**30, 2),
            "percent": fullest.percent,
        }
        self.path = fullest.path
        super().run()


class _BrokerClient:
    """One broker client per process, kept open between probes: connecting, the client's
    handshake and closing cost more than the PING. Used only on the checks' own loop
    (_ChecksRunner), which lives as long as its process."""

    def __init__(self) -> None:
        self._key: tuple[int, str, float] | None = None
        self._client: redis.asyncio.Redis | None = None

    def __call__(self) -> redis.asyncio.Redis:
        # A new client when the process, the URL or the timeout is not the kept one's.
        key = (os.getpid(), settings.CELERY_BROKER_URL, settings.HEALTH_CHECK_TIMEOUT)
        if self._client is None or self._key != key:
            self._client = redis.asyncio.Redis.from_url(
                key[1], socket_connect_timeout=key[2], socket_timeout=key[2]
            )
            self._key = key
        return self._client


_broker_client = _BrokerClient()


@dataclasses.dataclass
class Broker(Redis):
    """The framework's Redis check on the process's kept client (_BrokerClient): the same
    PING and the same messages, without closing the client after each probe. A connection
    that failed is dropped by the client's pool and the next probe connects afresh."""

    async def run(self) -> None:
        assert self.client_factory is not None
        try:
            await self.client_factory().ping()
        except ConnectionRefusedError as exc:
            raise ServiceUnavailable("Unable to connect to Redis: Connection was refused.") from exc
        except redis.exceptions.TimeoutError as exc:
            raise ServiceUnavailable("Unable to connect to Redis: Timeout.") from exc
        except redis.exceptions.ConnectionError as exc:
            raise ServiceUnavailable("Unable to connect to Redis: Connection Error") from exc


def health_checks(*, liveness: bool = False) -> dict[str, HealthCheck]:
    """The checks of this configuration by report name: cache and broker only with Redis;
    `liveness` adds `workers` and `beat` (beo_automation.liveness: the overview's panel, not
    the /api/health/ probe, which answers for this web process only)."""
    # Its own app's check; imported here so that settings load before the alerts app does.
    from alerts.health import NotificationChannels

    checks: dict[str, HealthCheck] = {
        "database": Database(alias="default"),
        "memory": Memory(max_memory_usage_percent=settings.HEALTH_MEMORY_WARN_PCT),
        "diskSpace": DiskSpace(
            paths=tuple(map(str, settings.HEALTH_DISK_PATHS)),
            max_disk_usage_percent=settings.HEALTH_DISK_WARN_PCT,
        ),
    }
    if settings.REDIS_URL:
        checks["cache"] = Cache(alias="default")
        checks["broker"] = Broker(client_factory=_broker_client)
    checks["notifications"] = NotificationChannels()
    if liveness:
        from beo_automation.liveness import Beat, Workers

        checks["workers"] = Workers()
        checks["beat"] = Beat()
    timeout = datetime.timedelta(seconds=settings.HEALTH_CHECK_TIMEOUT)
    for check in checks.values():
        check.timeout = timeout
    return checks


def _status(result: HealthCheckResult) -> Status:
    if result.error is None:
        return "ok"
    return "warning" if isinstance(result.error, ServiceWarning) else "error"


def _check_report(name: str, result: HealthCheckResult, *, internals: bool) -> dict[str, Any]:
    report: dict[str, Any] = {"status": _status(result)}
    if name in TIMED_CHECKS:
        report["latency_ms"] = round(result.time_taken * 1000, 2)
    details: dict[str, Any] = getattr(result.check, "details", {})
    report.update(
        (key, value) for key, value in details.items() if internals or key not in INTERNAL_DETAILS
    )
    if result.error is not None:
        report["message"] = str(result.error)
    return report


class _ChecksRunner:
    """One event loop (on a thread of its own) and one thread pool per process, for the checks.

    A loop and a pool built per request cost more than the checks themselves; under load that
    cost is what a probe waits for. Built lazily in each process (gunicorn forks its workers
    before the first request), never shared across a fork. The framework's get_result() still
    bounds every check by its timeout, so a probe answers within HEALTH_CHECK_TIMEOUT + 1 s
    even when a check hangs; a hung check keeps one of the pool's threads until its own client
    times out, and once all are taken the others report "timed out" too, which is the truth
    about a process that cannot reach its services.
    """

    THREADS = 16

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self.loop = asyncio.new_event_loop()
        self.executor: ThreadPoolExecutor | None = None

    def started(self) -> tuple[asyncio.AbstractEventLoop, ThreadPoolExecutor]:
        with self._lock:
            if self._pid != os.getpid() or self.executor is None:
                self.loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self.loop.run_forever, name="health-loop", daemon=True
                ).start()
                self.executor = ThreadPoolExecutor(
                    max_workers=self.THREADS, thread_name_prefix="health"
                )
                self._pid = os.getpid()
            return self.loop, self.executor


_runner = _ChecksRunner()


class HealthReportView(HealthCheckView):
    """The framework's view with this project's checks, answering the guide's JSON shape.

    `internals=True` (the operator's command, never a URL) adds INTERNAL_DETAILS;
    `liveness=True` (the ops overview) adds the workers and beat checks.
    """

    internals = False
    liveness = False

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        # Fresh instances: each run stores its details.
        self.named_checks = health_checks(liveness=self.liveness)

    def get_checks(self) -> Iterator[HealthCheck]:
        yield from self.named_checks.values()

    @contextlib.contextmanager
    def get_executor(self) -> Iterator[Executor]:
        yield _runner.started()[1]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # The framework's dispatch, synchronous (see get()).
        response = View.dispatch(self, request, *args, **kwargs)
        patch_vary_headers(response, ["Accept"])
        add_never_cache_headers(response)
        return response

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Synchronous, on the process's own loop (_ChecksRunner), rather than the framework's
        # async get(), which under WSGI costs a new loop and thread per request. The framework's
        # get() would also negotiate HTML, text, feeds and OpenMetrics, each naming the checks by
        # repr (paths, host names; a Redis client built per repr): this probe has the guide's
        # JSON only. The runner is the framework's: get_result() applies each check's timeout
        # and turns its exceptions into results.
        loop, _ = _runner.started()
        self.results = asyncio.run_coroutine_threadsafe(self._results(), loop).result()
        report = self.report()
        return HttpResponse(
            JSONRenderer().render(report),  # the API's JSON, as every other endpoint writes it
            content_type="application/json",
            status=200 if report["status"] == "ok" else 503,
        )

    async def _results(self) -> list[HealthCheckResult]:
        with self.get_executor() as executor:
            return list(
                await asyncio.gather(*(check.get_result(executor) for check in self.get_checks()))
            )

    def report(self) -> dict[str, Any]:
        checks = {
            name: _check_report(name, result, internals=self.internals)
            for name, result in zip(self.named_checks, self.results, strict=True)
        }
        healthy = all(check["status"] == "ok" for check in checks.values())
        return {
            "status": "ok" if healthy else "error",
            "timestamp": timezone.now().isoformat(),
            "checks": checks,
        }


health_response = HealthReportView.as_view()


def health_report(*, internals: bool = False, liveness: bool = False) -> dict[str, Any]:
    """What GET /api/health/ answers, without HTTP (the `health_check` command); `liveness`
    adds the workers and beat checks (the ops overview)."""
    request = HttpRequest()
    request.method = "GET"
    response = HealthReportView.as_view(internals=internals, liveness=liveness)(request)
    report: dict[str, Any] = json.loads(response.content)
    return report
