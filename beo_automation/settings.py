"""beo-automation settings: one module, every value from the environment with a documented default.

`.env` in the project root is read when present, but a variable set in the real environment
always wins. The README's configuration table lists every variable read here.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from beo_automation import schedule, wiring
from beo_automation.logs import build_logging_config, configure_structlog, parse_level
from beo_automation.ratelimit_config import parse_networks, parse_rate
from beo_automation.schedule import HOUSEKEEPING_TASKS, build_beat_schedule
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

# The fixed wiring (order and reasons in beo_automation/wiring.py).
INSTALLED_APPS = wiring.INSTALLED_APPS
MIDDLEWARE = wiring.MIDDLEWARE
TEMPLATES = wiring.TEMPLATES

ROOT_URLCONF = "beo_automation.urls"
WSGI_APPLICATION = "beo_automation.wsgi.application"

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
STORAGES: dict[str, dict[str, Any]] = wiring.storages(debug=DEBUG)
# In development whitenoise serves straight from the finders; no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG

# --- Database ---------------------------------------------------------------------------------

# The operations guide's pool: at most 20 connections, idle ones closed after 30 s,
# and a connection attempt fails after 2 s instead of hanging a request.
DB_POOL_MAX = env.int("DB_POOL_MAX", default=20)
DB_POOL_MIN = env.int("DB_POOL_MIN", default=1)
DB_POOL_IDLE_TIMEOUT = env.int("DB_POOL_IDLE_TIMEOUT", default=30)
DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", default=2)
DATABASES = {
    "default": wiring.database_options(
        env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        connect_timeout=DB_CONNECT_TIMEOUT,
        application_name=env.str("DB_APPLICATION_NAME", default=SERVICE_NAME),
        pool_min=DB_POOL_MIN,
        pool_max=DB_POOL_MAX,
        pool_idle_timeout=DB_POOL_IDLE_TIMEOUT,
    )
}
DB_ENGINE = DATABASES["default"]["ENGINE"]
IS_POSTGRES = DB_ENGINE == "django.db.backends.postgresql"


# --- Redis: cache, Celery broker, rate limits -------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="beo")
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=2.0)

# django-redis (beo_automation/cache_backend.py) with REDIS_URL; local memory without.
CACHES = {
    "default": wiring.cache_settings(
        redis_url=REDIS_URL, key_prefix=CACHE_KEY_PREFIX, socket_timeout=REDIS_SOCKET_TIMEOUT
    )
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
    # Faults: a Redis that accepts connections but never answers must not hang a request's
    # doorbell (the worker's gunicorn timeout would kill it): give up, the sweeper re-rings.
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
    "global_keyprefix": env.str("CELERY_KEY_PREFIX", default=""),
}
# The minutely beat jobs have their own queue (beo_automation/schedule.py HOUSEKEEPING_TASKS).
HOUSEKEEPING_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}.housekeeping"
CELERY_TASK_QUEUES = (
    Queue(CELERY_TASK_DEFAULT_QUEUE, routing_key=CELERY_TASK_DEFAULT_QUEUE),
    Queue(HOUSEKEEPING_QUEUE, routing_key=HOUSEKEEPING_QUEUE),
)
CELERY_TASK_ROUTES = {task: {"queue": HOUSEKEEPING_QUEUE} for task in HOUSEKEEPING_TASKS}

CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = env.str(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(BASE_DIR / "celerybeat-schedule")
)

# The beat table lives in beo_automation/schedule.py; SCHEDULE_<NAME>="<cron>" overrides an
# entry, SCHEDULE_<NAME>=disable removes it.
SCHEDULED_JOBS = schedule.JOBS
CELERY_BEAT_SCHEDULE = build_beat_schedule(SCHEDULED_JOBS, os.environ)
# Beat's scheduler records its own heartbeat (a database row) from its tick: `celery beat` in
# every Procfile and make target uses it without a -S option (docs/operations.md#liveness).
CELERY_BEAT_SCHEDULER = "beo_automation.liveness:HeartbeatScheduler"

# --- Liveness: beat's heartbeat, the workers' ping, the outside monitor ------------------------
# Beat writes its heartbeat at most this often (seconds)...
BEAT_HEARTBEAT_INTERVAL = env.float("BEAT_HEARTBEAT_INTERVAL", default=15.0)
# ...and is reported dead (health, overview, the "Beat Not Running" alert) once it is this old.
BEAT_HEARTBEAT_MAX_AGE = env.int("BEAT_HEARTBEAT_MAX_AGE", default=180)
# A Celery control ping waits this long for the workers' answers (seconds)...
WORKERS_PING_TIMEOUT = env.float("WORKERS_PING_TIMEOUT", default=1.0)
# ...and its answer is shared (cache) this long by the overview, health and the evaluation.
WORKERS_PING_CACHE_SECONDS = env.int("WORKERS_PING_CACHE_SECONDS", default=30)
# An outside monitor (healthchecks.io style): after each run of a scheduled job, GET this URL
# ({job}: the job's name in the beat table) on success, <url>/fail on failure. Empty: off.
# JOB_PING_URL_<NAME> sets one job's URL (or `disable`s it).
JOB_PING_URL = env.str("JOB_PING_URL", default="")
JOB_PING_URLS = schedule.job_ping_urls(SCHEDULED_JOBS, os.environ, template=JOB_PING_URL)
JOB_PING_TIMEOUT = env.float("JOB_PING_TIMEOUT", default=5.0)

# --- API --------------------------------------------------------------------------------------
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REST_FRAMEWORK = wiring.REST_FRAMEWORK
SPECTACULAR_SETTINGS = wiring.SPECTACULAR_SETTINGS

SIMPLE_JWT = wiring.simple_jwt(
    access_seconds=env.int("JWT_ACCESS_TOKEN_LIFETIME", default=900),
    refresh_seconds=env.int("JWT_REFRESH_TOKEN_LIFETIME", default=86400),
    signing_key=env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY,
)

# Seconds a process reuses a token's user row: a deactivation reaches other processes within it.
JWT_USER_CACHE_SECONDS = env.float("JWT_USER_CACHE_SECONDS", default=5.0)
if JWT_USER_CACHE_SECONDS < 0:
    raise ImproperlyConfigured("JWT_USER_CACHE_SECONDS must be 0 (no cache) or more seconds.")

# --- API: hostile input (docs/api-errors.md) ---------------------------------------------------
# A failed CSRF check under /api/ answers the JSON envelope, not Django's HTML page.
CSRF_FAILURE_VIEW = "beo_automation.errors.csrf_failure"

# --- API: rate limits, client addresses, list cache -----------------------------------------
# Requests are counted per client IP in the default cache (beo_automation.ratelimit): Redis when
# REDIS_URL is set, so every gunicorn worker and host shares one counter. Off only for benchmarks.
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
try:
    # Every /api/ request except health, schema and docs; and, tighter, the token endpoints.
    RATELIMIT_API = parse_rate("RATELIMIT_API", env.str("RATELIMIT_API", default="100/m"))
    RATELIMIT_LOGIN = parse_rate("RATELIMIT_LOGIN", env.str("RATELIMIT_LOGIN", default="10/m"))
    # Proxies (IPs or CIDR ranges) whose X-Forwarded-For is believed. Empty: the client is the
    # direct peer, and a client-supplied X-Forwarded-For cannot dodge the limit.
    TRUSTED_PROXIES = parse_networks("TRUSTED_PROXIES", env.list("TRUSTED_PROXIES", default=[]))
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from exc
# The counters' keys in the default cache start with this (beo_automation.ratelimit).
RATELIMIT_CACHE_PREFIX = "rl:"

# Seconds a user's cached list page lives; a write to their events makes it unreachable at
# once (events.list_cache versions), so this only bounds memory. 0 turns list caching off.
EVENT_LIST_CACHE_TTL = env.int("EVENT_LIST_CACHE_TTL", default=30)

# --- Events -----------------------------------------------------------------------------------
EVENT_PAYLOAD_MAX_BYTES = env.int("EVENT_PAYLOAD_MAX_BYTES", default=64 * 1024)
EVENT_MAX_ATTEMPTS = env.int("EVENT_MAX_ATTEMPTS", default=5)

# --- Audit trail (docs/operations.md#audit-trail) ---------------------------------------------

# Audit records older than this many days are purged by the nightly audit_purge job.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
# The request id (beo_automation.middleware) is the audit records' correlation id.
AUDITLOG_CID_HEADER = "X-Request-ID"
AUDITLOG_STORE_JSON_CHANGES = True
# Model history by auditlog's signals. Event is not here: its rows are written by hand-composed
# INSERT/COPY (events.E001/E002); its changes are recorded explicitly (maintenance.services.audit).
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    "alerts.Alert",
    "alerts.Incident",
    "alerts.Silence",
    "alerts.NotificationChannel",
    "events.Subscription",
    {"model": "auth.User", "mask_fields": ["password"]},
)
# The sweeper re-enqueues pending events untouched this long (their message was lost)...
EVENT_REQUEUE_AFTER = env.int("EVENT_REQUEUE_AFTER", default=60)
# ...and returns processing events without progress this long (their worker died) to pending.
EVENT_PROCESSING_TIMEOUT = env.int("EVENT_PROCESSING_TIMEOUT", default=300)
EVENT_IDEMPOTENCY_TTL = env.int("EVENT_IDEMPOTENCY_TTL", default=24 * 3600)
# Failed attempts are retried after ~BASE·2^(attempt-1) seconds (±50 % jitter), at most MAX.
EVENT_RETRY_BACKOFF_BASE = env.float("EVENT_RETRY_BACKOFF_BASE", default=2.0)
EVENT_RETRY_BACKOFF_MAX = env.float("EVENT_RETRY_BACKOFF_MAX", default=300.0)
# A worker claims at most this many events per query (fewer when they are slow: a batch aims
# at about a second of work) and keeps draining for at most this long per doorbell.
EVENT_CLAIM_BATCH_SIZE = env.int("EVENT_CLAIM_BATCH_SIZE", default=200)
EVENT_WORKER_TIME_BUDGET = env.float("EVENT_WORKER_TIME_BUDGET", default=30.0)
# Faults: a doorbell lost after its flag was set delays events by at most this long: a ring
# that finds one waiting arms one delayed doorbell per period (events/doorbell.py).
EVENT_DOORBELL_BACKSTOP = env.int("EVENT_DOORBELL_BACKSTOP", default=2)
if EVENT_DOORBELL_BACKSTOP < 1:
    raise ImproperlyConfigured("EVENT_DOORBELL_BACKSTOP must be at least 1 second.")

# --- Pipeline: webhooks and worker connections --------------------------------------------------
# Seconds a webhook delivery may wait to connect, then between bytes; slower fails the attempt.
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
# Subscriptions may only reach public addresses (checked when saved and on each connection);
# true allows loopback/private/link-local targets (docs/operations.md).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
# Celery's Django fix-up would close the connection pool around every task; with this many
# (effectively never) it keeps its hands off (beo_automation/celery.py). 0 = Celery's own.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1_000_000_000)

# --- Health -----------------------------------------------------------------------------------
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=2.0)
# gunicorn's probe lane (beo_automation/probe_lane.py); gunicorn_conf.py binds it.
HEALTH_PORT = env.int("HEALTH_PORT", default=None)
HEALTH_MEMORY_WARN_PCT = env.float("HEALTH_MEMORY_WARN_PCT", default=90.0)
HEALTH_DISK_WARN_PCT = env.float("HEALTH_DISK_WARN_PCT", default=85.0)
# The disk check looks at the directories the app writes to.
HEALTH_DISK_PATHS = env.list("HEALTH_DISK_PATHS", default=[str(BASE_DIR)])

# --- Alerts and incidents ---------------------------------------------------------------------
# Thresholds: the operations guide's "Key Metrics to Monitor" table.
ALERT_RESPONSE_TIME_MS = env.float("ALERT_RESPONSE_TIME_MS", default=1000.0)
ALERT_ERROR_RATE = env.float("ALERT_ERROR_RATE", default=0.01)  # medium above this share of 5xx
ALERT_ERROR_RATE_HIGH = env.float("ALERT_ERROR_RATE_HIGH", default=0.05)  # high above this
ALERT_DB_CONNECTIONS_PCT = env.float("ALERT_DB_CONNECTIONS_PCT", default=80.0)
ALERT_MEMORY_PCT = env.float("ALERT_MEMORY_PCT", default=85.0)
ALERT_EVENT_QUEUE = env.int("ALERT_EVENT_QUEUE", default=1000)
ALERT_CPU_PCT = env.float("ALERT_CPU_PCT", default=80.0)
ALERT_DISK_PCT = env.float("ALERT_DISK_PCT", default=85.0)
# Response time and error rate are measured over this rolling window of per-minute buckets...
ALERT_WINDOW_MINUTES = env.int("ALERT_WINDOW_MINUTES", default=5)
# ...and judged only with at least this many requests in it.
ALERT_MIN_REQUESTS = env.int("ALERT_MIN_REQUESTS", default=20)
# "No worker has taken an event for this long while events are waiting" → high.
ALERT_WORKER_STALL_SECONDS = env.int("ALERT_WORKER_STALL_SECONDS", default=300)
ALERT_CPU_SAMPLE_SECONDS = env.float("ALERT_CPU_SAMPLE_SECONDS", default=1.0)
# Empty: the project directory, MEDIA_ROOT, LOG_DIR and BACKUP_DIR (one entry per disk).
ALERT_DISK_PATHS = env.list("ALERT_DISK_PATHS", default=[])
# Processes sharing the database, each with a pool of up to DB_POOL_MAX connections.
ALERT_DB_POOL_PROCESSES = env.int(
    "ALERT_DB_POOL_PROCESSES",
    default=env.int("WEB_CONCURRENCY", default=2) + env.int("CELERY_CONCURRENCY", default=2) + 2,
)
# Apprise URLs separated by spaces or commas (secrets: environment only).
ALERT_NOTIFY_URLS = env.str("ALERT_NOTIFY_URLS", default="")
# Critical alerts always notify; this lowers the bar (low, medium, high, critical).
ALERT_NOTIFY_MIN_SEVERITY = env.str("ALERT_NOTIFY_MIN_SEVERITY", default="high").strip().lower()
if ALERT_NOTIFY_MIN_SEVERITY not in {"low", "medium", "high", "critical"}:
    raise ImproperlyConfigured(
        f"ALERT_NOTIFY_MIN_SEVERITY={ALERT_NOTIFY_MIN_SEVERITY!r} must be one of: "
        "low, medium, high, critical"
    )
ALERT_REPEAT_INTERVAL = env.int("ALERT_REPEAT_INTERVAL", default=4 * 3600)
ALERT_NOTIFY_MAX_ATTEMPTS = env.int("ALERT_NOTIFY_MAX_ATTEMPTS", default=5)
ALERT_NOTIFY_RETRY_BACKOFF = env.float("ALERT_NOTIFY_RETRY_BACKOFF", default=30.0)
ALERT_NOTIFY_RETRY_BACKOFF_MAX = env.float("ALERT_NOTIFY_RETRY_BACKOFF_MAX", default=900.0)
# A channel whose last N attempts all failed is reported failing (admin, health).
ALERT_CHANNEL_FAILING_AFTER = env.int("ALERT_CHANNEL_FAILING_AFTER", default=3)
# Links in notifications point at the admin under this address (e.g. https://beo.example.com).
ALERT_LINK_BASE_URL = env.str("ALERT_LINK_BASE_URL", default="").rstrip("/")
ALERT_EVALUATION_RETENTION_DAYS = env.int("ALERT_EVALUATION_RETENTION_DAYS", default=7)
# Freshness (alerts on what did not happen): a backup, a verify, more failed events than this.
BACKUP_MAX_AGE_HOURS = env.float("BACKUP_MAX_AGE_HOURS", default=26.0)
# The weekly verify_backup, plus the same two hours of slack as the daily backup.
BACKUP_VERIFY_MAX_AGE_HOURS = env.float("BACKUP_VERIFY_MAX_AGE_HOURS", default=7 * 24 + 2.0)
ALERT_DEAD_LETTER_EVENTS = env.int("ALERT_DEAD_LETTER_EVENTS", default=0)
# GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>` when set.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Monitoring traffic is left out of the alerting window (a 503 health probe is not a user error).
METRICS_EXCLUDE_PATHS = env.list("METRICS_EXCLUDE_PATHS", default=["/metrics", "/api/health/"])
# Redis keys of the request metrics and alert bookkeeping (under this run's cache prefix).
ALERTS_KEY_PREFIX = f"{CACHE_KEY_PREFIX}:alerts"

# --- Maintenance: backups, archival, run records ------------------------------------------------
# Local backups (.sql.gz or .sqlite3.gz, .sha256, manifest), written owner-only.
BACKUP_DIR = env.path("BACKUP_DIR", default=BASE_DIR / "backups")
# Backups older than this are deleted, locally and off-site; the newest stays. 0 keeps all.
BACKUP_RETENTION_DAYS = env.int("BACKUP_RETENTION_DAYS", default=30)
# gzip level of the dump: gzip's default (6) is the bottleneck of `pg_dump | gzip`
# (bench/backup.py, docs/performance.md).
BACKUP_COMPRESSION_LEVEL = env.int("BACKUP_COMPRESSION_LEVEL", default=1)
if not 1 <= BACKUP_COMPRESSION_LEVEL <= 9:
    raise ImproperlyConfigured(
        f"BACKUP_COMPRESSION_LEVEL={BACKUP_COMPRESSION_LEVEL} must be between 1 and 9"
    )
# restore_db and verify_backup run psql as this role; a dump is SQL, so restores refuse a role
# whose SQL can run programs or touch server files (docs/operations.md). Empty: DATABASE_URL's.
RESTORE_DATABASE_USER = env.str("RESTORE_DATABASE_USER", default="")
RESTORE_DATABASE_PASSWORD = env.str("RESTORE_DATABASE_PASSWORD", default="")
# Off-site copies (STORAGES["backups"], wiring.backup_storage): an S3 bucket or a directory.
BACKUP_S3_BUCKET = env.str("BACKUP_S3_BUCKET", default="")
BACKUP_S3_PREFIX = env.str("BACKUP_S3_PREFIX", default="backups")
BACKUP_S3_ENDPOINT_URL = env.str("BACKUP_S3_ENDPOINT_URL", default="")
BACKUP_S3_REGION = env.str("BACKUP_S3_REGION", default="")
BACKUP_STORAGE_DIR = env.str("BACKUP_STORAGE_DIR", default="")
if BACKUP_S3_BUCKET and BACKUP_STORAGE_DIR:
    raise ImproperlyConfigured("Set BACKUP_S3_BUCKET or BACKUP_STORAGE_DIR, not both")
if backups := wiring.backup_storage(
    s3_bucket=BACKUP_S3_BUCKET,
    s3_prefix=BACKUP_S3_PREFIX,
    s3_endpoint_url=BACKUP_S3_ENDPOINT_URL,
    s3_region=BACKUP_S3_REGION,
    directory=BACKUP_STORAGE_DIR,
):
    STORAGES["backups"] = backups
# The scheduled archival: completed events older than this many days, in batches of this many
# rows; each batch waits at most ARCHIVE_LOCK_TIMEOUT_MS for a lock (then retries, then stops).
ARCHIVE_AFTER_DAYS = env.int("ARCHIVE_AFTER_DAYS", default=90)
ARCHIVE_BATCH_SIZE = env.int("ARCHIVE_BATCH_SIZE", default=5000)
ARCHIVE_LOCK_TIMEOUT_MS = env.int("ARCHIVE_LOCK_TIMEOUT_MS", default=1000)
# Maintenance run records older than this are pruned daily.
MAINTENANCE_RUN_RETENTION_DAYS = env.int("MAINTENANCE_RUN_RETENTION_DAYS", default=90)
# Maintenance tasks may run this long (longer than CELERY_TASK_SOFT_TIME_LIMIT), killed 5 min later.
MAINTENANCE_TASK_TIME_LIMIT = env.int("MAINTENANCE_TASK_TIME_LIMIT", default=4 * 3600)

# --- Security (production hardening whenever DEBUG is off) -------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes inside the cluster speak plain HTTP to the pod; never redirect them.
SECURE_REDIRECT_EXEMPT = [r"^api/health/", r"^metrics$"]  # Prometheus scrapes in-cluster too
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

# --- Security: login lockout (django-axes; docs/security.md) ------------------------------------
AUTHENTICATION_BACKENDS = wiring.AUTHENTICATION_BACKENDS
AUTH_PASSWORD_VALIDATORS = wiring.AUTH_PASSWORD_VALIDATORS
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15.0))
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME.total_seconds() < 60:
    raise ImproperlyConfigured(
        "AXES_FAILURE_LIMIT must be at least 1 and AXES_COOLOFF_MINUTES at least 1"
    )
# What a lockout applies to: an address that failed too often (whatever usernames it tries),
# and a username (from whatever addresses: a distributed guess), by default.
try:
    AXES_LOCKOUT_PARAMETERS = wiring.lockout_parameters(
        env.list("AXES_LOCKOUT_PARAMETERS", default=["ip_address", "username"])
    )
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from exc
# The client address the rate limiter uses: X-Forwarded-For only from TRUSTED_PROXIES (axes'
# own guess believes any client-supplied header, which would dodge the per-IP lockout).
AXES_CLIENT_IP_CALLABLE = "beo_automation.ratelimit.client_ip"
AXES_LOCKOUT_CALLABLE = "beo_automation.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "beo_automation.lockout.lockout_username"
# A successful login clears that client's failures; each failure is kept (AccessFailureLog).
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_HTTP_RESPONSE_CODE = 429

# --- Security: Content-Security-Policy (django-csp 4; docs/security.md) --------------------------
CONTENT_SECURITY_POLICY = wiring.content_security_policy(
    report_uri=env.str("CSP_REPORT_URI", default="")
)

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
# The client address is bound by RequestIdMiddleware with the rate limiter's client_ip(), which
# believes X-Forwarded-For only from TRUSTED_PROXIES (django-ipware's guess trusts any header).
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = 10  # request_started: debug
# The access line (method, path, status, duration_ms, user_id) is at `http` for every status;
# failures are logged separately, with their stack, at error.
DJANGO_STRUCTLOG_STATUS_2XX_LOG_LEVEL = 15
DJANGO_STRUCTLOG_STATUS_4XX_LOG_LEVEL = 15
DJANGO_STRUCTLOG_STATUS_5XX_LOG_LEVEL = 15
DJANGO_STRUCTLOG_STATUS_DEFAULT_LOG_LEVEL = 15
