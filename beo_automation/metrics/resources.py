"""This host's memory, CPU and disks: one measurement each, read by the health checks
(beo_automation.health), the alert rules (alerts.evaluation) and GET /metrics."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import psutil
from django.conf import settings


@dataclasses.dataclass(frozen=True)
class MemoryUsage:
    percent: float
    used_bytes: int
    total_bytes: int
    process_rss_bytes: int


@dataclasses.dataclass(frozen=True)
class DiskUsage:
    path: str  # the first configured directory on this disk
    percent: float
    free_bytes: int
    total_bytes: int
    covers: tuple[str, ...]  # the configured directories on this disk


def memory_measure() -> MemoryUsage:
    """System memory in use and this process's resident size."""
    memory = psutil.virtual_memory()
    return MemoryUsage(
        percent=float(memory.percent),
        used_bytes=int(memory.total - memory.available),
        total_bytes=int(memory.total),
        process_rss_bytes=int(psutil.Process().memory_info().rss),
    )


_cpu_lock = threading.Lock()
_cpu_last_call = 0.0


def cpu_measure(*, sample_seconds: float | None = None) -> float:
    """System CPU use in percent, sampled over `sample_seconds` (blocking). Without a sample
    length: the average since this process's previous call (a short sample the first time)."""
    global _cpu_last_call  # noqa: PLW0603 - psutil's own baseline is per process too
    with _cpu_lock:
        now = time.monotonic()
        if sample_seconds is None and (_cpu_last_call == 0.0 or now - _cpu_last_call < 0.1):
            sample_seconds = 0.1
        value = psutil.cpu_percent(interval=sample_seconds)
        _cpu_last_call = time.monotonic()
    return float(value)


def disk_measure(path: str) -> DiskUsage:
    """Use of the disk holding `path`, as `df` and django-health-check's Disk check count it
    (psutil: reserved blocks are not free). OSError when `path` cannot be stat'ed."""
    usage = psutil.disk_usage(path)
    return DiskUsage(
        path=path,
        percent=float(usage.percent),
        free_bytes=int(usage.free),
        total_bytes=int(usage.total),
        covers=(path,),
    )


def disk_paths() -> list[str]:
    """ALERT_DISK_PATHS, or the directories the app writes to: the project (SQLite database,
    static files), MEDIA_ROOT, LOG_DIR and BACKUP_DIR."""
    if settings.ALERT_DISK_PATHS:
        return [str(p) for p in settings.ALERT_DISK_PATHS]
    candidates = [
        settings.BASE_DIR,
        settings.MEDIA_ROOT,
        settings.LOG_DIR,
        getattr(settings, "BACKUP_DIR", None),
    ]
    return [str(p) for p in candidates if p]


def _existing(path: str) -> Path:
    # A directory not created yet (no backup so far) lives on its parent's disk.
    current = Path(path).resolve()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def disks_measure(paths: list[str] | None = None) -> list[DiskUsage]:
    """Use of each disk holding one of `paths` (default: disk_paths()), one entry per disk,
    not per directory."""
    by_device: dict[int, list[str]] = {}
    first_path: dict[int, Path] = {}
    for path in paths if paths is not None else disk_paths():
        existing = _existing(path)
        device = existing.stat().st_dev
        by_device.setdefault(device, []).append(path)
        first_path.setdefault(device, existing)
    return [
        dataclasses.replace(
            disk_measure(str(first_path[device])), path=covers[0], covers=tuple(covers)
        )
        for device, covers in by_device.items()
    ]
