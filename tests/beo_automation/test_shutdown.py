"""SIGTERM: the web server finishes, returns its database connections and exits cleanly."""

from __future__ import annotations

import signal
import time
import uuid

import psycopg
import pytest
import requests
from django.conf import settings

from tests.server import gunicorn

pytestmark = pytest.mark.postgres


def _connections(application_name: str) -> int:
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname="postgres",
        password=db["PASSWORD"] or None,
        autocommit=True,
    ) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        ).fetchone()
    return int(row[0]) if row else 0


def test_sigterm_closes_pooled_connections_and_exits_zero():
    app_name = f"beo-shutdown-{uuid.uuid4().hex[:8]}"
    with gunicorn(workers=2, DB_APPLICATION_NAME=app_name, DB_POOL_MIN="2") as (base, proc):
        for _ in range(6):
            assert requests.get(f"{base}/api/health/", timeout=10).status_code in {200, 503}
        assert _connections(app_name) > 0, "the server should hold pooled connections"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        output = proc.stdout.read() if proc.stdout else ""
    deadline = time.monotonic() + 5
    while _connections(app_name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _connections(app_name) == 0
    assert "Closing database connections" in output
