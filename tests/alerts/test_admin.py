"""Staff screens: alerts with filters and actions, silences, incidents with their timeline and
stage actions, notifications and attempts, channel health."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from alerts.incidents import incident_transition
from alerts.models import (
    Alert,
    AlertStatus,
    Incident,
    NotificationChannel,
    Silence,
    Stage,
)
from alerts.notifiers import configured_channels
from alerts.postmortem import PLACEHOLDER
from tests.alerts.helpers import critical_incident, fire

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/alerts/alert/"


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def action(client, url: str, name: str, objects, **extra):
    return client.post(
        url, {"action": name, "_selected_action": [o.pk for o in objects], **extra}, follow=True
    )


@pytest.mark.parametrize(
    "url",
    [
        "/admin/alerts/alert/",
        "/admin/alerts/silence/",
        "/admin/alerts/silence/add/",
        "/admin/alerts/incident/",
        "/admin/alerts/incident/add/",
        "/admin/alerts/notification/",
        "/admin/alerts/notificationattempt/",
        "/admin/alerts/notificationchannel/",
        "/admin/maintenance/maintenancerun/",
    ],
)
def test_every_screen_renders(admin_client, url):
    fire("Down", "critical", "m")
    assert admin_client.get(url).status_code == 200


def test_alerts_filter_by_status_and_severity(admin_client):
    fire("Crit-alert", "critical", "m")
    fire("Low-alert", "low", "m")

    page = admin_client.get(CHANGELIST, {"severity__exact": "low", "status__exact": "firing"})

    assert b"Low-alert" in page.content
    assert b"Crit-alert" not in page.content


def test_the_acknowledge_action_records_who(admin_client, superuser):
    alert = fire("Disk", "high", "m")

    response = action(admin_client, CHANGELIST, "acknowledge_alerts", [alert])

    assert b"Acknowledged 1 alert(s)." in response.content
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == superuser
    assert LogEntry.objects.filter(object_id=str(alert.pk)).exists()


def test_the_resolve_action_reports_alerts_it_could_not_resolve(admin_client):
    open_one = fire("Open", "high", "m")
    done = fire("Done", "high", "m")
    Alert.objects.filter(pk=done.pk).update(status=AlertStatus.RESOLVED)

    response = action(admin_client, CHANGELIST, "resolve_alerts", [open_one, done])

    assert b"Resolved 1 alert(s)." in response.content
    assert b"Alert is already resolved" in response.content
    open_one.refresh_from_db()
    assert open_one.status == AlertStatus.RESOLVED


def test_the_silence_action_asks_for_a_duration_then_silences(admin_client, superuser):
    alert = fire("Flapping", "high", "m")

    form = action(admin_client, CHANGELIST, "silence_alerts", [alert])
    assert b"Silence alerts" in form.content
    assert b"Flapping" in form.content
    done = action(
        admin_client, CHANGELIST, "silence_alerts", [alert], apply="1", hours="3", comment="deploy"
    )

    assert b"Silenced 1 alert fingerprint(s)" in done.content
    silence = Silence.objects.get()
    assert silence.fingerprint == alert.fingerprint
    assert silence.created_by == superuser
    assert silence.comment == "deploy"
    assert timedelta(hours=2, minutes=59) < silence.ends_at - timezone.now() <= timedelta(hours=3)


def test_a_silence_is_added_by_name_pattern(admin_client, superuser):
    now = timezone.now()
    response = admin_client.post(
        "/admin/alerts/silence/add/",
        {
            "name_pattern": "High * Usage",
            "starts_at_0": now.strftime("%Y-%m-%d"),
            "starts_at_1": now.strftime("%H:%M:%S"),
            "ends_at_0": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
            "ends_at_1": now.strftime("%H:%M:%S"),
            "comment": "maintenance window",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    silence = Silence.objects.get()
    assert silence.name_pattern == "High * Usage"
    assert silence.created_by == superuser


def test_a_silence_without_a_target_is_refused_on_the_form(admin_client):
    now = timezone.now()
    response = admin_client.post(
        "/admin/alerts/silence/add/",
        {
            "starts_at_0": now.strftime("%Y-%m-%d"),
            "starts_at_1": now.strftime("%H:%M:%S"),
            "ends_at_0": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
            "ends_at_1": now.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 200
    assert b"Give a fingerprint or a name pattern" in response.content
    assert not Silence.objects.exists()


def test_ending_a_silence_from_the_admin(admin_client):
    from alerts.silences import silence_create

    silence = silence_create(name_pattern="*", ends_at=timezone.now() + timedelta(hours=1))
    action(admin_client, "/admin/alerts/silence/", "end_silences", [silence])
    silence.refresh_from_db()
    assert not silence.is_active()


def test_an_incident_page_shows_its_timeline_inline(admin_client):
    incident = critical_incident("Database Unreachable", "m")

    page = admin_client.get(f"/admin/alerts/incident/{incident.pk}/change/")

    assert page.status_code == 200
    assert b"Opened automatically by critical alert" in page.content
    assert b"Database Unreachable" in page.content


def test_stage_actions_move_incidents_and_refuse_illegal_moves(admin_client, superuser):
    incident = critical_incident("Down", "m")

    moved = action(admin_client, "/admin/alerts/incident/", "move_to_responding", [incident])
    assert b"Moved 1 incident(s) to responding." in moved.content
    refused = action(admin_client, "/admin/alerts/incident/", "move_to_closed", [incident])
    assert b"needs a post-mortem" in refused.content
    incident.refresh_from_db()
    assert incident.stage == Stage.RESPONDING
    assert incident.acknowledged_by == superuser


def test_a_note_added_in_the_form_lands_on_the_timeline(admin_client, superuser):
    incident = critical_incident("Down", "m")
    response = admin_client.post(
        f"/admin/alerts/incident/{incident.pk}/change/",
        {
            "description": incident.description,
            "commander": "",
            "note": "Failing over to the replica",
            "timeline-TOTAL_FORMS": "0",
            "timeline-INITIAL_FORMS": "0",
            "alerts-TOTAL_FORMS": "0",
            "alerts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    note = incident.timeline.get(kind="note")
    assert note.text == "Failing over to the replica"
    assert note.actor == superuser


def test_the_postmortem_is_edited_in_the_form_and_offered_as_a_template(admin_client, superuser):
    incident = critical_incident("Down", "m")
    for stage in ("resolved", "postmortem"):
        incident_transition(incident_id=incident.pk, stage=stage, user=superuser)

    page = admin_client.get(f"/admin/alerts/incident/{incident.pk}/change/")
    assert b"Post-mortem template (from the timeline)" in page.content
    assert PLACEHOLDER.encode() in page.content

    admin_client.post(
        f"/admin/alerts/incident/{incident.pk}/change/",
        {
            "description": incident.description,
            "commander": superuser.pk,
            "postmortem": "Summary: primary disk died. Fixed by failover.",
            "note": "",
            "timeline-TOTAL_FORMS": "0",
            "timeline-INITIAL_FORMS": "0",
            "alerts-TOTAL_FORMS": "0",
            "alerts-INITIAL_FORMS": "0",
        },
    )
    closed = action(admin_client, "/admin/alerts/incident/", "move_to_closed", [incident])
    assert b"Moved 1 incident(s) to closed." in closed.content
    assert Incident.objects.get().postmortem.startswith("Summary: primary disk died.")


def test_an_incident_added_in_the_admin_gets_its_response_time(admin_client, superuser):
    response = admin_client.post(
        "/admin/alerts/incident/add/",
        {"title": "Auth failing", "severity": "high", "description": "401s", "commander": ""},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    incident = Incident.objects.get()
    assert incident.created_by == superuser
    assert incident.response_due_at - incident.detected_at == timedelta(hours=1)


def test_failing_channels_are_flagged_in_the_admin(admin_client, channel, settings):
    settings.ALERT_CHANNEL_FAILING_AFTER = 2
    (configured,) = configured_channels()
    NotificationChannel.objects.create(
        key=configured.key,
        label=configured.label,
        consecutive_failures=5,
        last_error="Connection refused",
    )

    page = admin_client.get("/admin/alerts/notificationchannel/", {"o": "1"})

    assert page.status_code == 200
    assert configured.label.encode() in page.content
    assert b"Connection refused" in page.content
    assert b">failing</span>" in page.content  # the failing column, in words


def test_notification_attempts_are_read_only(admin_client, channel):
    fire("Down", "critical", "m")
    from alerts.models import Notification
    from alerts.notifications import notification_deliver

    notification_deliver(notification_id=Notification.objects.get().pk)
    listing = admin_client.get("/admin/alerts/notificationattempt/")
    assert listing.status_code == 200
    assert b"/admin/alerts/notificationattempt/add/" not in listing.content
