"""security_check: the operations guide's security checklist, evaluated against this process.

Each item is checked for real, not read from a document, by the module named after it:
- endpoints: every view under /api/ is asked, with an anonymous request, whether it would let
  the caller in; hostile bodies posted to the event endpoints must be refused and store nothing;
- rate_limits: the rate-limit middleware is driven from a documentation-range address until it
  answers 429;
- sql: the project's source is parsed for SQL built by string formatting;
- configuration: Django's deployment checks (`check --deploy`: HTTPS, HSTS, cookies), the
  headers of a real response, secrets from the environment, errors that do not leak (DEBUG
  off), audit logging;
- dependencies: uv.lock covers pyproject.toml; pip-audit's verdict when it can run.

A report with a failing item is recorded as a failed run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from maintenance.services.run_records import RunContext, run_recorded
from maintenance.services.security import configuration, dependencies, endpoints, sql
from maintenance.services.security.rate_limits import check_rate_limiting
from maintenance.services.security.result import CheckResult


@dataclasses.dataclass(frozen=True, kw_only=True)
class SecurityReport:
    checks: list[CheckResult]

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    def summary_line(self) -> str:
        passed = sum(1 for c in self.checks if c.status == "pass")
        warned = sum(1 for c in self.checks if c.status == "warn")
        return (
            f"{passed} passed, {len(self.failed)} failed, {warned} warnings "
            f"({len(self.checks)} checklist items)."
        )


def security_check(
    *, source_root: Path | None = None, run_pip_audit: bool = True, context: RunContext
) -> SecurityReport:
    """Evaluate every checklist item; the report says ✓/✗/! per item with the reason."""
    root = source_root or Path(settings.BASE_DIR)
    arguments = {"source_root": str(root), "pip_audit": run_pip_audit}
    with run_recorded(operation="security_check", arguments=arguments, context=context) as run:
        items: list[tuple[str, Callable[[], CheckResult]]] = [
            (
                "All API endpoints authenticated",
                lambda: endpoints.check_authentication(list(endpoints.api_endpoints())),
            ),
            ("Rate limiting enabled", check_rate_limiting),
            ("Input validation on write endpoints", endpoints.check_input_validation),
            ("Parameterized database queries", lambda: sql.check_sql(sql.project_sources(root))),
            ("Django deployment checks (check --deploy)", configuration.check_deployment),
            ("Security headers configured", configuration.check_headers),
            (
                "Dependencies locked and audited",
                lambda: dependencies.check_dependencies(root, run_pip_audit),
            ),
            ("Secrets in environment variables", configuration.check_secrets),
            ("Error messages don't leak sensitive data", configuration.check_errors),
            ("Audit logs enabled", configuration.check_audit_logging),
        ]
        checks: list[CheckResult] = []
        for name, check in items:
            try:
                result = check()
            except Exception as exc:  # noqa: BLE001 - a check that cannot run is a failure
                result = CheckResult(
                    name=name, status="fail", reason=f"could not be evaluated: {exc!r}"
                )
            checks.append(dataclasses.replace(result, name=name))
        report = SecurityReport(checks=checks)
        run.summary = {
            "passed": sum(1 for c in checks if c.status == "pass"),
            "failed": [c.name for c in report.failed],
            "warnings": [c.name for c in checks if c.status == "warn"],
        }
        if report.failed:
            run.fail(f"Failing: {', '.join(c.name for c in report.failed)}.")
        return report
