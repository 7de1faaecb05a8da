"""Each alert evaluation stores what it measured (the overview's sparklines), kept a day."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from alerts.evaluation import alerts_evaluate
from alerts.models import MetricSample
from alerts.samples import SAMPLE_RETENTION, metric_samples_since
from events.models import Priority
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def test_an_evaluation_stores_each_check_against_its_threshold_and_the_queue_by_priority():
    EventFactory.create_batch(2, priority=Priority.URGENT)
    now = timezone.now()
    alerts_evaluate(now=now, cpu_sample_seconds=0)
    (sample,) = metric_samples_since(since=now - timedelta(minutes=1))
    queue = sample.values["event_queue"]
    assert queue["value"] == 2
    assert queue["threshold"] == settings.ALERT_EVENT_QUEUE
    assert queue["severity"] is None
    assert sample.values["queue:urgent"]["value"] == 2
    assert sample.values["queue:low"]["value"] == 0
    assert sample.values["oldest_pending_age"]["value"] >= 0
    assert sample.values["memory"]["threshold"] == settings.ALERT_MEMORY_PCT


def test_samples_older_than_the_retention_are_pruned_by_the_next_evaluation():
    now = timezone.now()
    old = MetricSample.objects.create(at=now - SAMPLE_RETENTION - timedelta(minutes=1))
    recent = MetricSample.objects.create(at=now - timedelta(hours=1))
    alerts_evaluate(now=now, cpu_sample_seconds=0)
    kept = set(MetricSample.objects.values_list("id", flat=True))
    assert old.id not in kept
    assert recent.id in kept
    assert len(kept) == 2
