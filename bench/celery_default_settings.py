"""Django settings of bench/celery_default.py: one database, one app, everything else
Django's defaults (LOGGING included)."""

from __future__ import annotations

import os

import environ

SECRET_KEY = "bench-celery-default"  # noqa: S105 - no sessions, no signing: never used
INSTALLED_APPS = ["bench"]
# Django's defaults (CONN_MAX_AGE 0). Celery's Django fix-up closes the connection before and
# after every task whatever CONN_MAX_AGE says (worker_db_reuse_max unset): each task that
# touches the database opens a new connection.
DATABASES = {"default": environ.Env.db_url_config(os.environ["BENCH_DATABASE_URL"])}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
