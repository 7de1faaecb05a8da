"""Request metrics bench: what the metrics middleware costs a request, measured in the same run.

    .venv/bin/python bench/metrics_middleware.py [--duration 8] [--rounds 5] [--clients 8]

Every request of every process is counted in memory and flushed to Redis once a second
(beo_automation.metrics.middleware → .requests: minute bucket, request counter and latency
histogram in one pipeline). This bench shows what that costs, on this machine's PostgreSQL and
Redis (DATABASE_URL / REDIS_URL or the local defaults), with a scratch database and a Redis key
prefix of its own, removed at the end whatever happens:

1. in-process: µs per `request_record()` call (what a request pays) and per flushed request
   (the background thread's Redis pipeline, amortised);
2. two gunicorns with 2 sync workers each, GET /api/health/live/ (the cheapest endpoint, so
   the middleware's share is as large as it can be), the sides in an order rotated each round
   (bench/common.py):
   - baseline: the project's settings without the RequestMetricsMiddleware;
   - product: the real settings, with METRICS_EXCLUDE_PATHS emptied so every request writes
     the whole pipeline (bucket + counter + histogram);
   reporting req/s, p50 and p99 per side;
3. checks the product's Redis counter equals the requests it answered (the servers stop with
   SIGTERM, so their last second is flushed at exit: nothing lost);
4. writes bench/results/metrics_middleware-<time>.json; prints each side's median and min-max
   req/s and the per-round ratios product/baseline.

Target (ours; the issue sets none): product/baseline req/s ≥ 0.9 on the cheapest endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    HOST,
    add_rounds_argument,
    child_env,
    compare,
    gunicorn,
    interleave,
    log,
    machine_load,
    manage,
    print_comparison,
    python,
    scratch_database,
    scratch_redis,
    write_result,
)
from bench.loadgen import LoadResult, http_request, run_load  # noqa: E402

PATH = "/api/health/live/"
TARGET_RATIO = 0.9


def record_cost(env: dict[str, str], calls: int) -> dict[str, float]:
    """µs per request_record() call against the real Redis, in a child with the bench env."""
    code = f"""
import json, time, django
django.setup()
from beo_automation.metrics.requests import RequestSample, request_record
sample = RequestSample(method="GET", route="api/health/live/", status=200, duration_s=0.004)
from beo_automation.metrics.requests import request_metrics_flush
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
    output = python(env, "-c", code, what="record_cost")
    return dict(json.loads(output.strip().splitlines()[-1]))


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
    add_rounds_argument(parser)
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
            common, METRICS_EXCLUDE_PATHS="", DJANGO_SETTINGS_MODULE="beo_automation.settings"
        )
        baseline_env = child_env(common, DJANGO_SETTINGS_MODULE="bench.metrics_baseline_settings")
        log("migrating the scratch database")
        manage(product_env, "migrate", "--no-input", "-v", "0")
        log(f"in-process: {args.calls} request_record() calls against Redis")
        cost = record_cost(product_env, args.calls)
        log(f"  {cost['us_per_call']:.1f} µs per request; flush {cost['flush_ms']:.1f} ms")
        # The in-process calls count too: start the HTTP check from here.
        before = counted_requests(redis_url, prefix)

        def side(label: str, port: int) -> dict[str, Any]:
            raw = request.replace(f"{HOST}:0".encode(), f"{HOST}:{port}".encode())

            def make_request(_client: int, _sequence: int) -> bytes:
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
                f"  {label}: {result.rps:.0f} req/s, p50 {result.percentile(50):.2f} ms, "
                f"p99 {result.percentile(99):.2f} ms, errors {result.errors}"
            )
            return result.summary()

        with (
            gunicorn(baseline_env, "baseline", ready_path=PATH) as baseline_port,
            gunicorn(product_env, "product", ready_path=PATH) as product_port,
        ):
            rounds = interleave(
                {
                    "baseline": lambda: side("baseline", baseline_port),
                    "product": lambda: side("product", product_port),
                },
                rounds=args.rounds,
            )
        served = sum(r.acknowledged for r in results["product"])
        counted = counted_requests(redis_url, prefix) - before
        # + the start-up probes of each product server (counted, not part of the load).

    comparison = compare(rounds, metric="rps", ratios=[("product", "baseline")])
    rps = {k: v["median"] for k, v in comparison["sides"].items()}
    p50 = {k: statistics.median(r.percentile(50) for r in v) for k, v in results.items()}
    p99 = {k: statistics.median(r.percentile(99) for r in v) for k, v in results.items()}
    ratio = comparison["ratios"]["product/baseline"]["median"]
    report: dict[str, Any] = {
        "bench": "metrics_middleware",
        "time": datetime.now(UTC).isoformat(),
        "machine": {**machine_load(), "python": platform.python_version()},
        "args": vars(args),
        "record_us_per_call": round(cost["us_per_call"], 2),
        "flush_ms": round(cost["flush_ms"], 2),
        "runs": {k: [r.summary() for r in v] for k, v in results.items()},
        "rps": {k: round(v, 1) for k, v in rps.items()},
        "p50_ms": {k: round(v, 2) for k, v in p50.items()},
        "p99_ms": {k: round(v, 2) for k, v in p99.items()},
        "comparison": comparison,
        "ratio_rps": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "product_requests_served": served,
        "product_requests_counted": counted,
    }
    out = write_result("metrics_middleware", report)
    log(f"wrote {out.relative_to(ROOT)}")
    print()
    print(
        f"request_record(): {cost['us_per_call']:.1f} µs per request; one flush of "
        f"{args.calls} requests: {cost['flush_ms']:.1f} ms"
    )
    print(f"counted by Redis: {counted} for {served} answered (+ start-up probes)")
    print_comparison(comparison, unit="req/s")
    for label in ("baseline", "product"):
        print(f"{label:>8}: p50 {p50[label]:6.2f} ms   p99 {p99[label]:6.2f} ms (medians)")
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"ratio product/baseline req/s: {ratio:.3f} ({verdict} the ≥ {TARGET_RATIO} target)")


if __name__ == "__main__":
    main()
