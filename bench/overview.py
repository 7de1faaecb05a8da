"""Ops overview bench: ops_overview_get, GET /api/ops/overview/ and the admin index on
1,000,000 events.

    .venv/bin/python bench/overview.py [--events 1000000] [--rounds 5] [--db-prefix NAME_]

What it does, on this machine's PostgreSQL and Redis (DATABASE_URL / REDIS_URL, or the local
defaults), with a database (`beo_bench_overview_<random>`) and a Redis key prefix of its own,
created here and removed at the end whatever happens:

1. migrates a fresh database and fills it in one INSERT … SELECT with --events events spread
   over 30 days (realistic status and type mixes, 40 types), plus a week of job runs (the
   minutely routine ones included), a day of alert evaluation samples, open and resolved
   alerts and incidents; then VACUUM ANALYZE;
2. runs, once per side and round, --rounds rounds in an order rotated each round
   (bench/common.py), in this process (Django's test client for the API: the whole middleware
   stack and a staff JWT, no network):
   - overview: ops_overview_get();
   - api: GET /api/ops/overview/ with a staff bearer token (server time, in-process);
   - page: GET /admin/ logged in as that staff member: the admin index with its panels;
   - overview_covering: ops_overview_get() with a covering index on (created_at, status,
     type) that the project does not ship, created in a transaction rolled back afterwards
     (its build is not timed): what such an index would save;
   - events: the overview's events part alone;
   - events_baseline: the same numbers as a competent ORM user writes them:
     values("status").annotate(Count), values("type").annotate(Count) top 10, count(), and the
     failed count;
3. records EXPLAIN (ANALYZE, BUFFERS) of the events window query with and without the
   covering index;
4. writes bench/results/overview-<time>.json; prints each side's median and min-max and the
   per-round ratios overview/overview_covering and events_baseline/events.

Target (issue 12): the overview page and its API < 300 ms server time with 1,000,000 events.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    add_rounds_argument,
    admin_url,
    collected_static,
    compare,
    interleave,
    log,
    machine_load,
    manage,
    print_comparison,
    scratch_database,
    scratch_redis,
    write_result,
)

TARGET_MS = 300.0
INDEX = "bench_event_created_status_type_idx"

FILL_SQL = """
INSERT INTO events_event (
    type, payload, priority, status, created_at, updated_at, available_at, started_at,
    completed_at, attempts, max_attempts, last_error, duration_ms, result, idempotency_key,
    request_hash, request_id, owner_id
)
SELECT
    CASE
        WHEN x.r1 < 0.30 THEN 'beo.created'
        WHEN x.r1 < 0.55 THEN 'beo.updated'
        WHEN x.r1 < 0.65 THEN 'beo.menu.changed'
        WHEN x.r1 < 0.75 THEN 'beo.guest_count.changed'
        WHEN x.r1 < 0.80 THEN 'beo.cancelled'
        WHEN x.r1 < 0.84 THEN 'invoice.sent'
        WHEN x.r1 < 0.87 THEN 'invoice.paid'
        WHEN x.r1 < 0.90 THEN 'room.assigned'
        ELSE 'misc.type_' || (g %% 32)
    END,
    jsonb_build_object('beo', 'BEO-' || g, 'guests', g %% 300, 'room', 'Ballroom'),
    CASE WHEN x.r2 < 0.10 THEN 0 WHEN x.r2 < 0.80 THEN 1 WHEN x.r2 < 0.96 THEN 2 ELSE 3 END,
    CASE
        WHEN x.r3 < 0.950 THEN 'completed'
        WHEN x.r3 < 0.975 THEN 'failed'
        WHEN x.r3 < 0.990 THEN 'cancelled'
        -- Only the last hour's events still wait or run: the workers keep up.
        WHEN x.ts < now() - interval '1 hour' THEN 'completed'
        WHEN x.r3 < 0.998 THEN 'pending'
        ELSE 'processing'
    END,
    x.ts, x.ts, x.ts, x.ts + interval '1 second', x.ts + interval '2 seconds',
    1 + (g %% 3), 5, '', (g %% 500) / 10.0, '{"bench-noop": null}'::jsonb, NULL, '', '',
    %(first_owner)s + (g %% %(owners)s)
