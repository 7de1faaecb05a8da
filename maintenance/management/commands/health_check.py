"""The health endpoint's checks from the command line; exits non-zero when unhealthy."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from beo_automation.health import health_report

MARKS = {"ok": "✓", "warning": "!", "error": "✗"}


class Command(BaseCommand):
    help = "Run the health checks of /api/health/ and exit 1 unless every check is ok."

    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--json", action="store_true", help="Print the JSON report only (on stdout)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = health_report(internals=True)  # an operator: paths included
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            for name, check in report["checks"].items():
                status = check["status"]
                extra = ", ".join(f"{k}={v}" for k, v in check.items() if k != "status")
                line = f"{MARKS.get(status, '?')} {name:<10} {status:<8} {extra}"
                style = self.style.SUCCESS if status == "ok" else self.style.ERROR
                self.stdout.write(style(line))
        if report["status"] != "ok":
            failing = [n for n, c in report["checks"].items() if c["status"] != "ok"]
            raise CommandError(f"Unhealthy: {', '.join(failing)}")
        if not options["json"]:
            self.stdout.write(self.style.SUCCESS("healthy"))
