"""Fuzz the whole API with schemathesis against a live gunicorn, as a user and as staff.

    .venv/bin/python bench/fuzz.py [--max-examples 25] [--seed 20261201] [--port 18610]

`make fuzz` runs it; CI runs it too (.ci/run). On this machine's PostgreSQL and Redis
(DATABASE_URL / REDIS_URL, or the local defaults), with a database, Redis key prefix and Celery
queue of its own, created here and removed at the end whatever happens, it:

1. migrates a fresh database and creates two users and a staff user;
2. starts the Procfile's web process (gunicorn, 2 sync workers, its own port,
   `--no-control-socket`, production settings with DEBUG off; rate limits off, or every
   request after the hundredth of a minute would be a 429 rather than a test);
3. logs them in through `POST /api/auth/token/` (real JWTs) and seeds one event each, an
   alert and an incident so that operations on an existing object are reached too;
4. runs `schemathesis run` over the whole schema (`/api/schema/`) as the user and as staff
   (a second user, `peer`, is the other side of the object-level authorization check), with every
   check (`--checks all`: no server error, response schema, status code, content type and
   response headers conformance, positive and negative data, authentication, use after free…)
   and every phase (examples, coverage, fuzzing, stateful over the links schemathesis infers
   from responses and `Location` headers), deterministic generation and a bounded number of
   examples per operation; per-operation adjustments are in bench/schemathesis.toml;
5. prints, per token and in total: requests sent, test cases, and every distinct failure
   (operation, check, status, a curl line that reproduces it), and exits 1 if there was any.

The full schemathesis output of each run, and its NDJSON report, stay in the printed directory.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    BIN,
    HOST,
    child_env,
    log,
    manage,
    scratch_database,
    scratch_redis,
)

CONFIG = ROOT / "bench" / "schemathesis.toml"
PASSWORD = "fuzz-" + secrets.token_urlsafe(12)
# The identities schemathesis knows (its Web Fuzzing Commons auth document); `user` and `peer`
# must never see each other's events (the object-level authorization check).
USERS = {"user": "fuzz-user", "peer": "fuzz-peer", "staff": "fuzz-staff"}


@dataclass
class RunResult:
    role: str
    exit_code: int
    requests: int = 0
    cases: int = 0
    checks: int = 0
    operations: set[str] = field(default_factory=set)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)


@contextlib.contextmanager
def web(env: dict[str, str], port: int, log_path: Path) -> Iterator[str]:
    """gunicorn as the Procfile starts it, on `port`; yields its base URL once it answers."""
    with log_path.open("w") as output:
        proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "beo_automation.wsgi",
                "-c",
                "python:beo_automation.gunicorn_conf",
                "--bind",
                f"{HOST}:{port}",
                "--workers",
                "2",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://{HOST}:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"{base}/api/health/live/", timeout=2).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"gunicorn did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def login(base: str, username: str) -> str:
    response = requests.post(
        f"{base}/api/auth/token/",
        json={"username": username, "password": PASSWORD},
        timeout=10,
    )
    if response.status_code != 200:
        sys.exit(f"login as {username} failed: {response.status_code} {response.text[:300]}")
    return str(response.json()["access"])


def seed(base: str, tokens: dict[str, str], env: dict[str, str]) -> None:
    """One event per user (through the API) and one alert and incident (staff see them)."""
    for token in tokens.values():
        response = requests.post(
            f"{base}/api/events/",
            json={"type": "fuzz.seed", "payload": {"n": 1}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        response.raise_for_status()
    response = requests.post(
        f"{base}/api/incidents/",
        json={"title": "Fuzz seed", "severity": "high"},
        headers={"Authorization": f"Bearer {tokens['staff']}"},
        timeout=10,
    )
    response.raise_for_status()
    manage(
        env,
        "shell",
        "-c",
        "from alerts.services import send_alert; "
        "send_alert(name='Fuzz seed', severity='high', message='seeded by bench/fuzz.py')",
    )


def wfc_auth_document(tokens: dict[str, str], path: Path) -> Path:
    entries = [
        {"name": role, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
        for role, token in tokens.items()
    ]
    path.write_text(json.dumps({"auth": entries}))
    return path


def schemathesis(*, base: str, role: str, args: argparse.Namespace, out_dir: Path) -> RunResult:
    report = out_dir / f"{role}.ndjson"
    output = out_dir / f"{role}.txt"
    command = [
        str(BIN / "schemathesis"),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base}/api/schema/?format=json",
        "--auth-wfc-user",
        role,
        "--max-examples",
        str(args.max_examples),
        "--seed",
        str(args.seed),
        "--generation-deterministic",
        "--workers",
        str(args.workers),
        "--request-timeout",
        "30",
        "--no-color",
        # The tokens are this run's own (scratch database, random SECRET_KEY): show requests
        # as they were sent, so that a failure can be replayed.
        "--output-sanitize",
        "false",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    log(f"schemathesis as {role}: {args.max_examples} examples per operation, seed {args.seed}")
    with output.open("w") as out:
        proc = subprocess.run(
            command,
            cwd=out_dir,
            env=child_env({}, SCHEMATHESIS_HOOKS="", BEO_FUZZ_WFC_AUTH=str(out_dir / "auth.json")),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=args.timeout,
            check=False,
        )
    result = RunResult(role=role, exit_code=proc.returncode)
    if not report.exists():
        sys.exit(f"schemathesis ({role}) wrote no report:\n{output.read_text()[-5000:]}")
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        label = recorder["label"]
        interactions = recorder.get("interactions") or {}
        result.requests += len(interactions)
        result.cases += len(recorder.get("cases") or {})
        if interactions and label != "Stateful tests":
            result.operations.add(label)
        for case_id, checks in (recorder.get("checks") or {}).items():
            for check in checks:
                result.checks += 1
                if check.get("status") != "failure":
                    continue
                status = _status(interactions.get(case_id))
                key = (label, check["name"], status)
                if key not in result.failures:
                    result.failures[key] = _reproduce(interactions.get(case_id), check)
    return result


def _status(interaction: dict[str, Any] | None) -> str:
    response = (interaction or {}).get("response") or {}
    return str(response.get("status_code", "-"))


def _text(body: Any, limit: int) -> str:
    if isinstance(body, dict) and "$base64" in body:
        body = base64.b64decode(body["$base64"]).decode("utf-8", "backslashreplace")
    text = "" if body is None else " ".join(str(body).split())
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


def _reproduce(interaction: dict[str, Any] | None, check: dict[str, Any]) -> str:
    """What failed, a curl line that sends the same request, and the start of the answer."""
    failure = (check.get("failure_info") or {}).get("failure") or {}
    title = f"{failure.get('code', '')} {failure.get('title', '')}".strip()
    detail = " ".join(str(failure.get("message") or "").split())
    if detail:
        title += f": {_text(detail, 300)}"
    if not interaction:
        return title
    request = interaction["request"]
    parts = ["curl", "-X", request["method"], shlex.quote(request["uri"])]
    for name, values in (request.get("headers") or {}).items():
        if name.lower() in {"user-agent", "accept", "accept-encoding", "connection"}:
            continue
        value = "Bearer $TOKEN" if name.lower() == "authorization" else values[0]
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    body = _text(request.get("body"), 400)
    if body:
        parts += ["--data-binary", shlex.quote(body)]
    response = interaction.get("response") or {}
    answer = _text(response.get("body") or response.get("content"), 200)
    return f"{title}\n       {' '.join(parts)}\n       → {answer}"


def summarize(results: list[RunResult]) -> int:
    print()
    print("Fuzz summary (schemathesis: every check, every phase)")
    failures = 0
    for r in results:
        print(
            f"  {r.role:<6} {r.requests:>7,} requests  {r.cases:>6,} test cases  "
            f"{r.checks:>7,} checks  {len(r.operations):>2} operations  "
            f"{len(r.failures):>3} distinct failures  (schemathesis exit {r.exit_code})"
        )
        failures += len(r.failures)
    total = sum(r.requests for r in results)
    print(f"  total  {total:>7,} requests  {failures} distinct failures")
    for r in results:
        for (label, check, status), reproduce in sorted(r.failures.items()):
            print(f"  FAIL [{r.role}] {label}  {check}  (status {status})")
            print(f"       {reproduce}")
    errored = [r.role for r in results if r.exit_code != 0 and not r.failures]
    if errored:
        print(f"  schemathesis itself failed for: {', '.join(errored)} (see its output)")
    print(f"{failures} failed" if failures or errored else "no failures")
    return 1 if failures or errored else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-examples", type=int, default=25, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--workers", type=int, default=2, help="schemathesis workers")
    parser.add_argument("--port", type=int, default=18610, help="gunicorn's port")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per schemathesis run")
    parser.add_argument("--roles", default="user,staff", help="which tokens to fuzz with")
    args = parser.parse_args()

    run_id = uuid.uuid4().hex[:8]
    out_dir = Path(tempfile.mkdtemp(prefix=f"beo-fuzz-{run_id}-"))
    prefix = f"beo-fuzz-{run_id}"
    started = time.monotonic()
    with (
        scratch_database(f"beo_fuzz_{run_id}") as database_url,
        scratch_redis(prefix, db=os.environ.get("FUZZ_REDIS_DB", "14")) as redis_url,
    ):
        env = child_env(
            {},
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            SECRET_KEY=secrets.token_urlsafe(48),
            DEBUG="false",
            ENVIRONMENT="fuzz",
            SECURE_SSL_REDIRECT="false",
            RATELIMIT_ENABLE="false",
            CACHE_KEY_PREFIX=prefix,
            CELERY_QUEUE=prefix,
            CELERY_KEY_PREFIX=f"{prefix}:",
            LOG_DIR="",
            LOG_LEVEL="warn",
            ENV_FILE=os.devnull,
            STATIC_ROOT=str(out_dir / "static"),
        )
        manage(env, "migrate", "--no-input", "-v", "0")
        # The web process refuses to start without the static files' manifest.
        manage(env, "collectstatic", "--no-input", "-v", "0")
        manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; U = get_user_model(); "
            f"U.objects.create_user({USERS['user']!r}, password={PASSWORD!r}); "
            f"U.objects.create_user({USERS['peer']!r}, password={PASSWORD!r}); "
            f"U.objects.create_user({USERS['staff']!r}, password={PASSWORD!r}, is_staff=True)",
        )
        with web(env, args.port, out_dir / "gunicorn.log") as base:
            tokens = {role: login(base, USERS[role]) for role in USERS}
            seed(base, tokens, env)
            wfc_auth_document(tokens, out_dir / "auth.json")
            results = [
                schemathesis(base=base, role=role, args=args, out_dir=out_dir)
                for role in args.roles.split(",")
            ]
    log(f"done in {time.monotonic() - started:.0f} s; outputs in {out_dir}")
    return summarize(results)


if __name__ == "__main__":
    sys.exit(main())
