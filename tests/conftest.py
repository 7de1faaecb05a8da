"""Shared fixtures: users, JWT clients, real PostgreSQL/Redis gating, a real Celery worker."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.plugin import SCOPE_ID

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
HAS_POSTGRES = settings.IS_POSTGRES
HAS_REDIS = bool(settings.REDIS_URL)

MISSING_SERVICE = {
    "postgres": None
    if HAS_POSTGRES
    else "needs PostgreSQL: set DATABASE_URL=postgres://... (or run a local server on :5432)",
    "redis": None
    if HAS_REDIS
    else "needs Redis: set REDIS_URL=redis://... (or run a local server on :6379)",
}


def require_service(name: str) -> None:
    """Skip without the service; under CI=true that skip is a failure instead."""
    reason = MISSING_SERVICE[name]
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: a test skipped for a missing service fails the run)")
        pytest.skip(reason)


# Fixtures that start something once per module (a server, a schema, a migrated database) or
# once per session (a browser): with `-n`, their tests stay on one worker (`--dist loadgroup`)
# instead of each worker paying for its own copy.
ONE_WORKER_FIXTURES = {
    "proxied": "module",  # nginx in front of gunicorn (test_reverse_proxy)
    "base": "module",  # gunicorn on the test database (test_request_body)
    "schema": "module",  # the OpenAPI schema
    "migrated_sqlite": "module",
    "server_with_pg_stat_statements": "module",  # a private PostgreSQL cluster
    "browser_session": "browser",  # Chromium (tests/browser.py)
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in ONE_WORKER_FIXTURES.keys() & set(getattr(item, "fixturenames", ())):
            scope = ONE_WORKER_FIXTURES[fixture]
            module = getattr(item, "module", None)
            group = module.__name__ if scope == "module" and module else scope
            item.add_marker(pytest.mark.xdist_group(group))
            break


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in MISSING_SERVICE:
        if item.get_closest_marker(marker):
            require_service(marker)


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    """This run's (and xdist worker's) own PostgreSQL test database: runs share the server."""
    for alias, db in settings.DATABASES.items():
        if db["ENGINE"] == "django.db.backends.postgresql":
            db.setdefault("TEST", {})["NAME"] = f"test_beo_{SCOPE_ID}"
            # Django's backend with a cheap flush (tests/db_backend); a connection object made
            # before this point is dropped so the next use builds one of the new class.
            db["ENGINE"] = "tests.db_backend"
            with contextlib.suppress(AttributeError):
                del connections[alias]
        elif db["ENGINE"] == "django.db.backends.sqlite3":
            # Still in memory, but named per worker: what is keyed by the database's name
            # (the maintenance lock files) is then the worker's own.
            db.setdefault("TEST", {})["NAME"] = f"file:test_beo_{SCOPE_ID}?mode=memory&cache=shared"


@pytest.fixture(scope="session", autouse=True)
def collected_static() -> None:
    """Production serves hashed static files from a manifest: build it as a deploy would."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


# The production hasher (Django's PBKDF2) is slow by design (docs/testing.md), and most tests
# create users: they hash with MD5. A test about the real hasher, or one
# whose users log in to a child process (which runs the production settings), is marked
# `production_hasher`.
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def password_hasher(request: pytest.FixtureRequest, settings: Any) -> None:
    if not request.node.get_closest_marker("production_hasher"):
        settings.PASSWORD_HASHERS = FAST_PASSWORD_HASHERS


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings: Any) -> None:
    """Each test starts with a full rate-limit budget: every API test calls from 127.0.0.1, and
    the counters (in the shared cache) would otherwise carry over from test to test."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"


@pytest.fixture(autouse=True)
def fresh_user_rows() -> None:
    """A user row or token cached by one test's API call must not answer in another test."""
    from beo_automation.jwt_caches import user_rows, verified_tokens

    user_rows.clear()
    verified_tokens.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def password() -> str:
    return "correct horse battery staple 42"


@pytest.fixture
def user(django_user_model: Any, password: str) -> Any:
    return django_user_model.objects.create_user(username="alice", password=password)


@pytest.fixture
def other_user(django_user_model: Any, password: str) -> Any:
    return django_user_model.objects.create_user(username="bob", password=password)


@pytest.fixture
def staff_user(django_user_model: Any, password: str) -> Any:
    return django_user_model.objects.create_user(
        username="stella", password=password, is_staff=True
    )


@pytest.fixture
def superuser(django_user_model: Any, password: str) -> Any:
    return django_user_model.objects.create_superuser(username="root", password=password)


def bearer(user: Any) -> str:
    return f"Bearer {AccessToken.for_user(user)}"


@pytest.fixture
def auth_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return client


@pytest.fixture
def staff_client(staff_user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(staff_user))
    return client


@pytest.fixture
def celery_worker(transactional_db: None) -> Iterator[Any]:
    """A real Celery worker (thread, solo pool) consuming this run's queue on the real Redis."""
    require_service("redis")
    from celery.contrib.testing.worker import start_worker
    from django.db import connections

    from beo_automation.celery import app

    # The solo pool sends worker_process_init in this thread, and Celery's Django fix-up then
    # closes the *file descriptor* of every open connection of this thread without telling
    # psycopg: the pool later hands that dead connection to the worker, whose query waits on a
    # reused fd forever. Return this thread's connections properly first.
    connections.close_all()
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        shutdown_timeout=30,
        loglevel="WARNING",
    ) as worker:
        yield worker


# A real headless Chromium for the admin and the docs (tests/browser.py).
from tests.browser import browser, browser_session, live_site  # noqa: E402, F401
