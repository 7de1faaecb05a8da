"""Request metrics bench: what the alerts middleware costs a request, measured in the same run.

    .venv/bin/python bench/metrics_middleware.py [--duration 8] [--rounds 2] [--clients 8]

Every request of every process is counted in memory and flushed to Redis once a second
(alerts.middleware → alerts.request_metrics: minute bucket, request counter and latency
histogram in one pipeline). This bench shows what that costs, on this machine's PostgreSQL and
Redis (DATABASE_URL / REDIS_URL or the local defaults), with a scratch database and a Redis key
prefix of its own, removed at the end whatever happens:

1. in-process: µs per `request_record()` call (what a request pays) and per flushed request
   (the background thread's Redis pipeline, amortised);
2. gunicorn with 2 sync workers, GET /api/health/live/ (the cheapest endpoint, so the
   middleware's share is as large as it can be), for each side in turn, alternating per round:
   - baseline: the project's settings without alerts.middleware.RequestMetricsMiddleware;
   - product: the real settings, with METRICS_EXCLUDE_PATHS emptied so every request writes
     the whole pipeline (bucket + counter + histogram);
   reporting req/s, p50 and p99 per side;
3. checks the product's Redis counter equals the requests it answered (the servers stop with
   SIGTERM, so their last second is flushed at exit: nothing lost);
4. writes bench/results/metrics_middleware-<time>.json and prints the ratios last.

Target (ours; the issue sets none): product/baseline req/s ≥ 0.9 on the cheapest endpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import LoadResult, fetch, http_request, run_load  # noqa: E402

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PATH = "/api/health/live/"
TARGET_RATIO = 0.9


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def scratch_database(name: str) -> Iterator[str]:
    admin = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    admin = admin.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin.rpartition("/")[0].replace("postgresql://", "postgres://", 1) + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        log(f"dropped database {name}")


@contextlib.contextmanager
def scratch_redis(prefix: str) -> Iterator[str]:
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    url = base.rsplit("/", 1)[0] + "/" + os.environ.get("BENCH_REDIS_DB", "14")
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    client.ping()
    try:
        yield url
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        removed = client.delete(*keys) if keys else 0
        client.close()
        log(f"removed {removed} Redis keys under {prefix}")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update(extra)
    return env


@contextlib.contextmanager
def gunicorn(env: dict[str, str], label: str) -> Iterator[int]:
    port = free_port()
    output = tempfile.NamedTemporaryFile(prefix=f"bench-{label}-", suffix=".log", delete=False)  # noqa: SIM115
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
        ],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = fetch(
                    method="GET", host=HOST, port=port, path=PATH, body=b"", headers={}
                )
                if status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"gunicorn ({label}) did not start:\n{Path(output.name).read_text()}")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        output.close()
        Path(output.name).unlink(missing_ok=True)


def record_cost(env: dict[str, str], calls: int) -> dict[str, float]:
    """µs per request_record() call against the real Redis, in a child with the bench env."""
    code = f"""
import json, time, django
django.setup()
from alerts.request_metrics import RequestSample, request_record
sample = RequestSample(method="GET", route="api/health/live/", status=200, duration_s=0.004)
from alerts.request_metrics import request_metrics_flush
for _ in range(500):
    request_record(sample)
request_metrics_flush()
started = time.perf_counter()
for _ in range({calls}):
    request_record(sample)
