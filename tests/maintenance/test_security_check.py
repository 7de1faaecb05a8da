"""security_check: each checklist item evaluated against the running configuration."""

from __future__ import annotations

import contextlib
import json
import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from beo_automation.ratelimit_config import rate_split
from maintenance.models import MaintenanceRun, Outcome
from maintenance.services.security.configuration import _hardcoded_secrets  # noqa: PLC2701 - first-party: this test covers the helper itself
from maintenance.services.security.dependencies import check_dependencies, pip_audit_verdict
from maintenance.services.security.sql import sql_formatting_findings

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hardened(settings):
    """The test settings plus what a production deployment behind no proxy sets."""
    settings.SECURE_SSL_REDIRECT = True


def report(capsys, *args: str) -> dict[str, dict]:
    capsys.readouterr()
    with contextlib.suppress(CommandError):
        call_command("security_check", "--no-pip-audit", "--json", *args)
    return {item["name"]: item for item in json.loads(capsys.readouterr().out)}


@pytest.mark.redis
def test_a_hardened_configuration_passes_every_item(hardened, capsys):
    summary = call_command("security_check", "--no-pip-audit")

    out = capsys.readouterr().out
    assert out.count("✓") == 10, out
    assert "✗" not in out
    assert "public by design: /api/auth/token/" in out
    assert "request 101 from one address was refused with 429" in out
    assert summary == "10 passed, 0 failed, 0 warnings (10 checklist items)."


def test_any_failing_item_exits_non_zero_naming_it(hardened, settings):
    settings.SESSION_COOKIE_SECURE = False

    with pytest.raises(
        CommandError, match=r"1 failed.* Failing: Django deployment checks \(check --deploy\)\."
    ) as excinfo:
        call_command("security_check", "--no-pip-audit", verbosity=0)
    assert excinfo.value.returncode == 1


def test_a_failing_item_records_the_run_as_failed(hardened, settings):
    settings.SESSION_COOKIE_SECURE = False

    with pytest.raises(CommandError):
        call_command("security_check", "--no-pip-audit", verbosity=0)

    run = MaintenanceRun.objects.get(operation="security_check")
    assert run.outcome == Outcome.FAILED
    assert run.error == "Failing: Django deployment checks (check --deploy)."
    assert run.summary["failed"] == ["Django deployment checks (check --deploy)"]


def test_debug_on_is_reported_as_leaking_errors(settings, capsys):
    settings.DEBUG = True

    item = report(capsys)["Error messages don't leak sensitive data"]

    assert item["status"] == "fail"
    assert "DEBUG is on: error pages show code, settings and stack traces" in item["details"]


def test_https_not_enforced_is_reported_by_djangos_deployment_checks(settings, capsys):
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.SECURE_HSTS_SECONDS = 0

    item = report(capsys)["Django deployment checks (check --deploy)"]

    assert item["status"] == "fail"
    ids = {detail.split(":")[0] for detail in item["details"]}
    assert {"security.W004", "security.W008", "security.W012"} <= ids


def test_a_silenced_deployment_check_is_not_a_finding(hardened, settings, capsys):
    # Behind a TLS proxy that redirects itself, the operator silences Django's W008.
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SILENCED_SYSTEM_CHECKS = [*settings.SILENCED_SYSTEM_CHECKS, "security.W008"]

    assert report(capsys)["Django deployment checks (check --deploy)"]["status"] == "pass"


def test_a_missing_security_header_is_reported(settings, capsys):
    settings.SECURE_CONTENT_TYPE_NOSNIFF = False

    item = report(capsys)["Security headers configured"]

    assert item["status"] == "fail"
    assert "X-Content-Type-Options missing from responses" in item["details"]


def test_a_public_api_endpoint_is_reported(settings, capsys):
    settings.ROOT_URLCONF = "tests.maintenance.urls_insecure"

    item = report(capsys)["All API endpoints authenticated"]

    assert item["status"] == "fail"
    assert item["details"] == ["/api/forgotten/ (GET without a token)"]


def test_an_event_endpoint_that_accepts_hostile_bodies_is_reported(settings, capsys):
    from events.models import Event

    settings.ROOT_URLCONF = "tests.maintenance.urls_insecure"

    item = report(capsys)["Input validation on write endpoints"]

    assert item["status"] == "fail"
    assert (
        "POST /api/events/ with no fields: answered 200 without the error envelope"
        in (item["details"])
    )
    assert not Event.objects.exists()


def test_the_project_event_endpoints_refuse_hostile_bodies_and_store_nothing(capsys):
    from django.contrib.auth import get_user_model

    from events.models import Event

    item = report(capsys)["Input validation on write endpoints"]

    assert item["status"] == "pass", item["details"]
    assert "none was stored" in item["reason"]
    # The probe's user and anything it sent were rolled back.
    assert not get_user_model().objects.filter(username__startswith="security-check-").exists()
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("rate", "split"), [("100/m", (100, 60)), ("1000/5m", (1000, 300)), ("3/d", (3, 86400))]
)
def test_a_rate_is_read_in_django_ratelimits_documented_syntax(rate, split):
    assert rate_split(rate) == split


