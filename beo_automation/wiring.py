"""The fixed wiring of the project: apps, middleware order, templates, DRF, the API schema,
login backends; and the builders settings.py feeds with what it read from the environment
(database, cache, storages, JWT, Content-Security-Policy, lockout parameters).

Nothing here reads the environment: settings.py is the one place that does, and imports these.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent

INSTALLED_APPS = [
    # django.contrib.admin, its site the operations console's (overview on the index).
    "beo_automation.console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_structlog",
    "axes",  # login lockout (docs/security.md)
    "csp",  # Content-Security-Policy (docs/security.md)
    "auditlog",  # model history and the audit trail (docs/operations.md#audit-trail)
    "beo_automation.apps.CoreConfig",
    "events",
    "alerts",
    "maintenance",
]

MIDDLEWARE = [
    # Outermost: its duration and status (alerts, /metrics) cover the whole chain and the view.
    "beo_automation.metrics.middleware.RequestMetricsMiddleware",
    # First of the rest, so every later line (and the response) carries the request id.
    "beo_automation.middleware.RequestIdMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response, including the envelopes of the middleware below.
    "beo_automation.content_security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the body is read or a token checked: floods are refused at the lowest cost.
    "beo_automation.ratelimit.ApiRateLimitMiddleware",
    # The body problems beo_automation.request_body found (chunked, truncated): before any read.
    "beo_automation.request_body.RequestBodyErrorMiddleware",
    "beo_automation.middleware.ApiBodySizeLimitMiddleware",
    "beo_automation.middleware.ApiExceptionMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's, minus the trailing-slash redirect of unsafe /api/ requests (a 404 envelope).
    "beo_automation.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the session user is known: actor, client IP and request id (cid) for audit records.
    "beo_automation.audit_middleware.AuditlogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # ?status__exact=%00 on an admin page: Django's ?e=1 redirect or a 400, not a 500.
    "beo_automation.middleware.AdminQueryNulMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out admin login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

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

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt with the operations guide's 401 messages (missing header / expired / invalid).
        "beo_automation.authentication.BearerJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's JSONRenderer output, written by orjson where the two agree (beo_automation.renderers).
    "DEFAULT_RENDERER_CLASSES": ["beo_automation.renderers.JSONRenderer"],
    # JSON with a nesting limit (beo_automation.parsers): too deep is a 400, not a RecursionError.
    "DEFAULT_PARSER_CLASSES": ["beo_automation.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "beo_automation.errors.api_exception_handler",
    # Adds the error envelope responses every endpoint can give (401, 413, 429).
    "DEFAULT_SCHEMA_CLASS": "beo_automation.schema.EnvelopeAutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "beo-automation API",
    "DESCRIPTION": "Submit banquet/event-order events and follow them to a final state.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from our own static files (drf-spectacular-sidecar), not a CDN: the docs work
    # offline and the browser loads no third-party script.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Every password check (admin login, API token endpoint) passes django-axes first.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]


# For HTML (admin, Swagger UI); every other response gets default-src 'none'; frame-ancestors
# 'none' (beo_automation.content_security). Violations are reported to CSP_REPORT_URI if set
# (read straight into the policy: a CSP_* setting name is django-csp 3's format).
def content_security_policy(*, report_uri: str) -> dict[str, Any]:
    """django-csp 4's CONTENT_SECURITY_POLICY; violations go to `report_uri` when set."""
    return {
        "DIRECTIVES": {
            "default-src": ["'self'"],
            "script-src": ["'self'"],
            "style-src": ["'self'"],
            # The admin's and Swagger UI's stylesheets draw their icons as data: SVGs.
            "img-src": ["'self'", "data:"],
            "font-src": ["'self'"],
            "connect-src": ["'self'"],
            "object-src": ["'none'"],
            "base-uri": ["'none'"],
            "form-action": ["'self'"],
            "frame-ancestors": ["'none'"],
            "report-uri": report_uri or None,
        }
    }


def storages(*, debug: bool) -> dict[str, dict[str, Any]]:
    """Media on the file system; static files hashed and compressed by whitenoise outside
    DEBUG."""
    return {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
            if debug
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        },
    }