recorded = time.perf_counter() - started
started = time.perf_counter()
flushed = request_metrics_flush()
flush = time.perf_counter() - started
print(json.dumps({{"us_per_call": recorded / {calls} * 1e6, "flush_ms": flush * 1000,
                  "flushed": flushed}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"record_cost failed:\n{result.stderr}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def counted_requests(url: str, prefix: str) -> int:
    client = redis.Redis.from_url(url)
    total = 0
    for field, value in client.hgetall(f"{prefix}:alerts:http_requests").items():
        _method, route, status = json.loads(field)
        if route == PATH.lstrip("/") and status == "200":
            total += int(value)
    client.close()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()

    run_id = uuid.uuid4().hex[:8]
    prefix = f"bench-metrics-{run_id}"
    request = http_request(method="GET", host=HOST, port=0, path=PATH, body=b"", headers={})
    results: dict[str, list[LoadResult]] = {"baseline": [], "product": []}
    with (
        scratch_database(f"beo_bench_metrics_{run_id}") as database_url,
        scratch_redis(prefix) as redis_url,
    ):
        common = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": prefix,
            "CELERY_KEY_PREFIX": f"{prefix}:",
            "DEBUG": "false",
            "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "info",
            "LOG_DIR": "",
            "ENV_FILE": os.devnull,
        }
        product_env = child_env(
            **common, METRICS_EXCLUDE_PATHS="", DJANGO_SETTINGS_MODULE="beo_automation.settings"
        )
        baseline_env = child_env(**common, DJANGO_SETTINGS_MODULE="bench.metrics_baseline_settings")
        log("migrating the scratch database")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=product_env,
            check=True,
        )
        log(f"in-process: {args.calls} request_record() calls against Redis")
        cost = record_cost(product_env, args.calls)
        log(f"  {cost['us_per_call']:.1f} µs per request; flush {cost['flush_ms']:.1f} ms")
        # The in-process calls count too: start the HTTP check from here.
        before = counted_requests(redis_url, prefix)

        for round_number in range(1, args.rounds + 1):
            for label, env in (("baseline", baseline_env), ("product", product_env)):
                with gunicorn(env, label) as port:
                    log(f"round {round_number}: {label}, {args.clients} clients")
                    raw = request.replace(f"{HOST}:0".encode(), f"{HOST}:{port}".encode())

                    def make_request(_client: int, _sequence: int, raw: bytes = raw) -> bytes:
                        return raw

                    result = run_load(
                        label=label,
                        host=HOST,
                        port=port,
                        make_request=make_request,
                        clients=args.clients,
                        warmup=args.warmup,
                        duration=args.duration,
                    )
                    results[label].append(result)
                    log(
                        f"  {result.rps:.0f} req/s, p50 {result.percentile(50):.2f} ms, "
                        f"p99 {result.percentile(99):.2f} ms, errors {result.errors}"
                    )
        served = sum(r.acknowledged for r in results["product"])
        counted = counted_requests(redis_url, prefix) - before
        # + the start-up probes of each product server (counted, not part of the load).

    rps = {k: statistics.fmean(r.rps for r in v) for k, v in results.items()}
    p50 = {k: statistics.fmean(r.percentile(50) for r in v) for k, v in results.items()}
    p99 = {k: statistics.fmean(r.percentile(99) for r in v) for k, v in results.items()}
    ratio = rps["product"] / rps["baseline"] if rps["baseline"] else 0.0
    report: dict[str, Any] = {
        "bench": "metrics_middleware",
        "time": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "args": vars(args),
        "record_us_per_call": round(cost["us_per_call"], 2),
        "flush_ms": round(cost["flush_ms"], 2),
        "runs": {k: [r.summary() for r in v] for k, v in results.items()},
        "rps": {k: round(v, 1) for k, v in rps.items()},
        "p50_ms": {k: round(v, 2) for k, v in p50.items()},
        "p99_ms": {k: round(v, 2) for k, v in p99.items()},
        "ratio_rps": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "product_requests_served": served,
        "product_requests_counted": counted,
    }
    out = ROOT / "bench" / "results" / f"metrics_middleware-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    log(f"wrote {out.relative_to(ROOT)}")
    print()
    print(
        f"request_record(): {cost['us_per_call']:.1f} µs per request; one flush of "
        f"{args.calls} requests: {cost['flush_ms']:.1f} ms"
    )
    print(f"counted by Redis: {counted} for {served} answered (+ start-up probes)")
    for label in ("baseline", "product"):
        print(
            f"{label:>8}: {rps[label]:8.0f} req/s   p50 {p50[label]:6.2f} ms   "
            f"p99 {p99[label]:6.2f} ms"
        )
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"ratio product/baseline req/s: {ratio:.3f} ({verdict} the ≥ {TARGET_RATIO} target)")


if __name__ == "__main__":
    main()
