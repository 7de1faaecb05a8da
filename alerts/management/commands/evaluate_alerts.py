"""Run the alert evaluation now: the same service beat runs every minute."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandParser

from beo_automation.command_arguments import bounded_seconds, checked
from beo_automation.operator_commands import OperatorCommand
from maintenance.services.run_records import command_context

CPU_SAMPLE = bounded_seconds(0, 60, low_inclusive=False)


class Command(OperatorCommand):
    help = (
        "Measure the key metrics (response time, error rate, database connections, memory, "
        "CPU, disk, event queue, infrastructure), raise alerts over their thresholds and "
        "resolve those back under. Beat runs the same evaluation every minute."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument(
            "--cpu-sample",
            type=CPU_SAMPLE,
            default=None,
            metavar="SECONDS",
            help="Sample CPU use over this many seconds (default ALERT_CPU_SAMPLE_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        from alerts import jobs
        from alerts.notifiers import configured_channels

        report = jobs.evaluate_alerts(
            context=command_context(command="evaluate_alerts"),
            cpu_sample_seconds=checked(CPU_SAMPLE, options["cpu_sample"], option="--cpu-sample"),
        )
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(report), indent=2, default=str))
            return ""
        for outcome in report.outcomes:
            if not outcome.measured:
                self.stdout.write(f"- {outcome.rule:<15} not measured: {outcome.not_measured}")
                continue
            for check in outcome.checks:
                path = check.labels.get("path")
                label = f"{outcome.rule}[{path}]" if path else outcome.rule
                if check.severity is None:
                    self.stdout.write(self.style.SUCCESS(f"✓ {label:<15} {check.message}"))
                else:
                    line = f"✗ {label:<15} {check.severity.upper()} {check.name}: {check.message}"
                    self.stdout.write(self.style.ERROR(line))
        if not report.database_ok:
            count = len(configured_channels())
            told = (
                f"sent directly to {count} channel{'s' if count != 1 else ''}"
                if count
                else "not sent (no channel configured: nobody was notified)"
            )
            self.stderr.write(
                f"The database is unreachable: its alert was logged, {told}, and will be "
                "stored once it answers; the other checks wait for it."
            )
        return report.summary()


def _as_json(report: Any) -> dict[str, Any]:
    data: dict[str, Any] = report.as_dict()
    data["rules"] = [{"rule": rule, **value} for rule, value in report.measurements().items()]
    return data
