"""A real gunicorn serving the project in a child process, for end-to-end tests."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator

import requests

from tests.subprocess_env import BIN, free_port, output_after_kill, popen


@contextlib.contextmanager
def gunicorn(workers: int = 1, **env: str | None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """gunicorn on a free port; with HEALTH_PORT in `env`, the probe lane there too."""
    port = free_port()
    lane: list[str] = []
    if env.get("HEALTH_PORT"):
        lane = ["--bind", f"127.0.0.1:{env['HEALTH_PORT']}"]
    proc = popen(
        [
            str(BIN / "gunicorn"),
            "beo_automation.wsgi",
            "-c",
            "python:beo_automation.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            *lane,
            "--workers",
            str(workers),
            # never the per-user default: parallel test runs would replace each other's
            "--no-control-socket",
        ],
        **env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # A loaded 2-core machine can take half a minute to import and fork the app.
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/api/health/live/", timeout=2)
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = output_after_kill(proc)
                    raise RuntimeError(f"gunicorn did not start:\n{output}") from None
                time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
