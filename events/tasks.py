"""Celery entry points for the pipeline: thin callers of events.pipeline."""

from __future__ import annotations

import dataclasses
from typing import Any

from celery import shared_task

from events.pipeline import events_process_available, events_sweep


@shared_task(name="events.process_events", ignore_result=True, acks_late=True)
def process_events() -> dict[str, Any]:
    """A doorbell: drain claimable events (the rows, not this message, are the work).

    Safe to run any number of times, concurrently too: claims skip locked rows.
    """
    return dataclasses.asdict(events_process_available())


@shared_task(name="events.sweep_events", ignore_result=True)
def sweep_events() -> dict[str, Any]:
    """Beat, every minute: re-ring for lost doorbells, reclaim events of dead workers."""
    return dataclasses.asdict(events_sweep())
