"""Celery entry points for alerts: thin callers of the services, each owning its retry policy."""

from __future__ import annotations

import dataclasses
from typing import Any

from celery import Task, shared_task

from alerts.notifications import DELIVER_TASK, notification_deliver, notifications_sweep
from alerts.runs import job_run


@shared_task(
    bind=True,
    name=DELIVER_TASK,
    ignore_result=True,
    acks_late=True,
    max_retries=None,  # attempts are counted (and capped) by the service, per notification
)
def deliver_notification(self: Task, notification_id: int) -> str:
    """One delivery attempt; a failed one is retried with exponential backoff."""
    outcome = notification_deliver(notification_id=notification_id)
    if outcome.retry_in is not None and not self.request.is_eager:
        # In-process (no broker) a retry would run at once: the sweeper picks it up instead.
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="alerts.retry_notifications", ignore_result=True)
def retry_notifications() -> dict[str, Any]:
    """Re-send lost delivery messages and reclaim deliveries whose worker died."""
    from django.conf import settings

    # In-process (no broker) a failed attempt waits here, not in a delayed message.
    grace = 0.0 if settings.CELERY_TASK_ALWAYS_EAGER else 60.0
    outcome = job_run(
        job="retry_notifications",
        trigger="schedule",
        triggered_by="celery beat",
        work=lambda: notifications_sweep(grace_seconds=grace),
        summarize=dataclasses.asdict,
    )
    return dataclasses.asdict(outcome)


@shared_task(name="alerts.evaluate_alerts", ignore_result=True)
def evaluate_alerts() -> dict[str, Any]:
    """Beat, every minute: measure, raise and auto-resolve threshold alerts."""
    from alerts.evaluation import EvaluationReport, alerts_evaluate

    report = job_run(
        job="evaluate_alerts",
        trigger="schedule",
        triggered_by="celery beat",
        work=lambda: alerts_evaluate(trigger="schedule"),
        summarize=EvaluationReport.record,
    )
    return report.as_dict()


@shared_task(name="alerts.escalate_incidents", ignore_result=True)
def escalate_incidents() -> dict[str, Any]:
    """Beat, every minute: escalate incidents not acknowledged within their response time."""
    from alerts.escalation import incidents_escalate

    outcome = job_run(
        job="escalate_incidents",
        trigger="schedule",
        triggered_by="celery beat",
        work=incidents_escalate,
        summarize=dataclasses.asdict,
    )
    return dataclasses.asdict(outcome)
