"""Reading this run's log files (LOG_DIR is per run, see tests/plugin.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings


def log_lines(name: str = "combined.log") -> list[dict[str, Any]]:
    assert settings.LOG_DIR is not None, "the test run writes log files (tests/plugin.py)"
    path = Path(settings.LOG_DIR) / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_line(
    predicate: Callable[[dict[str, Any]], bool], name: str = "combined.log", timeout: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        for line in log_lines(name):
            if predicate(line):
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no matching line in {name} within {timeout}s")
        time.sleep(0.05)
