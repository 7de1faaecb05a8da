"""Health checks, as in the operations guide, built on django-health-check's checks.

Each check runs concurrently with its own timeout (HEALTH_CHECK_TIMEOUT), so an unreachable
database or Redis gives an `error` within a few seconds instead of hanging the probe.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import psutil
import redis.asyncio
from django.conf import settings
from django.utils import timezone
from health_check.base import HealthCheck, HealthCheckResult
from health_check.checks import Cache, Database
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceReturnedUnexpectedResult, ServiceWarning

Status = Literal["ok", "warning", "error"]


@dataclasses.dataclass
class Memory(HealthCheck):
    """System memory use and this process's resident size; warns above `warn_percent`."""

    warn_percent: float = 90.0
    details: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def run(self) -> None:
        memory = psutil.virtual_memory()
        rss = psutil.Process().memory_info().rss
        self.details = {"rss_mb": round(rss / 2**20, 1), "percent": memory.percent}
        if memory.percent > self.warn_percent:
            raise ServiceWarning(f"memory usage {memory.percent}% above {self.warn_percent}%")


# Details only an operator sees (`manage.py health_check`), never the public /api/health/:
# filesystem paths tell an attacker where the app is installed.
INTERNAL_DETAILS = frozenset({"path"})


@dataclasses.dataclass
class DiskSpace(HealthCheck):
    """Disk use of the directories the app writes to; reports the fullest one (its path is
    an internal detail)."""

    paths: list[str] = dataclasses.field(default_factory=list)
    warn_percent: float = 85.0
    details: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def run(self) -> None:
        worst: dict[str, Any] | None = None
        for path in self.paths:
            try:
                usage = shutil.disk_usage(path)
            except OSError as exc:
                self.details = {"path": path}
                raise ServiceReturnedUnexpectedResult(
                    "cannot stat a directory of HEALTH_DISK_PATHS"
                ) from exc
            percent = round(usage.used / usage.total * 100, 1) if usage.total else 0.0
            entry = {"path": path, "free_gb": round(usage.free / 2**30, 2), "percent": percent}
            if worst is None or percent > worst["percent"]:
                worst = entry
        self.details = worst or {}
        if worst and worst["percent"] > self.warn_percent:
            raise ServiceWarning(f"disk usage {worst['percent']}% above {self.warn_percent}%")


@dataclasses.dataclass(frozen=True)
class CheckOutcome:
    name: str
    status: Status
    payload: dict[str, Any]


def _broker_client_factory() -> Callable[[], redis.asyncio.Redis]:
    timeout = settings.HEALTH_CHECK_TIMEOUT
    url = settings.CELERY_BROKER_URL

    def factory() -> redis.asyncio.Redis:
        return redis.asyncio.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout
        )

    return factory


def build_checks() -> dict[str, HealthCheck]:
    """The checks for this configuration: cache and broker only when Redis is configured."""
    checks: dict[str, HealthCheck] = {
        "database": Database(alias="default"),
        "memory": Memory(warn_percent=settings.HEALTH_MEMORY_WARN_PCT),
        "diskSpace": DiskSpace(
            paths=list(settings.HEALTH_DISK_PATHS), warn_percent=settings.HEALTH_DISK_WARN_PCT
        ),
    }
    if settings.REDIS_URL:
        checks["cache"] = Cache(alias="default")
        checks["broker"] = Redis(client_factory=_broker_client_factory())
    # Alert channels that keep failing (alerts app): `ok` with {"channels": 0} when none is set.
    from alerts.health import NotificationChannels

    checks["notifications"] = NotificationChannels()
    timeout = datetime.timedelta(seconds=settings.HEALTH_CHECK_TIMEOUT)
    for check in checks.values():
        check.timeout = timeout
    return checks


def _outcome(
    name: str, check: HealthCheck, result: HealthCheckResult, *, internals: bool
) -> CheckOutcome:
    payload: dict[str, Any] = {}
    error = result.error
    if error is None:
        status: Status = "ok"
    elif isinstance(error, ServiceWarning):
        status = "warning"
    else:
        status = "error"
    payload["status"] = status
    if name in {"database", "cache", "broker"}:
        payload["latency_ms"] = round(result.time_taken * 1000, 2)
    payload.update(
        (key, value)
        for key, value in getattr(check, "details", {}).items()
        if internals or key not in INTERNAL_DETAILS
    )
    if error is not None:
        payload["message"] = str(error)
    return CheckOutcome(name=name, status=status, payload=payload)


async def _run_all(checks: dict[str, HealthCheck], executor: ThreadPoolExecutor) -> list[Any]:
    return await asyncio.gather(*(check.get_result(executor) for check in checks.values()))


def run_checks(*, internals: bool = False) -> list[CheckOutcome]:
    checks = build_checks()
    executor = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="health")
    try:
        results = asyncio.run(_run_all(checks, executor))
    finally:
        # Never wait for a check that timed out: the probe must answer.
        executor.shutdown(wait=False, cancel_futures=True)
    return [
        _outcome(name, check, result, internals=internals)
        for (name, check), result in zip(checks.items(), results, strict=True)
    ]


def health_report(*, internals: bool = False) -> dict[str, Any]:
    """{"status": "ok"|"error", "timestamp": ISO-8601, "checks": {...}} as in the guide.

    `internals` adds what only an operator may see (INTERNAL_DETAILS); the public endpoint
    never asks for them.
    """
    outcomes = run_checks(internals=internals)
    healthy = all(o.status == "ok" for o in outcomes)
    return {
        "status": "ok" if healthy else "error",
        "timestamp": timezone.now().isoformat(),
        "checks": {o.name: o.payload for o in outcomes},
    }
