"""What bench/process.py's worker runs besides the project (`celery worker --include` this).

Never part of the product: only the bench's worker imports it.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from events.handlers import registry
from events.models import Event


@registry.register("bench.noop", name="bench-noop")
def noop_handler(event: Event) -> Any:
    """The pipeline side: an event handler that does nothing."""
    return None


@shared_task(name="bench.noop", ignore_result=True)
def noop() -> None:
    """The baseline: a plain Celery task that does nothing, one message per task."""


@shared_task(name="bench.touch", ignore_result=True)
def touch(event_id: int) -> None:
    """A one-row update: what Celery's per-task connection closing costs."""
    Event.objects.filter(pk=event_id).update(updated_at=timezone.now())
