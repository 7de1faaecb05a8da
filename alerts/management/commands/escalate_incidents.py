"""Escalate incidents nobody acknowledged in time: the same service beat runs every minute."""

from __future__ import annotations

import dataclasses
import getpass
from typing import Any

from beo_automation.operator_commands import OperatorCommand


class Command(OperatorCommand):
    help = (
        "Escalate every active incident not acknowledged within its response time (critical "
        "15 min, high 1 h, medium 4 h, low 24 h) with a critical 'Incident response overdue' "
        "alert; resolve that alert once the incident is acknowledged."
    )

    def handle(self, *args: Any, **options: Any) -> str:
        from alerts.escalation import incidents_escalate
        from alerts.runs import job_run

        outcome = job_run(
            job="escalate_incidents",
            trigger="command",
            triggered_by=f"manage.py escalate_incidents ({getpass.getuser()})",
            work=incidents_escalate,
            summarize=dataclasses.asdict,
        )
        return (
            f"{outcome.overdue} incidents overdue ({outcome.escalated} newly escalated), "
            f"{outcome.resolved} overdue alerts resolved"
        )
