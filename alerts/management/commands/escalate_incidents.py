"""Escalate incidents nobody acknowledged in time: the same service beat runs every minute."""

from __future__ import annotations

from typing import Any

from beo_automation.operator_commands import OperatorCommand
from maintenance.services.run_records import command_context


class Command(OperatorCommand):
    help = (
        "Escalate every active incident not acknowledged within its response time (critical "
        "15 min, high 1 h, medium 4 h, low 24 h) with a critical 'Incident response overdue' "
        "alert; resolve that alert once the incident is acknowledged."
    )

    def handle(self, *args: Any, **options: Any) -> str:
        from alerts import jobs

        outcome = jobs.escalate_incidents(context=command_context(command="escalate_incidents"))
        return (
            f"{outcome.overdue} incidents overdue ({outcome.escalated} newly escalated), "
            f"{outcome.resolved} overdue alerts resolved"
        )
