"""Settings from the environment: the secret key guard, .env precedence, production hardening."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from django.conf import settings

from beo_automation.secret_key import secret_key_problem
from tests.subprocess_env import manage, python, settings_in_child

SETUP = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
GOOD_KEY = secrets.token_urlsafe(48)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "SECRET_KEY is not set"),
        ("", "SECRET_KEY is not set"),
        ("too-short-but-random-9f8e7d", "too short"),
        ("changeme", "known insecure"),
        ("django-insecure-" + "x" * 60, "known insecure"),
        ("a" * 64, "not random enough"),
    ],
)
def test_production_refuses_to_start_on_an_insecure_secret_key(key, reason):
    result = python(SETUP, DEBUG="false", SECRET_KEY=key, ENV_FILE="/dev/null")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert reason in result.stderr
    assert "generate_secret_key" in result.stderr


def test_production_starts_with_a_strong_secret_key():
    result = python(SETUP, DEBUG="false", SECRET_KEY=GOOD_KEY, ENV_FILE="/dev/null")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_debug_defaults_to_false():
    result = python(SETUP, DEBUG=None, SECRET_KEY=GOOD_KEY, ENV_FILE="/dev/null")
    assert result.stdout.strip() == "False"


def test_debug_mode_starts_without_a_secret_key():
    result = python(SETUP, DEBUG="true", SECRET_KEY=None, ENV_FILE="/dev/null")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_the_real_environment_wins_over_dot_env(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"TIME_ZONE=Europe/Paris\nLOG_LEVEL=debug\nSECRET_KEY={GOOD_KEY}\n")
    values = settings_in_child(
        "s.TIME_ZONE",
        "s.LOG_LEVEL",
        "s.SECRET_KEY",
        ENV_FILE=str(env_file),
        TIME_ZONE="America/New_York",
        LOG_LEVEL=None,
        SECRET_KEY=None,
        DEBUG="false",
    )
    assert values == [
        "America/New_York",  # the real environment wins
        "debug",  # .env fills what the environment leaves unset
        GOOD_KEY,
    ]


def test_secret_key_problem_accepts_a_generated_key():
    assert secret_key_problem(GOOD_KEY) is None


PRODUCTION_ENV: dict[str, Any] = {
    "DEBUG": "false",
    "SECRET_KEY": GOOD_KEY,
    "ALLOWED_HOSTS": "beo.example.com",
    "ENV_FILE": "/dev/null",
    "SECURE_SSL_REDIRECT": None,  # unset: production default (on)
}


def test_check_deploy_reports_nothing_with_the_documented_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_defaults_harden_https_cookies_and_headers():
    values = settings_in_child(
        "s.SECURE_SSL_REDIRECT",
        "s.SECURE_HSTS_SECONDS",
        "s.SESSION_COOKIE_SECURE",
        "s.CSRF_COOKIE_SECURE",
        "s.SECURE_CONTENT_TYPE_NOSNIFF",
        "s.SECURE_REFERRER_POLICY",
        "s.X_FRAME_OPTIONS",
        **PRODUCTION_ENV,
    )
    assert values == [True, 31_536_000, True, True, True, "same-origin", "DENY"]


def test_the_https_redirect_can_be_turned_off_for_a_tls_proxy():
    env = {**PRODUCTION_ENV, "SECURE_SSL_REDIRECT": "false"}
    assert settings_in_child("s.SECURE_SSL_REDIRECT", **env) == [False]


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https_except_health_probes(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/admin/login/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert client.get("/api/health/live/").status_code == 200


@pytest.mark.django_db
def test_security_headers_are_set(client):
    response = client.get("/api/health/live/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.postgres
def test_postgres_uses_the_guide_connection_pool():
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["pool"]["max_size"] == 20
    assert options["pool"]["max_idle"] == 30
    assert options["pool"]["timeout"] == 2
    assert options["connect_timeout"] == 2
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 0


@pytest.mark.postgres
def test_pool_limits_come_from_the_environment():
    values = settings_in_child(
        "s.DATABASES['default']['OPTIONS']['pool']['max_size']",
        "s.DATABASES['default']['OPTIONS']['pool']['max_idle']",
        "s.DATABASES['default']['OPTIONS']['connect_timeout']",
        DB_POOL_MAX="7",
        DB_POOL_IDLE_TIMEOUT="12",
        DB_CONNECT_TIMEOUT="5",
    )
    assert values == [7, 12, 5]


def test_without_redis_the_cache_is_local_and_tasks_run_in_process():
    values = settings_in_child(
        "s.CACHES['default']['BACKEND']", "s.CELERY_TASK_ALWAYS_EAGER", REDIS_URL=None
    )
    assert values == ["django.core.cache.backends.locmem.LocMemCache", True]


def test_with_redis_the_cache_and_broker_use_it():
    values = settings_in_child(
        "s.CACHES['default']['BACKEND']",
        "s.CELERY_BROKER_URL",
        "s.CELERY_TASK_ALWAYS_EAGER",
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert values == [
        "beo_automation.cache_backend.RedisCache",
        "redis://127.0.0.1:6379/3",
        False,
    ]


def test_celery_is_json_only_with_late_acks_and_prefetch_one():
    from beo_automation.celery import app

    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_time_limit > app.conf.task_soft_time_limit > 0