def simple_jwt(*, access_seconds: int, refresh_seconds: int, signing_key: str) -> dict[str, Any]:
    """simplejwt's SIMPLE_JWT with the token lifetimes and key settings.py read."""
    return {
        "ACCESS_TOKEN_LIFETIME": timedelta(seconds=access_seconds),
        "REFRESH_TOKEN_LIFETIME": timedelta(seconds=refresh_seconds),
        "ALGORITHM": "HS256",
        "SIGNING_KEY": signing_key,
        "AUTH_HEADER_TYPES": ("Bearer",),
        "UPDATE_LAST_LOGIN": False,
        # Security (docs/security.md): tokens with claims simplejwt would crash on are refused...
        "AUTH_TOKEN_CLASSES": ("beo_automation.tokens.AccessToken",),
        # ...and every token is bound to the password hash it was issued against, so a password
        # change revokes it. The system check beo_automation.E001 refuses turning these off.
        "CHECK_REVOKE_TOKEN": True,
        "CHECK_USER_IS_ACTIVE": True,
    }


def cache_settings(*, redis_url: str, key_prefix: str, socket_timeout: float) -> dict[str, Any]:
    """CACHES["default"]: Redis when REDIS_URL is set (shared by every process), else local
    memory (the embedded default's single process)."""
    if redis_url:
        return {
            # django-redis plus one combined write for creates (beo_automation/cache_backend.py).
            "BACKEND": "beo_automation.cache_backend.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": key_prefix,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": socket_timeout,
                "SOCKET_TIMEOUT": socket_timeout,
            },
        }
    return {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "beo-automation",
        "KEY_PREFIX": key_prefix,
    }


def database_options(
    database: dict[str, Any],
    *,
    connect_timeout: int,
    application_name: str,
    pool_min: int,
    pool_max: int,
    pool_idle_timeout: int,
) -> dict[str, Any]:
    """DATABASES["default"] from DATABASE_URL's parts plus the pool and engine options."""
    database = dict(database)
    if database["ENGINE"] == "django.db.backends.postgresql":
        database["CONN_MAX_AGE"] = 0  # required by Django's pool; the pool keeps them
        # Faults: with the pool, Django passes psycopg_pool's check_connection as the pool's
        # `check`: a connection the server closed (restart, pg_terminate_backend) is replaced
        # when it is taken from the pool instead of failing the request or task that got it.
        database["CONN_HEALTH_CHECKS"] = True
        database["OPTIONS"] = {
            **database.get("OPTIONS", {}),
            "connect_timeout": connect_timeout,
            "application_name": application_name,
            "pool": {
                "min_size": min(pool_min, pool_max),
                "max_size": pool_max,
                "max_idle": pool_idle_timeout,
                "timeout": connect_timeout,
            },
        }
    elif database["ENGINE"] == "django.db.backends.sqlite3":
        database["OPTIONS"] = {
            # WAL lets the web process and the scheduler read while the other writes;
            # IMMEDIATE avoids "database is locked" on lock upgrades inside transactions.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    return database


def backup_storage(
    *, s3_bucket: str, s3_prefix: str, s3_endpoint_url: str, s3_region: str, directory: str
) -> dict[str, Any] | None:
    """STORAGES["backups"]: an S3 bucket (credentials from the standard AWS_* variables or the
    instance role, read by boto3), a directory on another disk, or None (local backups only)."""
    if s3_bucket:
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": s3_bucket,
                "location": s3_prefix.strip("/"),
                "endpoint_url": s3_endpoint_url or None,
                "region_name": s3_region or None,
                "default_acl": "private",
                "file_overwrite": False,
            },
        }
    if directory:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {
                "location": directory,
                "file_permissions_mode": 0o600,
                "directory_permissions_mode": 0o700,
            },
        }
    return None


LOCKOUT_NAMES = frozenset({"ip_address", "username", "user_agent"})


def lockout_parameters(values: list[str]) -> list[str | list[str]]:
    """AXES_LOCKOUT_PARAMETERS from its comma-separated entries, each a name or a `+`-joined
    combination; ValueError naming the variable on anything else."""
    parameters: list[str | list[str]] = [
        part.split("+") if "+" in part else part for part in (p.strip() for p in values) if part
    ]
    if not parameters or not all(
        name in LOCKOUT_NAMES
        for entry in parameters
        for name in ([entry] if isinstance(entry, str) else entry)
    ):
        raise ValueError(
            f"AXES_LOCKOUT_PARAMETERS={','.join(values)!r}: use ip_address, username, "
            "user_agent, or +-joined combinations of them, separated by commas"
        )
    return parameters
