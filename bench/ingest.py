"""Ingestion bench: POST /api/events/ against a bare DRF insert, and POST /api/events/bulk/
against raw COPY of the same rows, measured side by side in the same run; /api/health/ probed
while 16 clients ingest.

    .venv/bin/python bench/ingest.py [--duration 10] [--rounds 5] [--clients 16]

On this machine's PostgreSQL and Redis (DATABASE_URL / REDIS_URL, or the local defaults), with a
database and a Redis key prefix of its own, created here and removed at the end whatever
happens:

1. migrates a fresh database and creates one user per client;
2. starts two gunicorns (2 sync workers each, the Procfile's web) for the whole run:
   - product: the real project (DEBUG off, LOG_LEVEL=info, JSON log files, gunicorn_conf.py's
     max_requests recycling);
   - baseline: bench/baseline_settings.py — the same database and pool, a DRF view that parses
     the body and inserts the same row, and nothing else (no middleware, auth, limit, logging);
3. per round, six sides in an order rotated each round (bench/common.py), each --warmup
   unmeasured seconds then --duration measured ones:
   - baseline: 16 clients (--clients) POST one event at a time to the bare view;
   - product: the same 16 clients POST /api/events/ with `Authorization: Bearer …` —
     authentication, rate limiting (a limit that never refuses), validation, the insert, cache
     invalidation and the Celery doorbell as in production;
   - health: the product's load again, while a 17th client GETs /api/health/ every
     --health-interval seconds on the probe lane (HEALTH_PORT, docs/deployment.md: what a
     monitor is pointed at; the target) and an 18th does the same on the API's own port, where
     a probe waits behind the queue (reported); latencies recorded, not counted in product;
   - bulk: 4 clients (--bulk-clients) POST 1,000-event /api/events/bulk/ requests;
   - copy: the same 4 clients POST the same 1,000-event bodies to the baseline's bare bulk
     view, which parses them and writes the same rows with one raw COPY (psycopg write_row):
     no authentication, validation, limit, idempotency or doorbell;
   - copy_sql: no HTTP and no JSON: 2 connections (one per gunicorn worker) each COPY the
     text of 1,000 rows the product stored (type bench.copy) back to back for 2 s — the
     database's ceiling, printed for scale;
4. checks the database holds exactly the events that were acknowledged (and copied);
5. writes bench/results/ingest-<time>.json; prints each side's median and min-max and the
   per-round ratios product/baseline (req/s), bulk/copy and bulk/copy_sql (events/s), and the
   health p99.

Targets (issue 11): product/baseline ≥ 0.6, bulk/copy ≥ 0.6 (median ratios), /api/health/ p99
< 50 ms on the probe lane while 16 clients ingest; product p99 < 100 ms at 16 clients (issue 3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import threading
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
    add_rounds_argument,
    child_env,
    compare,
    gunicorn,
    gunicorn_with_probe_lane,
    interleave,
    log,
    machine_load,
    manage,
    print_comparison,
    scratch_database,
    scratch_redis,
    write_result,
)
from bench.loadgen import LoadResult, fetch, http_request, run_load  # noqa: E402

TARGET_RATIO = 0.6
TARGET_BULK_RATIO = 0.6
TARGET_P99_MS = 100.0
TARGET_HEALTH_P99_MS = 50.0
COPY_CONNECTIONS = 2  # one per gunicorn worker: the product cannot insert more at once
COPY_SQL_SECONDS = 2.0
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


class HealthProbe(threading.Thread):
    """GET /api/health/ every `interval` seconds until stopped; each probe's latency in ms."""

    def __init__(self, port: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.latencies_ms: list[float] = []
        self.statuses: dict[str, int] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.perf_counter()
            try:
                status, _ = fetch(
                    method="GET",
                    host=HOST,
                    port=self.port,
                    path="/api/health/",
                    body=b"",
                    headers={},
                )
            except OSError:
                status = 0
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
            self.stopping.wait(self.interval)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def bulk_load(
    port: int,
    tokens: list[str],
    args: argparse.Namespace,
    *,
    label: str = "bulk",
    path: str = "/api/events/bulk/",
) -> LoadResult:
    bodies = [
        json.dumps(
            [
                {"type": "bench.bulk", "payload": {"beo": f"BEO-{c}-{i}", "guests": 120}}
                for i in range(BULK_SIZE)
            ]
        ).encode()
        for c in range(args.bulk_clients)
    ]

    headers = [{"Authorization": f"Bearer {token}"} for token in tokens] or [{}] * len(bodies)

    def make(client: int, sequence: int) -> bytes:
        return http_request(
            method="POST",
            host=HOST,
            port=port,
            path=path,
            body=bodies[client],
            headers=headers[client],
        )

    return run_load(
        label=label,
        host=HOST,
        port=port,
        make_request=make,
        clients=args.bulk_clients,
        warmup=args.warmup,
        duration=args.duration,
        items_per_request=BULK_SIZE,
    )


def copy_rows(database_url: str) -> tuple[str, bytes]:
    """The columns and COPY text of BULK_SIZE rows the product stored (type bench.copy)."""
    url = database_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name ="
                " 'events_event' AND column_name <> 'id' ORDER BY ordinal_position"
            ).fetchall()
        ]
        columns = ", ".join(f'"{n}"' for n in names)
        # The same rows, but for their type: the check below tells them from the API's.
        select = ", ".join("'bench.copy'" if n == "type" else f'"{n}"' for n in names)
        data = bytearray()
        query = (
            f"COPY (SELECT {select} FROM events_event WHERE type = 'bench.bulk'"  # noqa: S608
            f" ORDER BY id LIMIT {BULK_SIZE}) TO STDOUT"
        )
        with conn.cursor().copy(query) as copy:
            for chunk in copy:
                data += chunk
    text = bytes(data)
    rows = text.count(b"\n")
    if rows != BULK_SIZE:
        sys.exit(f"expected {BULK_SIZE} rows of bench.bulk to copy, got {rows}")
    return columns, text