FROM generate_series(1, %(events)s) AS g
CROSS JOIN LATERAL (
    SELECT random() + 0 * g AS r1, random() + 0 * g AS r2, random() + 0 * g AS r3,
           now() - interval '30 days' * (1 - g::float / %(events)s) AS ts
) AS x
"""

# A week of job runs: the three minutely jobs (the rows the overview must skip), a daily backup
# and a weekly verification, a few failures.
RUNS_SQL = """
INSERT INTO maintenance_maintenancerun (
    operation, arguments, trigger, triggered_by, host, started_at, finished_at,
    duration_seconds, outcome, summary, error
)
SELECT op, '{}'::jsonb, 'schedule', 'celery beat', 'bench', ts, ts + interval '1 second', 0.4,
       CASE WHEN g % 997 = 0 THEN 'failed' ELSE 'success' END, '{}'::jsonb,
       CASE WHEN g % 997 = 0 THEN 'OperationalError: bench' ELSE '' END
FROM generate_series(1, 7 * 1440) AS g
CROSS JOIN unnest(ARRAY['evaluate_alerts', 'escalate_incidents', 'retry_notifications']) AS op
CROSS JOIN LATERAL (SELECT now() - interval '1 minute' * g AS ts) AS x
"""


def fill(database_url: str, *, events: int, first_owner: int, owners: int) -> float:
    started = time.perf_counter()
    url = database_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(FILL_SQL, {"events": events, "first_owner": first_owner, "owners": owners})
        conn.execute(RUNS_SQL)
    return time.perf_counter() - started


def seed_ops(*, now: datetime) -> None:
    """Alerts, incidents, backups and a day of evaluation samples, through the ORM."""
    from alerts.models import Alert, Incident, MetricSample, Stage
    from maintenance.models import MaintenanceRun, Outcome, Trigger

    severities = ["critical", "high", "medium", "low"]
    Alert.objects.bulk_create(
        [
            Alert(
                fingerprint=f"open-{i}",
                name=f"Bench alert {i}",
                severity=severities[i % 4],
                status="firing" if i % 3 else "acknowledged",
                message="bench",
                first_seen=now - timedelta(hours=i),
                last_seen=now - timedelta(minutes=i),
            )
            for i in range(30)
        ]
        + [
            Alert(
                fingerprint=f"resolved-{i}",
                name=f"Old alert {i}",
                severity=severities[i % 4],
                status="resolved",
                first_seen=now - timedelta(days=i % 30, hours=2),
                last_seen=now - timedelta(days=i % 30),
                resolved_at=now - timedelta(days=i % 30),
            )
            for i in range(2000)
        ]
    )
    Incident.objects.bulk_create(
        [
            Incident(
                title=f"Incident {i}",
                severity=severities[i % 4],
                stage=Stage.DETECTED if i < 5 else Stage.CLOSED,
                detected_at=now - timedelta(hours=i),
                response_due_at=now - timedelta(hours=i) + timedelta(minutes=30),
            )
            for i in range(300)
        ]
    )
    runs = []
    for day in range(30):
        at = now - timedelta(days=day, hours=1)
        runs.append(
            MaintenanceRun(
                operation="backup_db",
                trigger=Trigger.SCHEDULE,
                started_at=at,
                finished_at=at + timedelta(minutes=2),
                duration_seconds=120,
                outcome=Outcome.SUCCESS,
                summary={"file": f"beo-{day}.dump", "bytes": 10**9},
            )
        )
        if day % 7 == 0:
            runs.append(
                MaintenanceRun(
                    operation="verify_backup",
                    trigger=Trigger.SCHEDULE,
                    started_at=at + timedelta(hours=4),
                    finished_at=at + timedelta(hours=4, minutes=5),
                    outcome=Outcome.SUCCESS,
                    summary={"backup": f"beo-{day}.dump"},
                )
            )
    MaintenanceRun.objects.bulk_create(runs)

    def values(minute: int) -> dict[str, Any]:
        entry = {"threshold": None, "unit": "", "severity": None}
        out = {
            "request_rate": {**entry, "title": "Request rate", "value": 100.0 + minute % 7},
            "response_time": {**entry, "title": "Response time", "value": 40.0, "threshold": 500},
            "error_rate": {**entry, "title": "Error rate", "value": 0.01, "threshold": 0.05},
            "oldest_pending_age": {**entry, "title": "Oldest pending", "value": 3.0},
        }
        for rule in ("database", "broker", "db_connections", "memory", "cpu", "event_queue"):
            out[rule] = {**entry, "title": rule, "value": 12.5, "threshold": 90}
        for priority in ("low", "normal", "high", "urgent"):
            out[f"queue:{priority}"] = {**entry, "title": priority, "value": minute % 20}
        return out

    MetricSample.objects.bulk_create(
        MetricSample(at=now - timedelta(minutes=m), values=values(m)) for m in range(1440)
    )


@contextmanager
def covering_index() -> Iterator[None]:
    """The planner with a covering index on the window's columns, created in a transaction
    that is rolled back (the project does not ship it: docs/performance.md)."""
    from django.db import connection, transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE INDEX {INDEX} ON events_event (created_at, status, type)")
            cursor.execute("ANALYZE events_event")
        yield
        transaction.set_rollback(True)


def timed(fn: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    fn()
    return {"ms": round((time.perf_counter() - started) * 1000, 2)}


def events_baseline(*, now: datetime) -> dict[str, Any]:
    """The events numbers as a competent ORM user writes them."""
    from django.db.models import Count

    from events.models import Event, Status

    window = Event.objects.filter(created_at__gte=now - timedelta(hours=24))
    by_status = dict(window.values_list("status").annotate(n=Count("id")))
    top = list(window.values("type").annotate(n=Count("id")).order_by("-n")[:10])
    return {
        "total": window.count(),
        "by_status": by_status,
        "by_type": top,
        "failed": Event.objects.filter(status=Status.FAILED).count(),
    }


def explain(*, now: datetime) -> str:
    from django.db import connection

    from events.models import Event

    since = now - timedelta(hours=24)
    from django.db.models import Count

    qs = (
        Event.objects.filter(created_at__gte=since)
        .values_list("status", "type")
        .annotate(n=Count("*"))
        .order_by()
    )
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--db-prefix",
        default="beo_bench_overview_",
        help="the scratch database's name prefix (a shared server: your own)",
    )
    add_rounds_argument(parser)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    name = f"{args.db_prefix}{run}"
    prefix = f"beo-bench-overview-{run}"
    started_at = time.monotonic()
    with (
        scratch_database(name) as database_url,
        scratch_redis(prefix, db="1") as redis_url,
        tempfile.TemporaryDirectory(prefix="bench-overview-static-") as static_root,
    ):
        env = {
            "STATIC_ROOT": static_root,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": prefix,
            "CELERY_QUEUE": prefix,
            "CELERY_KEY_PREFIX": f"{prefix}:",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "ENV_FILE": os.devnull,
            "LOG_LEVEL": "warn",
            "LOG_DIR": "",
            "RATELIMIT_API": "100000000/m",
            # No worker runs here: one ping at warm-up, then its cached answer (in production
            # the minutely alert evaluation keeps it fresh).
            "WORKERS_PING_TIMEOUT": "0.5",
            "WORKERS_PING_CACHE_SECONDS": "3600",
            "DJANGO_SETTINGS_MODULE": "beo_automation.settings",
        }
        # The admin index renders hashed static URLs (ManifestStaticFilesStorage).
        env["STATIC_ROOT"] = collected_static(env)
        os.environ.update(env)
        log(f"migrating database {name}")
        manage(dict(os.environ), "migrate", "--no-input", "-v", "0")
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.test.utils import override_settings, setup_test_environment
        from django.utils import timezone
        from rest_framework_simplejwt.tokens import AccessToken

        from beo_automation.ops.overview import PARTS, events_part, ops_overview_get

        setup_test_environment()
        User = get_user_model()  # noqa: N806 - a model class
        owners = User.objects.bulk_create(User(username=f"user-{i}") for i in range(100))
        staff = User.objects.create_user(username=f"bench-{run}", is_staff=True)
        token = f"Bearer {AccessToken.for_user(staff)}"
        log(f"inserting {args.events:,} events and a week of job runs")
        fill_seconds = fill(
            database_url, events=args.events, first_owner=owners[0].pk, owners=len(owners)
        )
        seed_ops(now=timezone.now())
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        log(f"filled in {fill_seconds:.1f}s (+ alerts, incidents, runs, samples)")

        client = Client()

        def api() -> dict[str, Any]:
            started = time.perf_counter()
            response = client.get("/api/ops/overview/", HTTP_AUTHORIZATION=token)
            ms = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                sys.exit(f"GET /api/ops/overview/ answered {response.status_code}")
            errors = [k for k, v in response.json().items() if "error" in v]
            if errors:
                sys.exit(f"overview parts failed: {errors}: {response.json()}")
            return {"ms": round(ms, 2)}

        page_client = Client()
        page_client.force_login(staff)

        def page() -> dict[str, Any]:
            # The admin index staff look at: the same overview, rendered into its panels.
            started = time.perf_counter()
            response = page_client.get("/admin/")
            ms = (time.perf_counter() - started) * 1000
            if response.status_code != 200 or b'id="ops-overview"' not in response.content:
                sys.exit(f"GET /admin/ answered {response.status_code} without the panels")
            return {"ms": round(ms, 2)}

        def overview_covering() -> dict[str, Any]:
            with covering_index():
                return timed(ops_overview_get)

        def baseline() -> dict[str, Any]:
            return timed(lambda: events_baseline(now=timezone.now()))

        sides: dict[str, Callable[[], dict[str, Any]]] = {
            "overview": lambda: timed(ops_overview_get),
            "api": api,
            "page": page,
            "overview_covering": overview_covering,
            "events": lambda: timed(lambda: events_part(now=timezone.now())),
            "events_baseline": baseline,
        }
        with override_settings(ALLOWED_HOSTS=["testserver"]):
            for side in sides.values():  # warm-up: the workers' ping, the planner, caches
                side()
            # Both ways count the same events.
            now = timezone.now()
            product_events = events_part(now=now)
            base_events = events_baseline(now=now)
            if product_events["total"] != base_events["total"] or (
                product_events["failed"] != base_events["failed"]
            ):
                sys.exit(f"the sides disagree: {product_events} / {base_events}")
            results = interleave(sides, rounds=args.rounds)
            # Where the time goes: each part alone, median of the rounds.
            part_ms = {
                part: statistics.median(
                    timed(functools.partial(compute, now=timezone.now()))["ms"]
                    for _ in range(args.rounds)
                )
                for part, compute in PARTS.items()
            }
        plan = explain(now=timezone.now())
        with covering_index():
            plan_covering = explain(now=timezone.now())
        with psycopg.connect(admin_url(), connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        comparison = compare(
            results,
            metric="ms",
            ratios=[("overview", "overview_covering"), ("events_baseline", "events")],
        )
        result = {
            "bench": "overview",
            "time": datetime.now(UTC).isoformat(),
            "machine": {
                **machine_load(),
                "python": platform.python_version(),
                "postgres": row[0] if row else None,
            },
            "settings": {"events": args.events, "rounds": args.rounds, "TZ": settings.TIME_ZONE},
            "fill_seconds": round(fill_seconds, 1),
            "events_in_window": product_events["total"],
            "comparison": comparison,
            "part_ms": part_ms,
            "explain": {"product": plan, "covering_index": plan_covering},
            "target_ms": TARGET_MS,
            "runtime_seconds": round(time.monotonic() - started_at, 1),
        }
        out = write_result("overview", result)
        log(f"wrote {out.relative_to(ROOT)}")

    print(
        f"\nops overview on {args.events:,} events ({product_events['total']:,} in the last 24 h)"
    )
    print_comparison(comparison, unit="ms")
    print("each part alone (median ms): " + ", ".join(f"{k} {v:.1f}" for k, v in part_ms.items()))
    for label, text in (("as shipped", plan), ("with a covering index", plan_covering)):
        lines = text.splitlines()
        print(f"EXPLAIN {label}: {lines[0].strip()} ... {lines[-1].strip()}")
        scans = [line.strip() for line in lines if "Scan" in line]
        print(f"  {scans[0] if scans else ''}")
    worst = max(comparison["sides"][side]["median"] for side in ("overview", "api", "page"))
    verdict = "meets" if worst < TARGET_MS else "MISSES"
    print(
        f"overview / API / admin index, worst median {worst:.1f} ms: {verdict} the target "
        f"< {TARGET_MS:.0f} ms "
        f"(run took {result['runtime_seconds']:.0f} s)"
    )


if __name__ == "__main__":
    main()
