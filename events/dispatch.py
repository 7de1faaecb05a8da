"""Enqueueing processing: the database row is the work, the Celery message only says "look".

Messages are sent after the surrounding transaction commits, so a worker never looks for a
row it cannot see yet, and a rolled-back create sends nothing.
"""

from __future__ import annotations

from django.db import transaction


def events_enqueue(*, countdown: float | None = None) -> None:
    """Ask a worker to process pending events once the current transaction commits."""
    from events.tasks import process_events

    def send() -> None:
        if countdown is None:
            process_events.apply_async()
        else:
            process_events.apply_async(countdown=countdown)

    transaction.on_commit(send, robust=True)
