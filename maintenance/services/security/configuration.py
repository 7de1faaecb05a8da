"""The running configuration: Django's deployment checks, the headers responses carry,
secrets from the environment, errors that do not leak, audit logging."""

from __future__ import annotations

import ast
import importlib
import logging
import os
import stat
from pathlib import Path

from django.apps import apps
from django.conf import settings

from maintenance.services.security.result import CheckResult

SECRET_NAME_PARTS = ("SECRET", "PASSWORD", "TOKEN", "API_KEY", "PRIVATE_KEY")
EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": None,
    "Referrer-Policy": None,
    "Cross-Origin-Opener-Policy": None,
}


def check_deployment() -> CheckResult:
    """What `manage.py check --deploy` reports (HTTPS redirect, HSTS, secure cookies, the
    security middleware, DEBUG, the secret key, and every app's own checks), one detail per
    finding; a finding an operator silenced (SILENCED_SYSTEM_CHECKS) is not one."""
    from django.core import checks

    findings = [
        f"{message.id}: {message.msg.splitlines()[0]}"
        for message in checks.run_checks(include_deployment_checks=True)
        if message.level >= checks.WARNING and not message.is_silenced()
    ]
    if findings:
        return CheckResult(
            name="",
            status="fail",
            reason=f"Django's deployment checks report {len(findings)} problem(s)",
            details=findings,
        )
    return CheckResult(
        name="",
        status="pass",
        reason="`manage.py check --deploy` reports nothing (HTTPS redirect, HSTS "
        f"{settings.SECURE_HSTS_SECONDS} s, secure cookies, security middleware)",
    )


def _probe_host() -> str:
    for host in settings.ALLOWED_HOSTS:
        if host == "*":
            return "localhost"
        if host:
            return host.lstrip(".") if not host.startswith(".") else "www" + host
    return "localhost"


def check_headers() -> CheckResult:
    """A real request through the middleware stack carries the security headers."""
    from django.test import Client

    response = Client(raise_request_exception=False).get(
        "/api/health/live/", secure=True, HTTP_HOST=_probe_host()
    )
    missing = []
    for header, value in EXPECTED_HEADERS.items():
        actual = response.headers.get(header)
        if actual is None or (value is not None and actual.lower() != value):
            missing.append(f"{header} missing from responses")
    if settings.SECURE_HSTS_SECONDS and "Strict-Transport-Security" not in response.headers:
        missing.append("Strict-Transport-Security missing from HTTPS responses")
    if missing:
        return CheckResult(
            name="", status="fail", reason="responses lack security headers", details=missing
        )
    present = [h for h in [*EXPECTED_HEADERS, "Strict-Transport-Security"] if h in response.headers]
    return CheckResult(name="", status="pass", reason=f"responses carry {', '.join(present)}")


def _hardcoded_secrets(settings_file: Path) -> list[str]:
    tree = ast.parse(settings_file.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            value = node.value.value
            for target in node.targets:
                if (
                    isinstance(target, ast.Name)
                    and any(part in target.id for part in SECRET_NAME_PARTS)
                    and isinstance(value, str)
                    and value
                ):
                    found.append(f"{settings_file.name}:{node.lineno} {target.id} = <literal>")
    return found


def check_secrets() -> CheckResult:
    from beo_automation.secret_key import secret_key_problem

    problems = []
    if os.environ.get("SECRET_KEY") != settings.SECRET_KEY:
        problems.append("SECRET_KEY does not come from the environment (or .env)")
    if problem := secret_key_problem(settings.SECRET_KEY):
        problems.append(problem)
    signing = settings.SIMPLE_JWT.get("SIGNING_KEY")
    if signing and signing != settings.SECRET_KEY and (problem := secret_key_problem(signing)):
        problems.append("JWT_SIGNING_KEY: " + problem.replace("SECRET_KEY", "the key"))
    module_name = getattr(settings, "SETTINGS_MODULE", None) or os.environ.get(
        "DJANGO_SETTINGS_MODULE", "beo_automation.settings"
    )
    settings_file = importlib.import_module(module_name).__file__
    if settings_file:
        problems += _hardcoded_secrets(Path(settings_file))
    env_file = Path(os.environ.get("ENV_FILE", Path(settings.BASE_DIR) / ".env"))
    warnings = []
    if env_file.is_file() and env_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"{env_file} is readable by other users: chmod 600 it")
    if problems:
        return CheckResult(
            name="",
            status="fail",
            reason="secrets are not (only) in the environment",
            details=problems + warnings,
        )
    if warnings:
        return CheckResult(
            name="", status="warn", reason="secrets come from the environment", details=warnings
        )
    return CheckResult(
        name="",
        status="pass",
        reason="SECRET_KEY (and JWT key) from the environment and strong; none in settings.py",
    )


