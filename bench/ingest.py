"""Ingestion bench: POST /api/events/ against a bare DRF insert, measured in the same run.

    .venv/bin/python bench/ingest.py [--duration 10] [--rounds 2] [--clients 16]

What it does, on this machine's PostgreSQL and Redis (DATABASE_URL / REDIS_URL, or the local
defaults), with a database and a Redis key prefix of its own, created here and removed at the
end whatever happens:

1. migrates a fresh database and creates one user per client;
2. starts gunicorn with 2 sync workers (the Procfile's web) for each side in turn:
   - product: the real project; clients log in through /api/auth/token/ and send
     `Authorization: Bearer …` — authentication, rate limiting (with a limit high enough never
     to refuse), validation, idempotency-free create, cache invalidation and the Celery doorbell
     all run as in production (DEBUG off, LOG_LEVEL=info);
   - baseline: bench/baseline_settings.py — the same database and pool, a DRF view that parses
     the body and inserts the same row, and nothing else (no middleware, auth, limit, logging);
3. drives 16 concurrent clients for --duration seconds per side and round (baseline and product
   alternate so drift hits both), reporting req/s, p50 and p99;
4. measures bulk ingestion: 1,000-event POST /api/events/bulk/ requests for --duration seconds;
5. checks the database holds exactly the events that were acknowledged;
6. writes bench/results/ingest-<time>.json and prints the ratios last.

Targets (issue 3): product/baseline req/s ≥ 0.6, product p99 < 100 ms at 16 clients, bulk ≥
20,000 events/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    HOST,
    child_env,
    gunicorn,
    log,
    manage,
    scratch_database,
    scratch_redis,
    write_result,
)
from bench.loadgen import LoadResult, fetch, http_request, run_load  # noqa: E402

TARGET_RATIO = 0.6
TARGET_P99_MS = 100.0
TARGET_BULK_EVENTS_PER_S = 20_000
BULK_SIZE = 1000
PASSWORD = "bench-" + secrets.token_urlsafe(12)


# --- Workloads -------------------------------------------------------------------------------


def event_body(client: int, sequence: int) -> bytes:
    return json.dumps(
        {
            "type": "bench.ingest",
            "payload": {"beo": f"BEO-{client}-{sequence}", "guests": 120, "room": "Ballroom"},
            "priority": "normal",
        }
    ).encode()


def login(port: int, username: str) -> str:
    status, body = fetch(
        method="POST",
        host=HOST,
        port=port,
        path="/api/auth/token/",
        body=json.dumps({"username": username, "password": PASSWORD}).encode(),
        headers={},
    )
    if status != 200:
        sys.exit(f"login as {username} failed: {status} {body[:300]!r}")
    return str(json.loads(body)["access"])


def single_load(
    port: int, args: argparse.Namespace, *, label: str, path: str, tokens: list[str]
) -> LoadResult:
    """16 clients (--clients) POSTing one event each at a time; with tokens, authenticated."""
    headers = [{"Authorization": f"Bearer {token}"} for token in tokens] or [{}] * args.clients

    def make(client: int, sequence: int) -> bytes:
        return http_request(
            method="POST",
            host=HOST,
            port=port,
            path=path,
            body=event_body(client, sequence),
            headers=headers[client],
        )

    return run_load(
        label=label,
        host=HOST,
        port=port,
        make_request=make,
        clients=args.clients,
        warmup=args.warmup,
        duration=args.duration,
    )


def bulk_load(port: int, tokens: list[str], args: argparse.Namespace) -> LoadResult:
    bodies = [
        json.dumps(
            [
                {"type": "bench.bulk", "payload": {"beo": f"BEO-{c}-{i}", "guests": 120}}
                for i in range(BULK_SIZE)
            ]
        ).encode()
        for c in range(args.bulk_clients)
    ]

    def make(client: int, sequence: int) -> bytes:
        return http_request(
            method="POST",
            host=HOST,
            port=port,
            path="/api/events/bulk/",
            body=bodies[client],
            headers={"Authorization": f"Bearer {tokens[client]}"},
        )

    return run_load(
        label="bulk",
        host=HOST,
        port=port,
        make_request=make,
        clients=args.bulk_clients,
        warmup=args.warmup,
        duration=args.duration,
        items_per_request=BULK_SIZE,
    )


def count_events(database_url: str) -> int:
    url = database_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM events_event").fetchone()
    return int(row[0]) if row else 0


# --- Main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--rounds", type=int, default=2, help="baseline/product pairs")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--bulk-clients", type=int, default=4, help="concurrent bulk clients")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' log files")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    run_id = uuid.uuid4().hex[:10]
    database = f"beo_bench_ingest_{run_id}"
    prefix = f"beo-bench-{run_id}"
    started = time.monotonic()
    log_dir = tempfile.mkdtemp(prefix=f"beo-bench-logs-{run_id}-")

    with scratch_database(database) as database_url, scratch_redis(prefix) as redis_url:
        log(f"database {database}, Redis {redis_url} prefix {prefix}")
        common = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": prefix,
            "CELERY_QUEUE": prefix,
            "CELERY_KEY_PREFIX": f"{prefix}:",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "ENVIRONMENT": "bench",
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": HOST,
            "LOG_LEVEL": "info",
            "LOG_FORMAT": "json",
            "LOG_DIR": log_dir,
            "ENV_FILE": os.devnull,
            # Counted for every request as in production, at a rate that never refuses one.
            "RATELIMIT_API": "100000000/m",
            "RATELIMIT_LOGIN": "1000/m",
        }
        env = child_env(common)
        manage(env, "migrate", "--no-input", "-v", "0")
        usernames = [f"bench-{i:02d}" for i in range(max(args.clients, args.bulk_clients))]
        owner_id = manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model\n"
            "from django.contrib.auth.hashers import make_password\n"
            f"password = make_password({PASSWORD!r})\n"
            "User = get_user_model()\n"
            f"users = [User(username=n, password=password) for n in {usernames!r}]\n"
            "User.objects.bulk_create(users)\n"
            f"print(User.objects.get(username={usernames[0]!r}).pk)",
        ).split()[-1]  # the last line: Django's shell may print a banner first
        log(f"migrated; {len(usernames)} users")

        product_env = child_env(common)
        baseline_env = child_env(
            common, DJANGO_SETTINGS_MODULE="bench.baseline_settings", BENCH_OWNER_ID=owner_id
        )
        product_runs: list[LoadResult] = []
        baseline_runs: list[LoadResult] = []
        tokens: list[str] = []
        for round_no in range(1, args.rounds + 1):
            with gunicorn(baseline_env, "baseline") as port:
                result = single_load(port, args, label="baseline", path="/bench/events/", tokens=[])
                baseline_runs.append(result)
                log(f"round {round_no} baseline: {describe(result)}")
            with gunicorn(product_env, "product") as port:
                if not tokens:
                    tokens = [login(port, name) for name in usernames]
                result = single_load(
                    port, args, label="product", path="/api/events/", tokens=tokens
                )
                product_runs.append(result)
                log(f"round {round_no} product:  {describe(result)}")
        with gunicorn(product_env, "product") as port:
            bulk = bulk_load(port, tokens, args)
            log(f"bulk: {describe(bulk)}; {bulk.items_per_second:,.0f} events/s")

        # Every acknowledged event is in the table, no more and no less.
        stored = count_events(database_url)
        acknowledged = sum(r.acknowledged for r in baseline_runs + product_runs)
        acknowledged += bulk.acknowledged * BULK_SIZE
        log(f"events stored: {stored:,}; acknowledged with a 2xx: {acknowledged:,}")

    if args.keep_logs:
        log(f"server logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    results = report(
        args=args,
        baseline_runs=baseline_runs,
        product_runs=product_runs,
        bulk=bulk,
        stored=stored,
        acknowledged=acknowledged,
    )
    results["duration_s"] = round(time.monotonic() - started, 1)
    path = write_result("ingest", results)
    print_summary(results, path)
    return 0 if results["targets_met"] else 1


def describe(result: LoadResult) -> str:
    s = result.summary()
    return (
        f"{s['rps']:.0f} req/s, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, "
        f"{s['ok']} ok, {s['errors']} errors {s['statuses']}"
    )


def report(
    *,
    args: argparse.Namespace,
    baseline_runs: list[LoadResult],
    product_runs: list[LoadResult],
    bulk: LoadResult,
    stored: int,
    acknowledged: int,
) -> dict[str, Any]:
    baseline_rps = statistics.median(r.rps for r in baseline_runs)
    product_rps = statistics.median(r.rps for r in product_runs)
    product_p99 = max(r.percentile(99) for r in product_runs)
    ratio = product_rps / baseline_rps if baseline_rps else 0.0
    errors = sum(r.errors for r in product_runs + baseline_runs) + bulk.errors
    targets = {
        "ratio": {"value": round(ratio, 3), "target": f">= {TARGET_RATIO}"},
        "product_p99_ms": {"value": round(product_p99, 2), "target": f"< {TARGET_P99_MS}"},
        "bulk_events_per_s": {
            "value": round(bulk.items_per_second, 1),
            "target": f">= {TARGET_BULK_EVENTS_PER_S}",
        },
    }
    met = (
        ratio >= TARGET_RATIO
        and product_p99 < TARGET_P99_MS
        and bulk.items_per_second >= TARGET_BULK_EVENTS_PER_S
        and errors == 0
        and stored == acknowledged
    )
    return {
        "bench": "ingest",
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "config": {
            "clients": args.clients,
            "bulk_clients": args.bulk_clients,
            "bulk_size": BULK_SIZE,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "gunicorn_workers": 2,
            "worker_class": "sync",
        },
        "baseline_runs": [r.summary() for r in baseline_runs],
        "product_runs": [r.summary() for r in product_runs],
        "bulk": bulk.summary(),
        "baseline_rps_median": round(baseline_rps, 1),
        "product_rps_median": round(product_rps, 1),
        "errors": errors,
        "events_stored": stored,
        "events_acknowledged": acknowledged,
        "targets": targets,
        "targets_met": met,
    }


def print_summary(results: dict[str, Any], path: Path) -> None:
    print()
    print(f"{'run':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for run in results["baseline_runs"] + results["product_runs"]:
        print(
            f"{run['label']:<10} {run['rps']:>9.1f} {run['p50_ms']:>8.2f} {run['p99_ms']:>8.2f} "
            f"{run['errors']:>7}"
        )
    bulk = results["bulk"]
    print(
        f"{'bulk':<10} {bulk['rps']:>9.1f} {bulk['p50_ms']:>8.2f} {bulk['p99_ms']:>8.2f} "
        f"{bulk['errors']:>7}   ({bulk['items_per_second']:,.0f} events/s, "
        f"{results['config']['bulk_clients']} clients x {results['config']['bulk_size']} events)"
    )
    print(f"\nresult file: {path.relative_to(ROOT)}")
    t = results["targets"]
    print(
        f"ratio product/baseline req/s: {t['ratio']['value']:.3f} "
        f"({results['product_rps_median']:.0f} / {results['baseline_rps_median']:.0f}; "
        f"target {t['ratio']['target']})"
    )
    print(
        f"product p99 at {results['config']['clients']} clients: "
        f"{t['product_p99_ms']['value']:.1f} ms (target {t['product_p99_ms']['target']})"
    )
    print(
        f"bulk ingestion: {t['bulk_events_per_s']['value']:,.0f} events/s "
        f"(target {t['bulk_events_per_s']['target']})"
    )
    print("targets met" if results["targets_met"] else "TARGETS MISSED")


if __name__ == "__main__":
    sys.exit(main())
