"""Shared fixtures: users, JWT clients, real PostgreSQL/Redis gating, a real Celery worker."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.plugin import RUN_ID

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


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in MISSING_SERVICE:
        if item.get_closest_marker(marker):
            require_service(marker)


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    """This run's own PostgreSQL test database (parallel runs share the server)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    suffix = f"{RUN_ID}_{worker}" if worker else RUN_ID
    for db in settings.DATABASES.values():
        if db["ENGINE"] == "django.db.backends.postgresql":
            db.setdefault("TEST", {})["NAME"] = f"test_beo_{suffix}"


@pytest.fixture(scope="session", autouse=True)
def collected_static() -> None:
    """Production serves hashed static files from a manifest: build it as a deploy would."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


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
