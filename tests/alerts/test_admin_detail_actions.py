"""An alert's and an incident's detail pages: Acknowledge / Resolve / stage buttons where the
state allows them, the API's services behind them, messages, permissions; and the friction
fixes on those pages (read-only severity bookkeeping, honest "notified", words not ✗ icons)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission

from alerts.incidents import incident_transition
from alerts.models import AlertStatus, Stage
from alerts.postmortem import incident_postmortem_template
from tests.alerts.helpers import critical_incident, fire

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def buttons(response) -> list[str]:
    return re.findall(
        r'class="beo-detail-action__button[^"]*" name="action" value="(\w+)"', response.text
    )


def messages_of(response) -> list[str]:
    found = re.findall(r'<li class="(?:success|warning|error)">(.*?)</li>', response.text, re.S)
    return [re.sub(r"<[^>]+>", "", m).strip() for m in found]


def alert_page(client, alert):
    return client.get(f"/admin/alerts/alert/{alert.pk}/change/")


def incident_page(client, incident):
    return client.get(f"/admin/alerts/incident/{incident.pk}/change/")


def test_a_firing_alert_offers_acknowledge_and_resolve(admin_client):
    alert = fire("Disk full", "high")
    assert buttons(alert_page(admin_client, alert)) == ["acknowledge", "resolve"]


def test_acknowledging_from_the_alert_page(admin_client, superuser):
    alert = fire("Disk full", "high")

    response = admin_client.post(f"/admin/alerts/alert/{alert.pk}/act/acknowledge/", follow=True)

    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == superuser
    assert messages_of(response) == [
        f"Acknowledged alert #{alert.pk} Disk full: no repeat notifications."
    ]
    assert buttons(response) == ["resolve"]


def test_resolving_from_the_alert_page_says_who_hears_of_it(admin_client, settings):
    settings.ALERT_NOTIFY_URLS = ""
    alert = fire("Disk full", "high")

    response = admin_client.post(f"/admin/alerts/alert/{alert.pk}/act/resolve/", follow=True)

    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert messages_of(response) == [
        f"Resolved alert #{alert.pk} Disk full. No channel configured: nobody was notified."
    ]
    assert buttons(response) == []


def test_a_stale_acknowledge_is_refused_with_the_reason(admin_client):
    alert = fire("Disk full", "high")
    admin_client.post(f"/admin/alerts/alert/{alert.pk}/act/resolve/")

    response = admin_client.post(f"/admin/alerts/alert/{alert.pk}/act/acknowledge/", follow=True)

    assert messages_of(response)[-1] == (
        "Not done: Alert is resolved; only a firing alert can be acknowledged"
    )


def test_staff_who_may_only_view_alerts_see_no_button_and_get_403(client, staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_alert"))
    client.force_login(staff_user)
    alert = fire("Disk full", "high")

    assert buttons(alert_page(client, alert)) == []
    assert client.post(f"/admin/alerts/alert/{alert.pk}/act/acknowledge/").status_code == 403
    alert.refresh_from_db()
    assert alert.status == AlertStatus.FIRING


def test_an_alert_page_has_no_editable_field(admin_client):
    # "Notified severity" is the notifier's bookkeeping; staff change an alert by its actions.
    alert = fire("Disk full", "high")
    text = alert_page(admin_client, alert).text
    assert 'name="notified_severity"' not in text
    assert 'name="_save"' not in text
    assert "Notified severity" in text  # still shown, read-only


def test_an_alert_without_a_channel_does_not_claim_anyone_was_notified(admin_client, settings):
    settings.ALERT_NOTIFY_URLS = ""
    alert = fire("Disk full", "high")
    text = alert_page(admin_client, alert).text
    assert "No channel configured: nobody was notified." in text


def test_the_alert_list_says_silenced_in_words(admin_client):
    fire("Disk full", "high")
    text = admin_client.get("/admin/alerts/alert/").text
    assert "icon-no.svg" not in text
    assert 'style="' not in text.split("<body", 1)[1]


def test_an_incident_offers_acknowledge_and_each_stage_ahead(admin_client):
    incident = critical_incident("Down")
    # Critical: it closes only from the post-mortem, so no "closed" button yet.
    assert buttons(incident_page(admin_client, incident)) == [
        "acknowledge",
        "move_to_assessed",
        "move_to_responding",
        "move_to_communicating",
        "move_to_resolved",
        "move_to_postmortem",
    ]


def test_moving_an_incident_from_its_page(admin_client, superuser):
    incident = critical_incident("Down")

    response = admin_client.post(
        f"/admin/alerts/incident/{incident.pk}/act/move_to_responding/", follow=True
    )

    incident.refresh_from_db()
    assert incident.stage == Stage.RESPONDING
    assert incident.acknowledged_by == superuser
    assert messages_of(response) == [f"Moved incident #{incident.pk} to responding."]
    assert buttons(response)[0] == "move_to_communicating"


def test_acknowledging_an_incident_from_its_page(admin_client, superuser):
    incident = critical_incident("Down")
    response = admin_client.post(
        f"/admin/alerts/incident/{incident.pk}/act/acknowledge/", follow=True
    )
    incident.refresh_from_db()
    assert incident.acknowledged_by == superuser
    assert messages_of(response) == [f"Acknowledged incident #{incident.pk}."]
    assert "acknowledge" not in buttons(response)


def test_a_backward_move_is_refused_with_the_reason(admin_client, superuser):
    incident = critical_incident("Down")
    incident_transition(incident_id=incident.pk, stage=Stage.RESOLVED, user=superuser)

    response = admin_client.post(
        f"/admin/alerts/incident/{incident.pk}/act/move_to_assessed/", follow=True
    )

    incident.refresh_from_db()
    assert incident.stage == Stage.RESOLVED
    assert messages_of(response) == [
        "Not done: Incident is resolved; stages only move forward (postmortem → closed)"
    ]


def test_staff_who_may_only_view_incidents_see_no_button_and_get_403(client, staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_incident"))
    client.force_login(staff_user)
    incident = critical_incident("Down")

    assert buttons(incident_page(client, incident)) == []
    url = f"/admin/alerts/incident/{incident.pk}/act/move_to_resolved/"
    assert client.post(url).status_code == 403
    incident.refresh_from_db()
    assert incident.stage == Stage.DETECTED


def test_the_postmortem_template_of_an_unresolved_incident_says_unresolved():
    incident = critical_incident("Down")
    text = incident_postmortem_template(incident)
    assert "- Resolved: not yet (unresolved as of " in text


def test_the_postmortem_template_of_a_resolved_incident_says_when(superuser):
    incident = critical_incident("Down")
    incident = incident_transition(incident_id=incident.pk, stage=Stage.RESOLVED, user=superuser)
    text = incident_postmortem_template(incident)
    assert f"- Resolved: {incident.resolved_at:%Y-%m-%d %H:%M:%S %Z} (after " in text


def test_the_incident_list_says_overdue_in_words(admin_client):
    critical_incident("Down")
    text = admin_client.get("/admin/alerts/incident/").text
    assert "icon-no.svg" not in text
    assert "icon-yes.svg" not in text


def test_the_incident_list_shows_the_response_in_one_column(admin_client, superuser):
    waiting = critical_incident("Down")
    acknowledged = critical_incident("Queue stalled")
    admin_client.post(f"/admin/alerts/incident/{acknowledged.pk}/act/acknowledge/")

    text = admin_client.get("/admin/alerts/incident/").text

    assert "due in 1" in text  # 15 minutes for a critical incident
    assert "ago by root" in text
    assert waiting.response_due_at is not None


def test_staff_who_may_only_view_get_no_list_actions_either(client, staff_user):
    staff_user.user_permissions.add(
        Permission.objects.get(codename="view_alert"),
        Permission.objects.get(codename="view_incident"),
    )
    client.force_login(staff_user)
    alert = fire("Disk full", "high")

    for url in ("/admin/alerts/alert/", "/admin/alerts/incident/"):
        assert 'name="action"' not in client.get(url).text
    client.post(
        "/admin/alerts/alert/", {"action": "acknowledge_alerts", "_selected_action": [alert.pk]}
    )
    alert.refresh_from_db()
    assert alert.status == AlertStatus.FIRING
