"""Admin bench: the events changelist on 1,000,000 events, against Django's stock admin.

    .venv/bin/python bench/admin.py [--events 1000000] [--rounds 5]

What it does, on this machine's PostgreSQL (DATABASE_URL, or the local default), with a
database of its own, created here and dropped at the end whatever happens:

1. migrates a fresh database and fills it with --events events in one INSERT … SELECT
   (100 owners, 180 days of history, realistic status/priority/type mixes), then VACUUM ANALYZE;
2. logs in a superuser and requests each page through Django's test client, once per side
   and round, --rounds rounds in an order rotated each round (bench/common.py):
   - product: /admin/events/event/ (events.admin.EventAdmin);
   - baseline: the same list, filters, search fields and date hierarchy as a stock
     `ModelAdmin` (bench/admin_urls.py): full COUNT(*), SELECT DISTINCT dates, icontains;
3. checks that no product page counted the whole table;
4. writes bench/results/admin-<time>.json; prints, per page, each side's median page time and
   the median, min-max and per-round ratios stock/product.

Target: on 1,000,000 events no product page counts the whole table, and the database time of
every product page stays under 100 ms (page times are printed too: the rest is rendering).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    add_rounds_argument,
    admin_url,
    compare,
    interleave,
    log,
    machine_load,
    manage,
    scratch_database,
    write_result,
)

# What grows with the table is the database's share of a page: it should stay under this on
# every product page (the rest is template rendering, the same for 10 rows or 10 million).
TARGET_SQL_MS = 100.0

FILL_SQL = """
INSERT INTO events_event (
    type, payload, priority, status, created_at, updated_at, available_at, started_at,
    completed_at, attempts, max_attempts, last_error, duration_ms, result, idempotency_key,
    request_hash, request_id, owner_id
)
SELECT
    CASE
        WHEN x.r1 < 0.001 THEN 'invoice.sent'
        WHEN x.r1 < 0.40 THEN 'beo.created'
        WHEN x.r1 < 0.75 THEN 'beo.updated'
        WHEN x.r1 < 0.85 THEN 'beo.menu.changed'
        WHEN x.r1 < 0.95 THEN 'beo.guest_count.changed'
        ELSE 'beo.cancelled'
    END,
    jsonb_build_object('beo', 'BEO-' || g, 'guests', g %% 300, 'room', 'Ballroom'),
    CASE WHEN x.r2 < 0.10 THEN 0 WHEN x.r2 < 0.80 THEN 1 WHEN x.r2 < 0.96 THEN 2 ELSE 3 END,
    CASE
        WHEN x.r3 < 0.930 THEN 'completed'
        WHEN x.r3 < 0.950 THEN 'failed'
        WHEN x.r3 < 0.970 THEN 'cancelled'
        WHEN x.r3 < 0.995 THEN 'pending'
        ELSE 'processing'
    END,
    x.ts, x.ts, x.ts, x.ts + interval '1 second', x.ts + interval '2 seconds',
    1 + (g %% 3), 5, '', (g %% 500) / 10.0, '{"bench-noop": null}'::jsonb, NULL, '', '',
    %(first_owner)s + (g %% %(owners)s)
FROM generate_series(1, %(events)s) AS g
CROSS JOIN LATERAL (
    SELECT random() + 0 * g AS r1, random() + 0 * g AS r2, random() + 0 * g AS r3,
           now() - interval '180 days' * (1 - g::float / %(events)s) AS ts
) AS x
"""


def fill(database_url: str, *, events: int, first_owner: int, owners: int) -> float:
    started = time.perf_counter()
    url = database_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            FILL_SQL,
            {"events": events, "first_owner": first_owner, "owners": owners},
        )
        conn.execute("VACUUM ANALYZE events_event")
    return time.perf_counter() - started


def timed_get(client: Any, url: str) -> dict[str, Any]:
    """One request: its time, and its queries' time and text."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(url)
        ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        sys.exit(f"GET {url} answered {response.status_code}")
    queries = captured.captured_queries
    return {
        "ms": round(ms, 2),
        "sql_ms": round(sum(float(q["time"]) for q in queries) * 1000, 1),
        "queries": len(queries),
        "slowest_queries": [
            {"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"][:400]}
            for q in sorted(queries, key=lambda q: -float(q["time"]))[:4]
        ],
        "sql": [q["sql"] for q in queries],
    }


