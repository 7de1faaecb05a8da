"""beo-automation settings: one module, every value from the environment with a documented default.

`.env` in the project root is read when present, but a variable set in the real environment
always wins. The README's configuration table lists every variable read here.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from beo_automation.logs import build_logging_config, configure_structlog, parse_level
from beo_automation.schedule import ScheduledJob, build_beat_schedule
from beo_automation.secret_key import secret_key_problem

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# overwrite=False: the real environment wins over .env.
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

# --- Core -------------------------------------------------------------------------------------

# `make run` exports DEBUG=true; everything else (gunicorn, celery, manage.py) defaults to false.
DEBUG = env.bool("DEBUG", default=False)
ENVIRONMENT = env.str("ENVIRONMENT", default="development" if DEBUG else "production")
SERVICE_NAME = "beo-automation"

SECRET_KEY = env.str("SECRET_KEY", default="")
if not DEBUG and (problem := secret_key_problem(SECRET_KEY)):
    raise ImproperlyConfigured(
        f"{problem}. Refusing to start with DEBUG=false: set SECRET_KEY in the environment to "
        "a random value of at least 50 characters "
        "(`python manage.py generate_secret_key` prints one)."
    )
if not SECRET_KEY:
    # DEBUG only: sessions do not survive a restart, which is fine for a throwaway run.
    SECRET_KEY = "django-insecure-" + os.urandom(32).hex()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "django_structlog",
    "beo_automation.apps.CoreConfig",
    "events",
    "alerts",
    "maintenance",
]

MIDDLEWARE = [
    # First, so every later line (and the response) carries the request id.
    "beo_automation.middleware.RequestIdMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "beo_automation.middleware.ApiBodySizeLimitMiddleware",
    "beo_automation.middleware.ApiExceptionMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "beo_automation.urls"
WSGI_APPLICATION = "beo_automation.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "beo_automation.context_processors.environment",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# In development whitenoise serves straight from the finders; no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG

# --- Database ---------------------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DB_ENGINE = DATABASES["default"]["ENGINE"]
IS_POSTGRES = DB_ENGINE == "django.db.backends.postgresql"

# The operations guide's pool: at most 20 connections, idle ones closed after 30 s,
# and a connection attempt fails after 2 s instead of hanging a request.
DB_POOL_MAX = env.int("DB_POOL_MAX", default=20)
DB_POOL_MIN = env.int("DB_POOL_MIN", default=1)
DB_POOL_IDLE_TIMEOUT = env.int("DB_POOL_IDLE_TIMEOUT", default=30)
DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", default=2)

if IS_POSTGRES:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # required by Django's pool; the pool keeps them
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "connect_timeout": DB_CONNECT_TIMEOUT,
        "application_name": env.str("DB_APPLICATION_NAME", default=SERVICE_NAME),
        "pool": {
            "min_size": min(DB_POOL_MIN, DB_POOL_MAX),
            "max_size": DB_POOL_MAX,
            "max_idle": DB_POOL_IDLE_TIMEOUT,
            "timeout": DB_CONNECT_TIMEOUT,
        },
    }
elif DB_ENGINE == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web process and the scheduler read while the other writes;
        # IMMEDIATE avoids "database is locked" on lock upgrades inside transactions.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

# --- Redis: cache, Celery broker, rate limits -------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="beo")
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=2.0)

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "beo-automation",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

# --- Celery -----------------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
# Without Redis, tasks run in-process (enqueued on commit, executed eagerly).
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, so a worker killed mid-task does not lose it...
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# ...and a worker holds only the message it is working on.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="beo")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Unacknowledged messages return to the queue after this long (longest task + margin).
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    "global_keyprefix": env.str("CELERY_KEY_PREFIX", default=""),
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = env.str(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(BASE_DIR / "celerybeat-schedule")
)

# The beat table. Each entry: SCHEDULE_<NAME>="<cron>" overrides, SCHEDULE_<NAME>=disable removes.
SCHEDULED_JOBS: list[ScheduledJob] = [
    ScheduledJob(
        name="events_sweep",
        task="events.sweep_events",
        cron="* * * * *",
        expires=55,
        description="Re-enqueue pending events whose message was lost; reclaim stuck ones.",
    ),
]
CELERY_BEAT_SCHEDULE = build_beat_schedule(SCHEDULED_JOBS, os.environ)

# --- API --------------------------------------------------------------------------------------

API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "beo_automation.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_TOKEN_LIFETIME", default=900)),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        seconds=env.int("JWT_REFRESH_TOKEN_LIFETIME", default=86400)
    ),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "beo-automation API",
    "DESCRIPTION": "Submit banquet/event-order events and follow them to a final state.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Events -----------------------------------------------------------------------------------

EVENT_PAYLOAD_MAX_BYTES = env.int("EVENT_PAYLOAD_MAX_BYTES", default=64 * 1024)
EVENT_MAX_ATTEMPTS = env.int("EVENT_MAX_ATTEMPTS", default=5)
# The sweeper re-enqueues pending events untouched this long (their message was lost)...
EVENT_REQUEUE_AFTER = env.int("EVENT_REQUEUE_AFTER", default=60)
# ...and returns processing events without progress this long (their worker died) to pending.
EVENT_PROCESSING_TIMEOUT = env.int("EVENT_PROCESSING_TIMEOUT", default=300)
EVENT_IDEMPOTENCY_TTL = env.int("EVENT_IDEMPOTENCY_TTL", default=24 * 3600)
# Failed attempts are retried after ~BASE·2^(attempt-1) seconds (±50 % jitter), at most MAX.
EVENT_RETRY_BACKOFF_BASE = env.float("EVENT_RETRY_BACKOFF_BASE", default=2.0)
EVENT_RETRY_BACKOFF_MAX = env.float("EVENT_RETRY_BACKOFF_MAX", default=300.0)
# A worker claims this many events per query and keeps draining for at most this long.
EVENT_CLAIM_BATCH_SIZE = env.int("EVENT_CLAIM_BATCH_SIZE", default=50)
EVENT_WORKER_TIME_BUDGET = env.float("EVENT_WORKER_TIME_BUDGET", default=30.0)

# --- Health -----------------------------------------------------------------------------------

HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=2.0)
HEALTH_MEMORY_WARN_PCT = env.float("HEALTH_MEMORY_WARN_PCT", default=90.0)
HEALTH_DISK_WARN_PCT = env.float("HEALTH_DISK_WARN_PCT", default=85.0)
# The disk check looks at the directories the app writes to.
HEALTH_DISK_PATHS = env.list("HEALTH_DISK_PATHS", default=[str(BASE_DIR)])

# --- Security (production hardening whenever DEBUG is off) -------------------------------------

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes inside the cluster speak plain HTTP to the pod; never redirect them.
SECURE_REDIRECT_EXEMPT = [r"^api/health/"]
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    # Only behind a TLS-terminating proxy that always sets this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Logging ----------------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="info")
try:
    _log_level = parse_level(LOG_LEVEL)
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from exc
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
if LOG_FORMAT not in {"json", "console"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be 'json' or 'console'")
# LOG_DIR="" turns the files off (stdout only, e.g. on a platform that collects stdout).
_log_dir = env.str("LOG_DIR", default=str(BASE_DIR / "logs"))
LOG_DIR = Path(_log_dir) if _log_dir else None
LOG_DEBUG_SQL = _log_level <= 10

configure_structlog(service=SERVICE_NAME, environment=ENVIRONMENT)
LOGGING = build_logging_config(
    level=_log_level,
    log_dir=LOG_DIR,
    console_format=LOG_FORMAT,
    service=SERVICE_NAME,
    environment=ENVIRONMENT,
    max_bytes=env.int("LOG_FILE_MAX_BYTES", default=10 * 1024 * 1024),
    backup_count=env.int("LOG_FILE_BACKUPS", default=5),
)

DJANGO_STRUCTLOG_CELERY_ENABLED = True
# Our RequestIdMiddleware validates X-Request-ID before django-structlog reads it.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = True
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = 10  # request_started: debug
# The access line (method, path, status, duration_ms, user_id) is at `http` for every status;
# failures are logged separately, with their stack, at error.
DJANGO_STRUCTLOG_STATUS_2XX_LOG_LEVEL = 15
DJANGO_STRUCTLOG_STATUS_4XX_LOG_LEVEL = 15
DJANGO_STRUCTLOG_STATUS_5XX_LOG_LEVEL = 15
DJANGO_STRUCTLOG_STATUS_DEFAULT_LOG_LEVEL = 15
