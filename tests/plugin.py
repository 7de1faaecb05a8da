"""Loaded with `-p tests.plugin` (pyproject addopts) before Django's settings are imported.

It gives this test run (and each pytest-xdist worker of it) its own names everywhere it shares
a server or a directory with other runs: the PostgreSQL test database (see conftest), the Redis
cache key prefix, the Celery queue and key prefix, the log, static, backup and media
directories. Values already in the environment win.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid

RUN_ID = os.environ.setdefault("BEO_TEST_RUN_ID", uuid.uuid4().hex[:10])
# pytest-xdist starts every worker with the controller's environment plus PYTEST_XDIST_WORKER
# (gw0, gw1, ...): each worker is a run of its own on the shared servers, so the names below
# carry the worker too. The database name does as well (conftest).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
SCOPE_ID = f"{RUN_ID}_{WORKER}" if WORKER else RUN_ID

# The names this plugin chose (not the caller): a worker re-derives them, a caller's value wins.
_OWN = "BEO_TEST_PLUGIN_DEFAULTS"
_own = set(filter(None, os.environ.get(_OWN, "").split(",")))


def _default(name: str, value: str) -> None:
    if name not in os.environ or name in _own:
        os.environ[name] = value
        _own.add(name)


def _tmp(name: str) -> str:
    return os.path.join(tempfile.gettempdir(), f"beo-test-{name}-{SCOPE_ID}")


os.environ.setdefault("SECRET_KEY", "test-" + secrets.token_urlsafe(48))
# The suite exercises production settings; the test client speaks plain HTTP, so only the
# HTTPS redirect is off (its own test turns it back on).
os.environ["DEBUG"] = "false"
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ENVIRONMENT", "test")
_default("LOG_DIR", _tmp("logs"))
os.environ.setdefault("LOG_FORMAT", "json")
os.environ.setdefault("LOG_LEVEL", "http")  # the access line is asserted on
_default("CACHE_KEY_PREFIX", f"beo-test-{SCOPE_ID}")
_default("CELERY_QUEUE", f"beo-test-{SCOPE_ID}")
_default("CELERY_KEY_PREFIX", f"beo-test-{SCOPE_ID}:")
_default("CELERY_BEAT_SCHEDULE_FILENAME", _tmp("beat"))
_default("BACKUP_DIR", _tmp("backups"))
_default("STATIC_ROOT", _tmp("static"))
os.makedirs(os.environ["STATIC_ROOT"], exist_ok=True)
_default("MEDIA_ROOT", _tmp("media"))
os.environ[_OWN] = ",".join(sorted(_own))
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
if "DATABASE_URL" not in os.environ or "DATABASE_URL" in _own:
    # SQLite: the tests use Django's in-memory test database; child processes started without
    # a DATABASE_URL of their own get a file per worker, not one shared db.sqlite3 in the tree.
    _default("DATABASE_URL", f"sqlite:///{_tmp('db')}.sqlite3")
    os.environ[_OWN] = ",".join(sorted(_own))


def pytest_report_header() -> list[str]:
    return [
        f"beo-automation test run {RUN_ID}: "
        f"DATABASE_URL={os.environ.get('DATABASE_URL', '(SQLite)')} "
        f"REDIS_URL={os.environ.get('REDIS_URL', '(none: locmem cache, eager Celery)')} "
        f"LOG_DIR={os.environ['LOG_DIR']}"
    ]