@pytest.mark.redis
def test_rate_limiting_turned_off_is_reported(settings, capsys):
    settings.RATELIMIT_ENABLE = False

    item = report(capsys)["Rate limiting enabled"]

    assert item["status"] == "fail"
    assert item["reason"] == "RATELIMIT_ENABLE is off"


def test_a_weak_secret_key_is_reported(settings, capsys):
    settings.SECRET_KEY = "changeme"

    item = report(capsys)["Secrets in environment variables"]

    assert item["status"] == "fail"
    assert "SECRET_KEY does not come from the environment (or .env)" in item["details"]
    assert "SECRET_KEY is a known insecure value" in item["details"]


def test_a_hardcoded_secret_in_settings_is_found(tmp_path):
    settings_file = tmp_path / "settings.py"
    settings_file.write_text(
        'SECRET_KEY = env.str("SECRET_KEY", default="")\n'
        'EMAIL_HOST_PASSWORD = "hunter2"\n'
        "DEBUG = False\n"
    )

    assert _hardcoded_secrets(settings_file) == ["settings.py:2 EMAIL_HOST_PASSWORD = <literal>"]


def test_the_sql_scan_flags_formatted_sql_and_accepts_parameters_and_quoted_names(tmp_path):
    source = tmp_path / "queries.py"
    source.write_text(
        textwrap.dedent(
            """
            def bad(cursor, user_id, table, Model):
                cursor.execute(f"SELECT * FROM events WHERE id = '{user_id}'")
                cursor.execute("SELECT * FROM events WHERE id = %s" % user_id)
                cursor.execute("SELECT * FROM events WHERE id = " + user_id)
                cursor.execute("SELECT * FROM {} WHERE id = 1".format(table))
                query = f"DELETE FROM {table}"
                cursor.execute(query)
                Model.objects.raw(f"SELECT * FROM x WHERE y = {user_id}")

            def good(cursor, user_id, table, sql, connection):
                cursor.execute("SELECT * FROM events WHERE id = %s", [user_id])
                cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
                cursor.execute("SELECT 1 " + "FROM events")
            """
        )
    )

    findings = sql_formatting_findings(source)

    lines = sorted(int(f.split(":")[1].split()[0]) for f in findings)
    assert lines == [3, 4, 5, 6, 8, 9]


def test_the_project_code_builds_no_sql_by_formatting(capsys):
    item = report(capsys)["Parameterized database queries"]

    assert item["status"] == "pass", item["details"]


def test_dependencies_must_be_locked(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["django>=5.2"]\n')

    missing = check_dependencies(tmp_path, run_pip_audit=False)
    (tmp_path / "uv.lock").write_text('[[package]]\nname = "requests"\nversion = "2.0"\n')
    unlocked = check_dependencies(tmp_path, run_pip_audit=False)

    assert missing.status == "fail"
    assert missing.reason == "uv.lock is missing: dependencies are not locked"
    assert unlocked.status == "fail"
    assert unlocked.details == ["django"]


def test_without_pip_audit_installed_the_audit_is_a_warning_not_a_pass(monkeypatch, tmp_path):
    from maintenance.services.security import dependencies

    monkeypatch.setattr(dependencies, "pip_audit_program", lambda: None)
    from django.conf import settings

    result = check_dependencies(settings.BASE_DIR, run_pip_audit=True)

    assert result.status == "warn"
    assert "pip-audit is not installed" in result.reason


def test_the_check_run_is_recorded(capsys):
    from maintenance.models import MaintenanceRun

    report(capsys)

    run = MaintenanceRun.objects.get(operation="security_check")
    assert isinstance(run.summary["failed"], list)
    assert run.summary["passed"] + len(run.summary["failed"]) + len(run.summary["warnings"]) == 10


# Shapes of pip-audit 2.x's `--format json` report, as it printed them on this machine.
AUDIT_CLEAN = {"dependencies": [{"name": "django", "version": "5.2.19", "vulns": []}]}
AUDIT_VULNERABLE = {
    "dependencies": [
        {
            "name": "django",
            "version": "5.2.1",
            "vulns": [{"id": "PYSEC-2025-1", "fix_versions": []}],
        },
        {"name": "requests", "version": "2.32.0", "vulns": []},
    ]
}
AUDIT_UNREACHABLE = {
    "dependencies": [
        {
            "name": "amqp",
            "skip_reason": "Dependency not found on PyPI and could not be audited: amqp (5.4.2)",
        },
        {"name": "django", "version": "5.2.19", "vulns": []},
    ]
}


@pytest.mark.parametrize(
    ("report", "status", "text"),
    [
        (AUDIT_CLEAN, "pass", "no known vulnerabilities in 1 packages"),
        (AUDIT_VULNERABLE, "fail", "known vulnerabilities in 1 installed packages"),
        (AUDIT_UNREACHABLE, "warn", "could not audit 1 of 2 packages (Dependency not found"),
    ],
)
def test_pip_audit_reports_become_pass_fail_or_warning(report, status, text):
    result = pip_audit_verdict(report, "uv.lock pins all")

    assert result.status == status
    assert text in result.reason
    if status == "fail":
        assert result.details == ["django 5.2.1: PYSEC-2025-1"]
