"""What bench/process.py's product worker runs besides the project (`celery worker --include`).

Never part of the product: only the bench's worker imports it.
"""

from __future__ import annotations

from typing import Any

from events.handlers import registry
from events.models import Event


@registry.register("bench.noop", name="bench-noop")
def noop_handler(event: Event) -> Any:
    """The pipeline side: an event handler that does nothing."""
    return None
