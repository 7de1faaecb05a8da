"""Incidents: opened by critical alerts, SLA escalation, forward-only stages, post-mortems."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.escalation import OVERDUE_ALERT, incidents_escalate
from alerts.incidents import incident_acknowledge, incident_create, incident_transition
from alerts.models import (
    Alert,
    AlertStatus,
    Incident,
    Notification,
    Stage,
    TimelineEntry,
    TimelineKind,
)
from alerts.postmortem import PLACEHOLDER, incident_postmortem_template
from alerts.resolution import alert_resolve
from alerts.services import alert_acknowledge, alert_raise
from beo_automation.errors import ConflictError, ValidationError
from tests.alerts.helpers import critical_incident, fire

pytestmark = pytest.mark.django_db


def walk(incident: Incident, *stages: str, user, **kwargs) -> Incident:
    for stage in stages:
        incident = incident_transition(incident_id=incident.pk, stage=stage, user=user, **kwargs)
    return incident


def written(incident: Incident) -> str:
    return incident_postmortem_template(incident).replace(PLACEHOLDER, "Written by the team.")


def test_a_critical_alert_opens_an_incident_due_in_15_minutes():
    alert = fire("Database Unreachable", "critical", "no answer")

    incident = Incident.objects.get()
    assert alert.incident == incident
    assert incident.title == "Database Unreachable"
    assert incident.severity == "critical"
    assert incident.stage == Stage.DETECTED
    assert incident.response_due_at - incident.detected_at == timedelta(minutes=15)
    opened = incident.timeline.get()
    assert opened.kind == TimelineKind.OPENED
    assert opened.actor is None
    assert "Opened automatically by critical alert" in opened.text


def test_lower_severities_do_not_open_incidents():
    fire("Slow", "high", "m")
    assert not Incident.objects.exists()


def test_the_same_problem_firing_again_joins_the_active_incident(staff_user):
    first = fire("Database Unreachable", "critical", "m")
    alert_resolve(alert_id=first.pk, user=None)
    second = fire("Database Unreachable", "critical", "again")

    assert second.pk != first.pk
    assert Incident.objects.count() == 1
    incident = Incident.objects.get()
    assert set(incident.alerts.values_list("pk", flat=True)) == {first.pk, second.pk}
    assert incident.timeline.filter(kind=TimelineKind.ALERT).exists()


def test_after_the_incident_is_resolved_the_problem_opens_a_new_one(staff_user):
    first = fire("Database Unreachable", "critical", "m")
    assert first.incident is not None
    walk(first.incident, "resolved", user=staff_user)
    alert_resolve(alert_id=first.pk, user=staff_user)

    fire("Database Unreachable", "critical", "again")

    assert Incident.objects.count() == 2


def test_an_alert_escalating_to_critical_opens_the_incident():
    fire("Error Rate", "high", "6 %")
    assert not Incident.objects.exists()
    fire("Error Rate", "critical", "60 %")
    assert Incident.objects.get().alerts.count() == 1


@pytest.mark.parametrize(
    ("severity", "due"),
    [
        ("critical", timedelta(minutes=15)),
        ("high", timedelta(hours=1)),
        ("medium", timedelta(hours=4)),
        ("low", timedelta(hours=24)),
    ],
)
def test_response_time_comes_from_the_severity(severity, due, staff_user):
    incident = incident_create(title="Auth failing", severity=severity, user=staff_user)
    assert incident.response_due_at - incident.detected_at == due


def test_an_unacknowledged_incident_escalates_once_overdue(settings, channel):
    incident = critical_incident("Database Unreachable")
    just_before = incident.response_due_at - timedelta(seconds=1)
    assert incidents_escalate(now=just_before).escalated == 0

    outcome = incidents_escalate(now=incident.response_due_at + timedelta(minutes=1))

    assert outcome.escalated == 1
    overdue = Alert.objects.get(name=OVERDUE_ALERT)
    assert overdue.severity == "critical"
    assert overdue.incident == incident  # it belongs to the incident, opens no other
    assert Incident.objects.count() == 1
    assert f"Incident #{incident.pk}" in overdue.message
    assert Notification.objects.filter(alert=overdue, kind="firing").count() == 1
    entry = incident.timeline.get(kind=TimelineKind.ESCALATED)
    assert "not acknowledged within 15 min" in entry.text
    assert "alert raised, sent to 1 channel." in entry.text
    incident.refresh_from_db()
    assert incident.escalated_at is not None


def test_an_escalation_without_a_channel_does_not_say_notified(settings):
    settings.ALERT_NOTIFY_URLS = ""
    incident = critical_incident("Database Unreachable")

    incidents_escalate(now=incident.response_due_at + timedelta(minutes=1))

    entry = incident.timeline.get(kind=TimelineKind.ESCALATED)
    assert entry.text.endswith("but no channel is configured: nobody was notified.")


def test_escalation_is_recorded_once_and_repeats_only_per_interval(settings, channel):
    settings.ALERT_REPEAT_INTERVAL = 3600
    incident = critical_incident("Down", "m")
    late = incident.response_due_at + timedelta(minutes=1)
    incidents_escalate(now=late)
    incidents_escalate(now=late + timedelta(minutes=1))
    assert incident.timeline.filter(kind=TimelineKind.ESCALATED).count() == 1
    overdue = Alert.objects.get(name=OVERDUE_ALERT)
    assert overdue.occurrences == 2
    assert Notification.objects.filter(alert=overdue).count() == 1

    incidents_escalate(now=late + timedelta(hours=1, minutes=1))
    assert Notification.objects.filter(alert=overdue, kind="repeat").count() == 1


def test_an_acknowledged_incident_does_not_escalate(staff_user):
    incident = critical_incident("Down", "m")
    incident_acknowledge(incident_id=incident.pk, user=staff_user)

    outcome = incidents_escalate(now=incident.response_due_at + timedelta(hours=1))

    assert outcome.overdue == 0
    assert not Alert.objects.filter(name=OVERDUE_ALERT).exists()


def test_acknowledging_late_resolves_the_overdue_alert(staff_user, channel):
    incident = critical_incident("Down", "m")
    incidents_escalate(now=incident.response_due_at + timedelta(minutes=5))

    incident_acknowledge(
        incident_id=incident.pk,
        user=staff_user,
        now=incident.response_due_at + timedelta(minutes=7),
    )

    overdue = Alert.objects.get(name=OVERDUE_ALERT)
    assert overdue.status == AlertStatus.RESOLVED
    assert Notification.objects.filter(alert=overdue, kind="resolved").count() == 1
    entry = incident.timeline.get(kind=TimelineKind.ACKNOWLEDGED)
    assert "7 min after the response time" in entry.text
    incident.refresh_from_db()
    assert incident.commander == staff_user


def test_acknowledging_the_alert_acknowledges_its_incident(staff_user):
    alert = fire("Down", "critical", "m")
    alert_acknowledge(alert_id=alert.pk, user=staff_user)
    incident = Incident.objects.get()
    assert incident.acknowledged_by == staff_user
    assert f"via alert #{alert.pk}" in incident.timeline.get(kind="acknowledged").text


def test_stages_move_forward_and_each_move_is_recorded(staff_user):
    incident = incident_create(title="Auth failing", severity="medium", user=staff_user)

    incident = incident_transition(
        incident_id=incident.pk, stage="assessed", user=staff_user, note="Login 500s, 30 % users"
    )
    incident = incident_transition(incident_id=incident.pk, stage="responding", user=staff_user)

    assert incident.stage == Stage.RESPONDING
    moves = list(incident.timeline.filter(kind=TimelineKind.STAGE).order_by("at", "id"))
    assert [(m.from_stage, m.to_stage) for m in moves] == [
        ("detected", "assessed"),
        ("assessed", "responding"),
    ]
    assert moves[0].text == "Login 500s, 30 % users"
    assert moves[0].actor == staff_user
    assert incident.acknowledged_at is not None  # leaving `detected` means someone is on it


def test_a_backward_move_is_refused(staff_user):
    incident = walk(
        incident_create(title="x", severity="low", user=staff_user), "responding", user=staff_user
    )
    with pytest.raises(ConflictError, match="stages only move forward"):
        incident_transition(incident_id=incident.pk, stage="assessed", user=staff_user)
    with pytest.raises(ConflictError):
        incident_transition(incident_id=incident.pk, stage="responding", user=staff_user)
    assert Incident.objects.get().stage == Stage.RESPONDING


def test_an_unknown_stage_is_a_validation_error(staff_user):
    incident = incident_create(title="x", severity="low", user=staff_user)
    with pytest.raises(ValidationError):
        incident_transition(incident_id=incident.pk, stage="fixed", user=staff_user)


def test_resolving_sets_resolved_at(staff_user):
    incident = walk(
        incident_create(title="x", severity="low", user=staff_user), "resolved", user=staff_user
    )
    assert incident.resolved_at is not None
    assert incident.closed_at is None


def test_a_low_incident_may_close_without_a_postmortem(staff_user):
    incident = walk(
        incident_create(title="UI glitch", severity="low", user=staff_user),
        "resolved",
        "closed",
        user=staff_user,
    )
    assert incident.stage == Stage.CLOSED
    assert incident.closed_at is not None


@pytest.mark.parametrize("severity", ["critical", "high"])
def test_a_critical_or_high_incident_cannot_close_before_its_postmortem(severity, staff_user):
    incident = walk(
        incident_create(title="Outage", severity=severity, user=staff_user),
        "resolved",
        user=staff_user,
    )
    with pytest.raises(ConflictError, match="needs a post-mortem"):
        incident_transition(incident_id=incident.pk, stage="closed", user=staff_user)


def test_the_postmortem_stage_offers_a_template_from_the_timeline(staff_user):
    alert = fire("Database Unreachable", "critical", "no answer")
    assert alert.incident is not None
    incident = walk(alert.incident, "assessed", user=staff_user, note="Primary is down")
    incident = walk(incident, "resolved", "postmortem", user=staff_user)

    text = incident.postmortem
    assert text.startswith(f"# Post-mortem: Database Unreachable (incident #{incident.pk})")
    assert "Primary is down" in text
    assert "Opened automatically by critical alert" in text
    assert f"#{alert.pk} Database Unreachable (critical" in text
    assert "## Root cause" in text
    assert PLACEHOLDER in text


def test_closing_needs_the_template_sections_written(staff_user):
    incident = walk(
        incident_create(title="Outage", severity="critical", user=staff_user),
        "resolved",
        "postmortem",
        user=staff_user,
    )
    with pytest.raises(ConflictError, match="unwritten sections"):
        incident_transition(incident_id=incident.pk, stage="closed", user=staff_user)
    with pytest.raises(ConflictError, match="Write the post-mortem"):
        incident_transition(
            incident_id=incident.pk, stage="closed", user=staff_user, postmortem=" "
        )

    closed = incident_transition(
        incident_id=incident.pk, stage="closed", user=staff_user, postmortem=written(incident)
    )

    assert closed.stage == Stage.CLOSED
    assert "Written by the team." in closed.postmortem
    assert closed.timeline.filter(kind=TimelineKind.POSTMORTEM).exists()


def test_incidents_created_by_staff_record_who_and_link_alerts(staff_user):
    alert = fire("Slow", "medium", "m")
    incident = incident_create(
        title="Slow API", severity="medium", user=staff_user, alert_ids=[alert.pk]
    )
    assert incident.created_by == staff_user
    assert list(incident.alerts.all()) == [alert]
    assert TimelineEntry.objects.filter(incident=incident, kind="alert").count() == 1


def test_creating_with_unknown_alerts_is_refused(staff_user):
    with pytest.raises(ValidationError) as info:
        incident_create(title="x", severity="low", user=staff_user, alert_ids=[999999])
    assert info.value.details is not None
    assert "alert_ids" in info.value.details


def test_the_escalation_command_reports_counts(capsys):
    from django.core.management import call_command

    incident = critical_incident("Down", "m")
    Incident.objects.filter(pk=incident.pk).update(
        response_due_at=timezone.now() - timedelta(minutes=1)
    )
    call_command("escalate_incidents")
    assert "1 incidents overdue (1 newly escalated)" in capsys.readouterr().out


def test_alert_raise_with_an_incident_attaches_to_it(staff_user):
    incident = incident_create(title="x", severity="low", user=staff_user)
    alert = alert_raise(name="Linked", severity="critical", message="m", incident_id=incident.pk)
    assert alert is not None
    assert alert.incident_id == incident.pk
    assert Incident.objects.count() == 1
