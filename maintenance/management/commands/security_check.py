"""The operations guide's security checklist against the running configuration."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.core.management.base import CommandError

from maintenance.management.base import MaintenanceCommand
from maintenance.services.security import security_check


class Command(MaintenanceCommand):
    help = (
        "Evaluate the security checklist (authentication of every API endpoint, rate "
        "limiting, input validation, parameterized SQL, HTTPS, headers, locked and audited "
        "dependencies, secrets, error leakage, audit logs). ✓/✗ per item; exit 1 on any ✗."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-pip-audit",
            action="store_true",
            help="Skip pip-audit (it needs the network to reach its vulnerability service).",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> str | None:
        report = security_check(
            run_pip_audit=not options["no_pip_audit"], context=self.run_context(options)
        )
        if options["json"]:
            self.print_json([dataclasses.asdict(c) for c in report.checks])
        else:
            for check in report.checks:
                style = {
                    "pass": self.style.SUCCESS,
                    "fail": self.style.ERROR,
                    "warn": self.style.WARNING,
                }[check.status]
                self.stdout.write(style(f"{check.mark} {check.name}: {check.reason}"))
                for detail in check.details:
                    self.stdout.write(f"    - {detail}")
        if report.failed:
            raise CommandError(
                f"{report.summary_line()} Failing: {', '.join(c.name for c in report.failed)}."
            )
        return None if options["json"] else report.summary_line()
