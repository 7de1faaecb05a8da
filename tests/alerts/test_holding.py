"""Alerts held while the database is down are stored, once it is back, as the very row (and
incident) the database would have had: held and stored alerts go through one occurrence rule.

The database outage itself, from a real process, is in test_infrastructure.py; here the held
path is entered where alert_raise enters it when the database refuses the occurrence.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from alerts.holding import alert_hold, alerts_store_held
from alerts.models import Alert, Incident, Severity
from alerts.occurrences import Occurrences, alert_input_validate
from alerts.services import alert_raise

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db]

NAME = "Database Unreachable"
LABELS = {"host": "db-1"}
ALERT_FIELDS = (
    "fingerprint",
    "name",
    "severity",
    "status",
    "message",
    "metadata",
    "labels",
    "rule",
    "occurrences",
    "first_seen",
    "last_seen",
    "last_notified_at",
    "notified_severity",
    "silenced_by_id",
)

occurrence = st.fixed_dictionaries(
    {
        "severity": st.sampled_from(Severity.values),
        # Few messages, so that runs of equal occurrences are held as one.
        "message": st.sampled_from(["connection refused", "timeout", "too many clients"]),
        "metadata": st.dictionaries(
            st.sampled_from(["error", "latency_ms", "attempt"]),
            st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=8)),
            max_size=3,
        ),
        # Seconds since the previous occurrence: within and past the repeat interval.
        "gap": st.integers(0, 3 * 3600),
    }
)


def _timeline(incident: Incident, alert: Alert) -> list[tuple[str, str, Any]]:
    return [
        (e.kind, e.text.replace(f"#{alert.pk} ", "#<alert> "), e.at)
        for e in incident.timeline.order_by("at", "id")
    ]


def _snapshot() -> dict[str, Any]:
    alert = Alert.objects.get()
    row = {field: getattr(alert, field) for field in ALERT_FIELDS}
    incident = alert.incident
    if incident is not None:
        row["incident"] = {
            "title": incident.title,
            "severity": incident.severity,
            "description": incident.description,
            "detected_at": incident.detected_at,
            "response_due_at": incident.response_due_at,
            "stage": incident.stage,
            "timeline": _timeline(incident, alert),
        }
    Alert.objects.all().delete()
    Incident.objects.all().delete()
    return row


def _times(occurrences: list[dict[str, Any]]) -> list[Any]:
    at = timezone.now() - timedelta(days=3)
    times = []
    for occ in occurrences:
        at += timedelta(seconds=occ["gap"])
        times.append(at)
    return times


@hypothesis_settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(occurrences=st.lists(occurrence, min_size=1, max_size=12))
def test_a_held_alert_is_stored_as_the_row_the_direct_path_stores(settings, occurrences):
    settings.ALERT_REPEAT_INTERVAL = 3600
    times = _times(occurrences)

    for occ, at in zip(occurrences, times, strict=True):
        alert_raise(
            name=NAME,
            severity=occ["severity"],
            message=occ["message"],
            metadata=occ["metadata"],
            labels=LABELS,
            now=at,
        )
    direct = _snapshot()

    for occ, at in zip(occurrences, times, strict=True):
        item = alert_input_validate(
            name=NAME,
            severity=occ["severity"],
            message=occ["message"],
            metadata=occ["metadata"],
            labels=LABELS,
        )
        alert_hold(Occurrences(item=item, first_seen=at, last_seen=at))
    assert not Alert.objects.exists()
    (stored,) = alerts_store_held()
    assert stored.occurrences == len(occurrences)
    held = _snapshot()

    assert held == direct


def test_a_held_alert_is_counted_on_the_open_alert_it_belongs_to():
    first = alert_raise(name=NAME, severity="high", message="timeout", labels=LABELS)
    assert first is not None
    later = timezone.now() + timedelta(minutes=1)
    item = alert_input_validate(
        name=NAME, severity="critical", message="connection refused", metadata={}, labels=LABELS
    )
    alert_hold(Occurrences(item=item, first_seen=later, last_seen=later))
    alert_hold(Occurrences(item=item, first_seen=later, last_seen=later + timedelta(minutes=1)))

    (stored,) = alerts_store_held()

    assert stored.pk == first.pk
    stored.refresh_from_db()
    assert stored.occurrences == 3
    assert stored.severity == "critical"
    assert stored.message == "connection refused"
    assert stored.last_seen == later + timedelta(minutes=1)
    assert stored.incident is not None
    assert stored.incident.detected_at == later
