"""Celery entry points for alerts: thin callers of the services, each owning its retry policy."""

from __future__ import annotations

import dataclasses
from typing import Any

from celery import Task, shared_task

from alerts import jobs
from alerts.notifications import DELIVER_TASK, notification_deliver
from maintenance.models import Trigger
from maintenance.services.run_records import RunContext

BEAT = RunContext(trigger=Trigger.SCHEDULE, triggered_by="celery beat")


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
    outcome = jobs.retry_notifications(context=BEAT, grace_seconds=grace)
    return dataclasses.asdict(outcome)


@shared_task(name="alerts.evaluate_alerts", ignore_result=True)
def evaluate_alerts() -> dict[str, Any]:
    """Beat, every minute: measure, raise and auto-resolve threshold alerts."""
    return jobs.evaluate_alerts(context=BEAT).as_dict()


@shared_task(name="alerts.escalate_incidents", ignore_result=True)
def escalate_incidents() -> dict[str, Any]:
    """Beat, every minute: escalate incidents not acknowledged within their response time."""
    return dataclasses.asdict(jobs.escalate_incidents(context=BEAT))
