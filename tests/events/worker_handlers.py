"""Handlers loaded into real worker subprocesses (`celery worker --include` this module)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import structlog

from events.handlers import registry
from events.models import Event


@registry.register("worker.*", name="worker-test")
def worker_test_handler(event: Event) -> dict[str, Any]:
    payload = event.payload
    if payload.get("block_first_attempt") and event.attempts == 1:
        # Tell the test which process is stuck here, then hang like a wedged handler.
        Path(payload["marker"]).write_text(str(os.getpid()))
        time.sleep(600)
    if payload.get("log_lines"):
        # tests/beo_automation/test_logging.py: many lines, then tell the test they are logged.
        log = structlog.get_logger("tests.worker")
        for n in range(int(payload["log_lines"])):
            log.info("worker log line", n=n, run=payload["run"])
        try:
            raise ValueError(f"boom {payload['run']}")
        except ValueError:
            log.exception("worker log exception", run=payload["run"])
        Path(payload["marker"]).write_text(str(os.getpid()))
    if payload.get("sleep"):
        time.sleep(float(payload["sleep"]))
    return {"pid": os.getpid(), "attempt": event.attempts}
