"""Django settings of bench/celery_default.py: one database, one app, everything else
Django's defaults (LOGGING included)."""

from __future__ import annotations

import os

import environ

SECRET_KEY = "bench-celery-default"  # noqa: S105 - no sessions, no signing: never used
INSTALLED_APPS = ["bench"]
DATABASES = {"default": environ.Env.db_url_config(os.environ["BENCH_DATABASE_URL"])}
# Persistent connections, as Django's deployment docs advise: with the default (0) Celery's
# fix-up closes the connection after every task and each one-row task opens a new one.
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("BENCH_CONN_MAX_AGE", "600"))
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