def page_rounds(client: Any, urls: dict[str, str], rounds: int) -> dict[str, Any]:
    """Each side's URL once per round, interleaved; per side: the median page and SQL time."""

    def getter(url: str) -> Callable[[], dict[str, Any]]:
        return lambda: timed_get(client, url)

    results = interleave(
        {side: getter(url) for side, url in urls.items()}, rounds=rounds, quiet=True
    )
    page: dict[str, Any] = {}
    for side, url in urls.items():
        last = results[-1][side]
        page[side] = {
            "url": url,
            "median_ms": round(statistics.median(r[side]["ms"] for r in results), 1),
            "max_ms": round(max(r[side]["ms"] for r in results), 1),
            "sql_ms": round(statistics.median(r[side]["sql_ms"] for r in results), 1),
            "queries": last["queries"],
            "slowest_queries": last["slowest_queries"],
            "sql": sorted({q for r in results for q in r[side]["sql"]}),
        }
    if len(urls) == 2:
        page["comparison"] = compare(results, metric="ms", ratios=[("stock", "product")])
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    add_rounds_argument(parser)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    with (
        scratch_database(f"bench_admin_{run}") as database_url,
        tempfile.TemporaryDirectory(prefix="bench-admin-static-") as static_root,
    ):
        env = {
            # Production serves hashed static files from a manifest: collected below.
            "STATIC_ROOT": static_root,
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "ENV_FILE": os.devnull,
            "LOG_LEVEL": "warn",
            "LOG_DIR": "",
            "REDIS_URL": "",
            "DJANGO_SETTINGS_MODULE": "beo_automation.settings",
        }
        os.environ.update(env)
        log(f"migrating database bench_admin_{run}")
        for command in (["migrate", "--no-input"], ["collectstatic", "--no-input"]):
            manage(dict(os.environ), *command, "-v", "0")
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.test.utils import override_settings, setup_test_environment

        from events.models import Event

        setup_test_environment()
        User = get_user_model()  # noqa: N806 - a model class
        owners = User.objects.bulk_create(User(username=f"user-{i}") for i in range(100))
        admin_user = User.objects.create_superuser(username=f"bench-{run}", password=run)
        log(f"inserting {args.events:,} events")
        fill_seconds = fill(
            database_url, events=args.events, first_owner=owners[0].pk, owners=len(owners)
        )
        log(f"inserted in {fill_seconds:.1f}s")
        sample = Event.objects.order_by("id").values_list("id", flat=True)[args.events // 2]
        year = datetime.now(UTC).year
        month = datetime.now(UTC).month
        pages = {
            "list (page 1)": "",
            "filter status=failed": "?status__exact=failed",
            "filter priority=urgent": "?priority__exact=3",
            "filter status+priority": "?status__exact=pending&priority__exact=3",
            "search by id": f"?q={sample}",
            "search type prefix (rare)": "?q=invoice.",
            "search type prefix (common)": "?q=beo.created",
            "search owner": "?q=user-42",
            "date hierarchy: year": f"?created_at__year={year}",
            "date hierarchy: month": f"?created_at__year={year}&created_at__month={month}",
            "page 100": "?p=100",
        }
        client = Client()
        client.force_login(admin_user)
        results: dict[str, dict[str, Any]] = {}
        with override_settings(ROOT_URLCONF="bench.admin_urls", ALLOWED_HOSTS=["testserver"]):
            # Warm up both (templates, caches, the planner's first look at the tables).
            client.get("/admin/events/event/")
            client.get("/stock-admin/events/event/")
            for label, query in pages.items():
                results[label] = page_rounds(
                    client,
                    {
                        "product": f"/admin/events/event/{query}",
                        "stock": f"/stock-admin/events/event/{query}",
                    },
                    args.rounds,
                )
                product, stock = results[label]["product"], results[label]["stock"]
                log(
                    f"{label:<28} product {product['median_ms']:>8.1f} ms "
                    f"(SQL {product['sql_ms']:>6.1f})   stock {stock['median_ms']:>8.1f} ms "
                    f"(SQL {stock['sql_ms']:>7.1f})"
                )
            detail = page_rounds(
                client, {"product": f"/admin/events/event/{sample}/change/"}, args.rounds
            )["product"]
            log(f"{'detail page':<28} product {detail['median_ms']:>8.1f} ms")

        full_counts = [
            q
            for page in results.values()
            for q in page["product"]["sql"]
            if "COUNT(" in q.upper() and "events_event" in q and "LIMIT" not in q.upper()
        ]
        if full_counts:
            sys.exit(f"a product page counted the whole table: {full_counts[0][:300]}")
        for page in results.values():
            for side in ("product", "stock"):
                page[side].pop("sql")
        detail.pop("sql")
        with psycopg.connect(admin_url(), connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        slowest_label, slowest = max(results.items(), key=lambda item: item[1]["product"]["sql_ms"])
        result = {
            "bench": "admin",
            "time": datetime.now(UTC).isoformat(),
            "machine": {
                **machine_load(),
                "python": platform.python_version(),
                "postgres": row[0] if row else None,
            },
            "settings": {
                "events": args.events,
                "rounds": args.rounds,
                "list_per_page": 100,
                "TIME_ZONE": settings.TIME_ZONE,
            },
            "fill_seconds": round(fill_seconds, 1),
            "pages": results,
            "detail": detail,
            "most_sql_product_page": {"page": slowest_label, **slowest["product"]},
            "target_sql_ms": TARGET_SQL_MS,
        }
        out = write_result("admin", result)
        log(f"wrote {out.relative_to(ROOT)}")

    print()
    print(
        f"events changelist on {args.events:,} events, {args.rounds} interleaved rounds "
        "(median ms; ratio stock/product: median [min-max]; per round)"
    )
    print(f"{'page':<30}{'product':>10}{'(SQL)':>9}{'stock':>10}{'(SQL)':>9}  stock/product")
    for label, page in results.items():
        product, stock = page["product"], page["stock"]
        ratio = page["comparison"]["ratios"]["stock/product"]
        per_round = ", ".join(f"{v:.1f}" for v in ratio["values"])
        print(
            f"{label:<30}{product['median_ms']:>10.1f}{product['sql_ms']:>9.1f}"
            f"{stock['median_ms']:>10.1f}{stock['sql_ms']:>9.1f}"
            f"  {ratio['median']:.1f}x [{ratio['min']:.1f}-{ratio['max']:.1f}]; {per_round}"
        )
    print(f"{'detail page':<30}{detail['median_ms']:>10.1f}{detail['sql_ms']:>9.1f}")
    verdict = "meets" if slowest["product"]["sql_ms"] < TARGET_SQL_MS else "MISSES"
    slowest_page = max(page["product"]["median_ms"] for page in results.values())
    print(
        f"most database time on a product page: {slowest_label}, {slowest['product']['sql_ms']:.1f}"
        f" ms ({verdict} the target < {TARGET_SQL_MS:.0f} ms); slowest product page "
        f"{slowest_page:.1f} ms in all; no product page counted the whole table"
    )


if __name__ == "__main__":
    main()