def copy_load(database_url: str, columns: str, text: bytes, args: argparse.Namespace) -> dict:
    """COPY_CONNECTIONS connections COPYing `text` (BULK_SIZE rows) back to back; events/s."""
    url = database_url.replace("postgres://", "postgresql://", 1)
    statement = f"COPY events_event ({columns}) FROM STDIN"
    rows = [0] * COPY_CONNECTIONS
    total = [0] * COPY_CONNECTIONS
    measuring = threading.Event()
    stop = threading.Event()

    def work(index: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                with conn.cursor().copy(statement) as copy:
                    copy.write(text)
                total[index] += BULK_SIZE
                if measuring.is_set():
                    rows[index] += BULK_SIZE

    threads = [threading.Thread(target=work, args=(i,)) for i in range(COPY_CONNECTIONS)]
    for thread in threads:
        thread.start()
    # Short: at this rate it writes more WAL than every other side together, and the
    # checkpoints that follow would slow the side after it.
    time.sleep(min(args.warmup, 0.5))
    measuring.set()
    started = time.perf_counter()
    time.sleep(min(args.duration, COPY_SQL_SECONDS))
    measured = sum(rows)
    seconds = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join()
    return {
        "label": "copy",
        "connections": COPY_CONNECTIONS,
        "seconds": round(seconds, 3),
        "events_per_s": round(measured / seconds, 1),
        "copied_total": sum(total),
    }


def count_events(database_url: str) -> int:
    url = database_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM events_event").fetchone()
    return int(row[0]) if row else 0


# --- Main ------------------------------------------------------------------------------------

LABELS = {
    "baseline": "baseline (bare DRF insert)",
    "product": "product POST /api/events/",
    "bulk": "product POST /api/events/bulk/",
    "copy": "bare endpoint, raw COPY of the same rows",
    "copy_sql": "COPY of pre-rendered rows, no HTTP",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per side")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    add_rounds_argument(parser)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--bulk-clients", type=int, default=4, help="concurrent bulk clients")
    parser.add_argument(
        "--health-interval", type=float, default=0.05, help="seconds between probes"
    )
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
        loads: list[LoadResult] = []
        copied: list[dict[str, Any]] = []
        with (
            gunicorn(baseline_env, "baseline") as baseline_port,
            gunicorn_with_probe_lane(product_env, "product") as (product_port, health_port),
        ):
            tokens = [login(product_port, name) for name in usernames]
            status, _ = fetch(
                method="POST",
                host=HOST,
                port=product_port,
                path="/api/events/bulk/",
                body=json.dumps(
                    [
                        {"type": "bench.bulk", "payload": {"beo": f"BEO-seed-{i}", "guests": 120}}
                        for i in range(BULK_SIZE)
                    ]
                ).encode(),
                headers={"Authorization": f"Bearer {tokens[0]}"},
            )
            if status != 201:
                sys.exit(f"the seed bulk request answered {status}")
            seeded = BULK_SIZE
            columns, text = copy_rows(database_url)

            def baseline() -> dict[str, Any]:
                result = single_load(
                    baseline_port, args, label="baseline", path="/bench/events/", tokens=[]
                )
                loads.append(result)
                log(f"baseline: {describe(result)}")
                return result.summary()

            def product() -> dict[str, Any]:
                result = single_load(
                    product_port, args, label="product", path="/api/events/", tokens=tokens
                )
                loads.append(result)
                log(f"product: {describe(result)}")
                return result.summary()

            def health() -> dict[str, Any]:
                # The product's load again, with a monitor's probes beside it (a side of its
                # own: the probes' work must not count against the product's req/s): one on
                # the probe lane (HEALTH_PORT, what docs/deployment.md has monitors use; the
                # target) and one on the API's own port, behind its queue (reported).
                lane = HealthProbe(health_port, args.health_interval)
                api = HealthProbe(product_port, args.health_interval)
                lane.start()
                api.start()
                try:
                    result = single_load(
                        product_port, args, label="health", path="/api/events/", tokens=tokens
                    )
                finally:
                    for probe in (lane, api):
                        probe.stopping.set()
                        probe.join()
                loads.append(result)
                log(
                    f"health: ingest {describe(result)}; /api/health/ p99 "
                    f"{percentile(lane.latencies_ms, 99):.1f} ms on the probe lane over "
                    f"{len(lane.latencies_ms)} probes {lane.statuses}, "
                    f"{percentile(api.latencies_ms, 99):.1f} ms on the API port {api.statuses}"
                )
                return {
                    **result.summary(),
                    "health_latencies_ms": [round(v, 2) for v in lane.latencies_ms],
                    "health_statuses": lane.statuses,
                    "health_p50_ms": round(percentile(lane.latencies_ms, 50), 2),
                    "health_p99_ms": round(percentile(lane.latencies_ms, 99), 2),
                    "health_max_ms": round(max(lane.latencies_ms, default=float("nan")), 2),
                    "api_port_latencies_ms": [round(v, 2) for v in api.latencies_ms],
                    "api_port_statuses": api.statuses,
                    "api_port_p99_ms": round(percentile(api.latencies_ms, 99), 2),
                }

            def bulk() -> dict[str, Any]:
                result = bulk_load(product_port, tokens, args)
                loads.append(result)
                log(f"bulk: {describe(result)}; {result.items_per_second:,.0f} events/s")
                return {**result.summary(), "events_per_s": round(result.items_per_second, 1)}

            def copy() -> dict[str, Any]:
                result = bulk_load(
                    baseline_port, [], args, label="copy", path="/bench/events/bulk/"
                )
                loads.append(result)
                log(f"copy: {describe(result)}; {result.items_per_second:,.0f} events/s")
                return {**result.summary(), "events_per_s": round(result.items_per_second, 1)}

            def copy_sql() -> dict[str, Any]:
                result = copy_load(database_url, columns, text, args)
                copied.append(result)
                log(f"copy_sql: {result['events_per_s']:,.0f} events/s")
                return result

            rounds = interleave(
                {
                    "baseline": baseline,
                    "product": product,
                    "health": health,
                    "bulk": bulk,
                    "copy": copy,
                    "copy_sql": copy_sql,
                },
                rounds=args.rounds,
            )

        # Every acknowledged event is in the table, no more and no less.
        stored = count_events(database_url)
        acknowledged = seeded + sum(r.acknowledged * r.items_per_request for r in loads)
        acknowledged += sum(c["copied_total"] for c in copied)
        log(f"events stored: {stored:,}; acknowledged with a 2xx or copied: {acknowledged:,}")

    if args.keep_logs:
        log(f"server logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    single = compare(
        rounds, metric="rps", sides=["baseline", "product"], ratios=[("product", "baseline")]
    )
    bulk_cmp = compare(
        rounds,
        metric="events_per_s",
        sides=["bulk", "copy", "copy_sql"],
        ratios=[("bulk", "copy"), ("bulk", "copy_sql")],
    )
    probes = [v for r in rounds for v in r["health"]["health_latencies_ms"]]
    product_p99 = max(r["product"]["p99_ms"] for r in rounds)
    health_p99 = percentile(probes, 99)
    api_probes = [v for r in rounds for v in r["health"]["api_port_latencies_ms"]]
    errors = sum(r.errors for r in loads)
    ratio = single["ratios"]["product/baseline"]["median"]
    bulk_ratio = bulk_cmp["ratios"]["bulk/copy"]["median"]
    targets = {
        "product/baseline": {"value": ratio, "target": f">= {TARGET_RATIO}"},
        "bulk/copy": {"value": bulk_ratio, "target": f">= {TARGET_BULK_RATIO}"},
        "health_p99_ms_under_load": {
            "value": round(health_p99, 2),
            "target": f"< {TARGET_HEALTH_P99_MS}",
        },
        "product_p99_ms": {"value": product_p99, "target": f"< {TARGET_P99_MS}"},
    }
    met = (
        ratio >= TARGET_RATIO
        and bulk_ratio >= TARGET_BULK_RATIO
        and health_p99 < TARGET_HEALTH_P99_MS
        and product_p99 < TARGET_P99_MS
        and errors == 0
        and stored == acknowledged
    )
    results = {
        "bench": "ingest",
        "at": datetime.now(UTC).isoformat(),
        "machine": {**machine_load(), "python": platform.python_version()},
        "config": {
            "clients": args.clients,
            "bulk_clients": args.bulk_clients,
            "bulk_size": BULK_SIZE,
            "copy_connections": COPY_CONNECTIONS,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "health_interval_s": args.health_interval,
            "gunicorn_workers": 2,
            "worker_class": "sync",
        },
        "sides": LABELS,
        "rounds": rounds,
        "single": single,
        "bulk": bulk_cmp,
        "health_under_load": {
            "probes": len(probes),
            "p50_ms": round(percentile(probes, 50), 2),
            "p99_ms": round(health_p99, 2),
            "max_ms": round(max(probes, default=float("nan")), 2),
            "p99_per_round_ms": [r["health"]["health_p99_ms"] for r in rounds],
            "api_port_p99_ms": round(percentile(api_probes, 99), 2),
            "api_port_p99_per_round_ms": [r["health"]["api_port_p99_ms"] for r in rounds],
        },
        "errors": errors,
        "events_stored": stored,
        "events_acknowledged": acknowledged,
        "targets": targets,
        "targets_met": met,
        "duration_s": round(time.monotonic() - started, 1),
    }
    path = write_result("ingest", results)
    print_comparison(single, unit="requests/s", labels=LABELS)
    print_comparison(bulk_cmp, unit="events/s", labels=LABELS)
    h = results["health_under_load"]
    print(
        f"\n/api/health/ while {args.clients} clients ingest: p50 {h['p50_ms']:.1f} ms, "
        f"p99 {h['p99_ms']:.1f} ms, max {h['max_ms']:.1f} ms over {h['probes']} probes; "
        f"p99 per round: {', '.join(f'{v:.1f}' for v in h['p99_per_round_ms'])} (probe lane, "
        f"HEALTH_PORT); on the API's own port p99 {h['api_port_p99_ms']:.1f} ms, per round: "
        f"{', '.join(f'{v:.1f}' for v in h['api_port_p99_per_round_ms'])}"
    )
    print(f"product p99 latency (worst round): {product_p99:.1f} ms; errors: {errors}")
    print(f"events stored {stored:,}, acknowledged or copied {acknowledged:,}")
    print(f"\nresult file: {path.relative_to(ROOT)}")
    for name, t in targets.items():
        print(f"  {name}: {t['value']} (target {t['target']})")
    print("targets met" if met else "TARGETS MISSED")
    return 0 if met else 1


def describe(result: LoadResult) -> str:
    s = result.summary()
    return (
        f"{s['rps']:.0f} req/s, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, "
        f"{s['ok']} ok, {s['errors']} errors {s['statuses']}"
    )


if __name__ == "__main__":
    sys.exit(main())
