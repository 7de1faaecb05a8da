"""Helpers for the maintenance tests (direct connections, URLs, data, child processes)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from events.models import Status
from tests.factories import EventFactory


def current_database_name() -> str:
    return str(connection.settings_dict["NAME"])


def pg(dbname: str | None = None) -> psycopg.Connection[Any]:
    """A direct autocommit connection to the test database (or another on the same server)."""
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        dbname=dbname or current_database_name(),
        autocommit=True,
    )


def scratch_databases_left() -> list[str]:
    """Databases named `<test database>_…` that still exist (a leak if any)."""
    prefix = current_database_name().replace("_", r"\_") + r"\_%"
    with pg("postgres") as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1", [prefix]
        ).fetchall()
    return [r[0] for r in rows]


def database_url(dbname: str | None = None) -> str:
    s = connection.settings_dict
    host = s["HOST"] or "127.0.0.1"
    port = s["PORT"] or 5432
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{host}:{port}/{dbname or current_database_name()}"


def fast_owner(username: str = "maint-owner") -> Any:
    """A user without a password: factory users hash one (~0.6 s each on this machine)."""
    owner, _ = get_user_model().objects.get_or_create(username=username)
    return owner


def make_events(count: int, **fields: Any) -> list[Any]:
    """`count` events of one owner (fields as for EventFactory)."""
    fields.setdefault("owner", fast_owner())
    return list(EventFactory.create_batch(count, **fields))


def old_completed_events(count: int, *, days: int = 100, owner: Any = None) -> list[Any]:
    owner = owner or fast_owner()
    created = timezone.now() - timedelta(days=days)
    return [
        EventFactory(owner=owner, status=Status.COMPLETED, created_at=created) for _ in range(count)
    ]


def sqlite_env(tmp_path: Path) -> dict[str, Any]:
    """A child process on the embedded default: SQLite, no Redis."""
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": None,
        "BACKUP_DIR": str(tmp_path / "sqlite-backups"),
        "MEDIA_ROOT": str(tmp_path / "sqlite-media"),
        "LOG_LEVEL": "warn",
    }
