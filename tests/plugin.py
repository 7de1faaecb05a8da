"""Loaded with `-p tests.plugin` (pyproject addopts) before Django's settings are imported.

It gives this test run its own names everywhere it shares a server with other runs:
the PostgreSQL test database (see conftest), the Redis cache key prefix, the Celery queue and
key prefix, and the log directory. Values already in the environment win.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid

RUN_ID = os.environ.setdefault("BEO_TEST_RUN_ID", uuid.uuid4().hex[:10])

os.environ.setdefault("SECRET_KEY", "test-" + secrets.token_urlsafe(48))
# The suite exercises production settings; the test client speaks plain HTTP, so only the
# HTTPS redirect is off (its own test turns it back on).
os.environ["DEBUG"] = "false"
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ENVIRONMENT", "test")
os.environ.setdefault("LOG_DIR", os.path.join(tempfile.gettempdir(), f"beo-test-logs-{RUN_ID}"))
os.environ.setdefault("LOG_FORMAT", "json")
os.environ.setdefault("LOG_LEVEL", "http")  # the access line is asserted on
os.environ.setdefault("CACHE_KEY_PREFIX", f"beo-test-{RUN_ID}")
os.environ.setdefault("CELERY_QUEUE", f"beo-test-{RUN_ID}")
os.environ.setdefault("CELERY_KEY_PREFIX", f"beo-test-{RUN_ID}:")
os.environ.setdefault(
    "CELERY_BEAT_SCHEDULE_FILENAME", os.path.join(tempfile.gettempdir(), f"beo-test-beat-{RUN_ID}")
)
os.environ.setdefault(
    "BACKUP_DIR", os.path.join(tempfile.gettempdir(), f"beo-test-backups-{RUN_ID}")
)
_static_root = os.path.join(tempfile.gettempdir(), f"beo-test-static-{RUN_ID}")
os.makedirs(_static_root, exist_ok=True)
os.environ.setdefault("STATIC_ROOT", _static_root)
os.environ.setdefault("MEDIA_ROOT", os.path.join(tempfile.gettempdir(), f"beo-test-media-{RUN_ID}"))
# A local .env (from `make run`) must not leak development settings into the suite.
os.environ.setdefault("ENV_FILE", os.devnull)


def _detect_local_services() -> None:
    """Use the local PostgreSQL and Redis when they answer and nothing else was configured.

    `make test` on a machine with the services gives the real thing without any setup;
    on a machine without them the suite runs on SQLite and service tests skip (fail in CI).
    """
    if os.environ.get("BEO_TEST_AUTODETECT", "1") == "0":
        return
    if "DATABASE_URL" not in os.environ:
        url = "postgres://postgres@127.0.0.1:5432/postgres"
        try:
            import psycopg

            with psycopg.connect(url.replace("postgres://", "postgresql://"), connect_timeout=1):
                os.environ["DATABASE_URL"] = url
        except Exception:  # noqa: BLE001,S110 - no usable server: stay on SQLite
            pass
    if "REDIS_URL" not in os.environ:
        url = "redis://127.0.0.1:6379/15"
        try:
            import redis

            redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
            os.environ["REDIS_URL"] = url
        except Exception:  # noqa: BLE001,S110 - no usable server: in-process fallbacks
            pass


_detect_local_services()


def pytest_report_header() -> list[str]:
    return [
        f"beo-automation test run {RUN_ID}: "
        f"DATABASE_URL={os.environ.get('DATABASE_URL', '(SQLite)')} "
        f"REDIS_URL={os.environ.get('REDIS_URL', '(none: locmem cache, eager Celery)')} "
        f"LOG_DIR={os.environ['LOG_DIR']}"
    ]