def check_errors() -> CheckResult:
    problems = []
    if settings.DEBUG:
        problems.append("DEBUG is on: error pages show code, settings and stack traces")
    if getattr(settings, "DEBUG_PROPAGATE_EXCEPTIONS", False):
        problems.append("DEBUG_PROPAGATE_EXCEPTIONS is on")
    handler = settings.REST_FRAMEWORK.get("EXCEPTION_HANDLER", "")
    if handler != "beo_automation.errors.api_exception_handler":
        problems.append(f"the API's exception handler is {handler or 'DRF default'!r}")
    urlconf = importlib.import_module(settings.ROOT_URLCONF)
    if not getattr(urlconf, "handler500", None):
        problems.append("no handler500 in the root URL conf")
    if problems:
        return CheckResult(
            name="", status="fail", reason="errors may leak internals", details=problems
        )
    return CheckResult(
        name="",
        status="pass",
        reason="DEBUG off; API errors use the envelope, unknown errors answer "
        '"Internal server error" only',
    )


AUDIT_MIDDLEWARE = "beo_automation.audit_middleware.AuditlogMiddleware"
AUDITED_MODELS = ("alerts.Alert", "alerts.Incident", "events.Subscription", "auth.User")


def _audit_trail_problems() -> list[str]:
    """The audit trail (docs/operations.md#audit-trail) for real: installed, its middleware in
    the chain, the models registered, and a record write that works (rolled back)."""
    if "auditlog" not in settings.INSTALLED_APPS:
        return ["django-auditlog is not installed: no audit trail"]
    from auditlog.registry import auditlog
    from django.apps import apps
    from django.db import DatabaseError, transaction

    from maintenance.services.audit import audit_record

    problems = []
    if AUDIT_MIDDLEWARE not in settings.MIDDLEWARE:
        problems.append(f"{AUDIT_MIDDLEWARE} is not in MIDDLEWARE: no actor, IP or request id")
    unregistered = [
        label for label in AUDITED_MODELS if not auditlog.contains(apps.get_model(label))
    ]
    if unregistered:
        problems.append(f"not registered with auditlog: {', '.join(unregistered)}")
    from maintenance.models import MaintenanceRun

    try:
        with transaction.atomic():
            audit_record(model=MaintenanceRun, object_id=0, object_repr="security_check probe")
            transaction.set_rollback(True)  # a probe, not a record
    except DatabaseError as exc:
        problems.append(f"an audit record cannot be written: {str(exc).splitlines()[0]}")
    return problems


def check_audit_logging() -> CheckResult:
    from maintenance.models import MaintenanceRun

    problems = []
    root_level = logging.getLogger().getEffectiveLevel()
    if root_level > logging.INFO:
        problems.append(
            f"LOG_LEVEL={logging.getLevelName(root_level).lower()} drops info lines "
            "(operator actions, maintenance runs)"
        )
    # The app, under whichever AppConfig (the console installs it as its own site's config).
    if not apps.is_installed("django.contrib.admin"):
        problems.append("django.contrib.admin is not installed: no record of staff changes")
    problems += _audit_trail_problems()
    runs = MaintenanceRun.objects.count()
    if problems:
        return CheckResult(
            name="", status="fail", reason="audit records are incomplete", details=problems
        )
    destination = f"files in {settings.LOG_DIR}" if settings.LOG_DIR else "stdout only"
    return CheckResult(
        name="",
        status="pass",
        reason=f"requests and operations logged at {logging.getLevelName(root_level).lower()} "
        f"({destination}); audit trail on (django-auditlog: admin, API, operator changes); "
        f"{runs:,} job runs on record",
    )
