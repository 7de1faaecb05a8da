"""What bench/process.py's product worker runs besides the project (`celery worker --include`).

Never part of the product: only the bench's worker imports it.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from events.handlers import registry
from events.models import Event


@registry.register("bench.noop", name="bench-noop")
def noop_handler(event: Event) -> Any:
    """The pipeline side: an event handler that does nothing."""
    return None


@shared_task(name="bench.product.noop", ignore_result=True)
def noop() -> None:
    """A no-op task in the product's worker: what its configuration (logging, late acks,
    connection handling) costs a task, beside Celery's defaults."""
