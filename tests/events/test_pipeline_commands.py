"""Operator commands: the sweep and a drain by hand, with summaries and a log record."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from events.models import Event, Status
from tests.factories import EventFactory
from tests.logs import log_lines

pytestmark = pytest.mark.django_db


def test_sweep_events_reports_what_it_recovered(user, settings):
    stale = timezone.now() - timedelta(seconds=settings.EVENT_PROCESSING_TIMEOUT + 5)
    EventFactory.create(owner=user, status=Status.PROCESSING, attempts=1, updated_at=stale)
    out = io.StringIO()
    call_command("sweep_events", stdout=out)
    summary = out.getvalue()
    assert "1 stuck returned to pending" in summary
    assert "0 stuck on their last attempt failed" in summary
    assert Event.objects.get().status == Status.PENDING


def test_sweep_events_is_recorded_with_who_and_the_outcome(user):
    call_command("sweep_events", stdout=io.StringIO())
    [*_, line] = [
        line
        for line in log_lines()
        if line.get("event") == "Operator command finished" and line["command"] == "sweep_events"
    ]
    assert line["outcome"] == "success"
    assert line["user"]
    assert "duration_ms" in line


def test_process_events_drains_the_queue_with_progress_and_a_summary(user):
    for _ in range(3):
        EventFactory.create(owner=user, type="nobody.handles")
    out, err = io.StringIO(), io.StringIO()
    call_command("process_events", stdout=out, stderr=err)
    assert "Processed 3 events" in out.getvalue()
    assert "3 completed" in out.getvalue()
    assert "events processed" in err.getvalue()
    assert set(Event.objects.values_list("status", flat=True)) == {Status.COMPLETED}


def test_process_events_refuses_a_nonsensical_budget():
    with pytest.raises(
        CommandError, match="--time-budget must be more than 0 and at most 604800 seconds, not 0"
    ):
        call_command("process_events", time_budget=0)
