"""Shared by bench/archive.py and bench/backup.py: scratch databases on the local PostgreSQL,
migrated with the project's migrations and filled with events by one SQL statement.

Every database is named `bench_<what>_<random>` and dropped by the caller's `finally`.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.common import manage

ROOT = Path(__file__).resolve().parent.parent
SERVER_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
# Generated rows: old events (the archival candidates) first, as ids grow with time; among
# them a share that is not `completed`, interleaved, so a walk by id meets both kinds.
DAY = 86400


def server_url(dbname: str) -> str:
    """SERVER_URL with another database name (and the psycopg scheme)."""
    base = SERVER_URL.replace("postgres://", "postgresql://", 1)
    return base.rsplit("/", 1)[0] + "/" + dbname


def django_url(dbname: str) -> str:
    return server_url(dbname).replace("postgresql://", "postgres://", 1)


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(server_url("postgres"), autocommit=True)


def new_name(what: str) -> str:
    return f"bench_{what}_{secrets.token_hex(4)}"


def create_database(name: str, *, template: str | None = None) -> None:
    with admin() as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(query)


def drop_database(name: str) -> None:
    with admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def child_environment(dbname: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=django_url(dbname),
        DEBUG="false",
        SECRET_KEY=env.get("SECRET_KEY") or secrets.token_urlsafe(50),
        LOG_LEVEL="warn",
        LOG_DIR="",
        ENV_FILE=os.devnull,
        SECURE_SSL_REDIRECT="false",
    )
    env.update(extra)
    return env


def migrate(dbname: str) -> None:
    manage(child_environment(dbname), "migrate", "-v", "0", "--no-input")


def fill_events(dbname: str, *, total: int, eligible_share: float, users: int = 100) -> int:
    """`total` events; `eligible_share` of them completed and older than 90 days.

    Returns the number of eligible events. Old events make up eligible_share * 7/6 of the
    table; one in seven of them failed (not eligible), the rest completed.
    """
    old = min(total, round(total * eligible_share * 7 / 6))
    started = time.perf_counter()
    with psycopg.connect(server_url(dbname), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined) "
            "SELECT '!', false, 'bench' || g, '', '', '', false, true, now() "
            "FROM generate_series(1, %s) g",
            [users],
        )
        first_user = conn.execute("SELECT min(id) FROM auth_user").fetchone()[0]  # type: ignore[index]
        conn.execute(
            """
            INSERT INTO events_event (type, payload, priority, status, created_at, updated_at,
                available_at, started_at, completed_at, attempts, max_attempts, last_error,
                duration_ms, result, idempotency_key, request_hash, request_id, owner_id)
            SELECT 'beo.created',
                   jsonb_build_object('beo', 'BEO-' || g, 'guests', g %% 500,
                                      'venue', 'Hall ' || (g %% 7), 'notes', md5(g::text)),
                   g %% 4,
                   CASE WHEN g <= %(old)s THEN
                            CASE WHEN g %% 7 = 0 THEN 'failed' ELSE 'completed' END
                        ELSE (ARRAY['pending','processing','completed','failed','cancelled'])
                             [1 + g %% 5] END,
                   ts, ts, ts, ts, ts + interval '1 second', 1, 5, '', 12.5,
                   '{"ok": true}'::jsonb, NULL, '', '', %(first_user)s + g %% %(users)s
            FROM (
                SELECT g,
                       CASE WHEN g <= %(old)s
                            THEN now() - interval '365 days'
                                 + g * interval '1 second' * (274.0 * 86400 / %(old)s)
                            ELSE now() - interval '89 days'
                                 + (g - %(old)s) * interval '1 second'
                                   * (88.0 * 86400 / greatest(%(total)s - %(old)s, 1))
                       END AS ts
                FROM generate_series(1, %(total)s) g
            ) s
            """,
            {"old": old, "total": total, "users": users, "first_user": first_user},
        )
        conn.execute("VACUUM ANALYZE")
        eligible = conn.execute(
            "SELECT count(*) FROM events_event "
            "WHERE status = 'completed' AND created_at < now() - interval '90 days'"
        ).fetchone()[0]  # type: ignore[index]
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
    print(
        f"  filled {dbname}: {total:,} events ({eligible:,} eligible), "
        f"{size / 2**20:,.0f} MiB, in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return int(eligible)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def setup_django(dbname: str) -> None:
    """Configure this process's Django for `dbname` (call once, before importing services)."""
    os.environ.update(child_environment(dbname, CACHE_KEY_PREFIX=f"bench-{secrets.token_hex(4)}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beo_automation.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
