"""Running the project in a child process, the way operators and servers start it."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(sys.executable).parent


def child_env(**overrides: Any) -> dict[str, str]:
    """This process's environment (including the test run's names) with overrides; None unsets."""
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def manage(*args: str, timeout: float = 60, **env: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def python(code: str, timeout: float = 60, **env: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-c", code],
        cwd=ROOT,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def popen(args: list[str], **env: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def output_after_kill(proc: subprocess.Popen[str]) -> str:
    """What a child wrote, for the message of a failed start: reading its pipe while it runs
    would wait forever, so it is stopped first (its own children may hold the pipe a while)."""
    if proc.poll() is None:
        proc.kill()
    try:
        return proc.communicate(timeout=15)[0] or ""
    except subprocess.TimeoutExpired:
        return "(the child's pipe stayed open: no output)"


def settings_in_child(*expressions: str, **env: Any) -> list[Any]:
    """Evaluate expressions over `s` (the settings) in a fresh process started with `env`."""
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps([{', '.join(expressions)}], default=str))"
    )
    result = python(code, **env)
    if result.returncode != 0:
        raise AssertionError(f"settings failed to load:\n{result.stderr}")
    return list(json.loads(result.stdout.strip().splitlines()[-1]))
