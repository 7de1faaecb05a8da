"""The alerts jobs beat and operators start, each one call that records its run.

The Celery task and the manage.py command of a job call the same function here with their
`RunContext` (trigger and who); the run is recorded by maintenance.services.run_records like
every other job, and kept ALERT_EVALUATION_RETENTION_DAYS (beat runs these every minute).
"""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from django.conf import settings

from maintenance.services.run_records import RunContext, RunRecorder, run_recorded

if TYPE_CHECKING:
    from alerts.escalation import EscalationOutcome
    from alerts.evaluation import EvaluationReport
    from alerts.notifications import SweepOutcome, TestResult


def _run(
    operation: str, context: RunContext, **arguments: Any
) -> AbstractContextManager[RunRecorder]:
    # Not exclusive: the evaluation must run (and alert) while the database is down, when no
    # lock can be taken; a run the database cannot record is logged.
    return run_recorded(
        operation=operation,
        arguments=arguments,
        context=context,
        exclusive=False,
        keep_days=settings.ALERT_EVALUATION_RETENTION_DAYS,
    )


def evaluate_alerts(
    *, context: RunContext, cpu_sample_seconds: float | None = None
) -> EvaluationReport:
    """Measure, raise and auto-resolve threshold alerts (alerts.evaluation), recorded."""
    from alerts import evaluation

    with _run("evaluate_alerts", context) as run:
        report = evaluation.alerts_evaluate(
            trigger=context.trigger, cpu_sample_seconds=cpu_sample_seconds
        )
        run.summary = report.record()
        return report


def escalate_incidents(*, context: RunContext) -> EscalationOutcome:
    """Escalate incidents not acknowledged within their response time, recorded."""
    from alerts.escalation import incidents_escalate

    with _run("escalate_incidents", context) as run:
        outcome = incidents_escalate()
        run.summary = dataclasses.asdict(outcome)
        return outcome


def retry_notifications(*, context: RunContext, grace_seconds: float) -> SweepOutcome:
    """Re-send lost delivery messages and reclaim deliveries whose worker died, recorded."""
    from alerts.notifications import notifications_sweep

    with _run("retry_notifications", context) as run:
        outcome = notifications_sweep(grace_seconds=grace_seconds)
        run.summary = dataclasses.asdict(outcome)
        return outcome


def send_test_alert(
    *, context: RunContext, message: str, invalid_urls: int = 0
) -> list[TestResult]:
    """A test notification to every configured channel; the run fails when any channel (or
    an invalid URL of ALERT_NOTIFY_URLS, counted by the caller) was not reached."""
    from alerts.notifications import notifications_send_test

    with _run("send_test_alert", context) as run:
        results = notifications_send_test(requested_by=context.triggered_by, message=message)
        run.summary = {
            "delivered": [r.label for r in results if r.ok],
            "failed": {r.label: r.error for r in results if not r.ok},
            "invalid_urls": invalid_urls,
        }
        if invalid_urls or not all(r.ok for r in results):
            failed = len(run.summary["failed"]) + invalid_urls
            run.fail(f"{failed} of {len(results) + invalid_urls} channels not reached")
        return results
