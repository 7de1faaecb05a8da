"""The audit trail: API state changes and admin edits are recorded with actor, IP, request id,
object and changes; GET /api/audit/ is staff-only, filtered and paged; the admin is read-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from alerts.incidents import (
    incident_add_note,
    incident_details_update,
    incident_postmortem_update,
    incident_transition,
)
from alerts.models import Silence
from alerts.silences import silence_expire
from events.models import Event, Status, new_webhook_secret
from maintenance.services.audit import audit_purge, audit_record
from maintenance.services.run_records import current_os_user
from maintenance.services.security.configuration import AUDIT_MIDDLEWARE, check_audit_logging
from tests.alerts.helpers import critical_incident, fire
from tests.factories import EventFactory, SubscriptionFactory
from tests.maintenance.helpers import old_completed_events

pytestmark = [pytest.mark.django_db]

REQUEST_ID = "audit-test-1"


def only_entry(model: str = "event", **filters) -> LogEntry:
    (entry,) = LogEntry.objects.filter(content_type__model=model, **filters)
    return entry


def test_an_api_retry_is_recorded_with_actor_ip_request_id_and_change(auth_client, user):
    event = EventFactory(owner=user, status=Status.FAILED, attempts=5, max_attempts=5)
    response = auth_client.post(
        f"/api/events/{event.pk}/retry/", HTTP_X_REQUEST_ID=REQUEST_ID, REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 200
    entry = only_entry(object_pk=str(event.pk))
    assert entry.actor == user
    assert entry.remote_addr == "10.1.2.3"
    assert entry.cid == REQUEST_ID
    assert entry.content_type.model == "event"
    assert entry.changes == {"status": ["failed", "pending"]}
    assert entry.additional_data == {"operation": "retry"}


def test_an_api_cancel_is_recorded(auth_client, user):
    event = EventFactory(owner=user, status=Status.PENDING)
    assert auth_client.post(f"/api/events/{event.pk}/cancel/").status_code == 200
    entry = only_entry(object_pk=str(event.pk))
    assert entry.actor == user
    assert entry.changes == {"status": ["pending", "cancelled"]}


def test_a_refused_cancel_leaves_no_record(auth_client, user):
    event = EventFactory(owner=user, status=Status.COMPLETED)
    assert auth_client.post(f"/api/events/{event.pk}/cancel/").status_code == 409
    assert not LogEntry.objects.filter(content_type__model="event").exists()


def test_a_bulk_create_is_one_record_with_its_count_and_ids(auth_client, user):
    body = [{"type": "beo.created", "payload": {"n": n}} for n in range(3)]
    response = auth_client.post(
        "/api/events/bulk/", body, format="json", HTTP_X_REQUEST_ID=REQUEST_ID
    )
    assert response.status_code == 201, response.content
    ids = sorted(Event.objects.values_list("pk", flat=True))
    entry = only_entry()
    assert entry.actor == user
    assert entry.cid == REQUEST_ID
    assert entry.action == LogEntry.Action.CREATE
    assert entry.additional_data["count"] == 3
    assert entry.additional_data["ids"] == ids


def test_an_api_acknowledge_is_recorded(staff_client, staff_user):
    alert = fire("Disk full")
    response = staff_client.post(
        f"/api/alerts/{alert.pk}/acknowledge/", HTTP_X_REQUEST_ID=REQUEST_ID
    )
    assert response.status_code == 200, response.content
    entry = only_entry("alert", object_pk=str(alert.pk), additional_data__operation="acknowledge")
    assert entry.actor == staff_user
    assert entry.cid == REQUEST_ID
    assert entry.changes == {"status": ["firing", "acknowledged"]}


def test_an_api_resolve_is_recorded(staff_client, staff_user):
    alert = fire("Disk full")
    response = staff_client.post(f"/api/alerts/{alert.pk}/resolve/", {}, format="json")
    assert response.status_code == 200, response.content
    entry = only_entry("alert", object_pk=str(alert.pk), additional_data__operation="resolve")
    assert entry.actor == staff_user
    assert entry.changes == {"status": ["open", "resolved"]}


def test_an_admin_edit_is_recorded_by_auditlog(client, superuser, user):
    client.force_login(superuser)
    response = client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": user.username,
            "first_name": "Alice",
            "last_name": "",
            "email": "",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
        HTTP_X_REQUEST_ID=REQUEST_ID,
    )
    assert response.status_code == 302, response.content[:3000]
    entry = only_entry("user", object_pk=str(user.pk), action=LogEntry.Action.UPDATE)
    assert entry.actor == superuser
    assert entry.remote_addr == "127.0.0.1"
    assert entry.cid == REQUEST_ID
    assert entry.changes["first_name"] == ["", "Alice"]


def test_the_audit_api_needs_a_token_and_staff(api_client, auth_client):
    assert api_client.get("/api/audit/").status_code == 401
    assert auth_client.get("/api/audit/").status_code == 403


def test_the_audit_api_filters_and_pages(staff_client, auth_client, user):
    events = [EventFactory(owner=user, status=Status.PENDING) for _ in range(3)]
    for event in events:
        auth_client.post(f"/api/events/{event.pk}/cancel/")
    page = staff_client.get("/api/audit/", {"actor": "alice", "page_size": 2}).json()
    assert [r["object_id"] for r in page["results"]] == [str(events[2].pk), str(events[1].pk)]
    assert page["results"][0]["object_type"] == "events.event"
    assert page["results"][0]["action"] == "update"
    rest = staff_client.get(page["next"]).json()
    assert [r["object_id"] for r in rest["results"]] == [str(events[0].pk)]
    by_object = staff_client.get(
        "/api/audit/", {"object_type": "events.event", "object_id": str(events[1].pk)}
    ).json()
    assert len(by_object["results"]) == 1
    assert staff_client.get("/api/audit/", {"actor": "nobody"}).json()["results"] == []
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert staff_client.get("/api/audit/", {"since": future}).json()["results"] == []


@pytest.mark.parametrize(
    "query",
    [
        {"since": "yesterday"},
        {"action": "explode"},
        {"object_type": "no-dot"},
        {"object_id": "a\x00b"},
        {"actor": "x" * 200},
        {"cursor": "!!!"},
        {"page_size": "0"},
        {"actor": ""},
    ],
)
def test_bad_audit_filters_are_a_400_envelope(staff_client, query):
    response = staff_client.get("/api/audit/", query)
    assert response.status_code == 400, response.content
    assert response.json()["success"] is False


def test_nobody_can_add_change_or_delete_records_in_the_admin(client, superuser):
    silence = Silence.objects.create(name_pattern="x", ends_at=timezone.now() + timedelta(hours=1))
    entry = only_entry("silence", object_pk=str(silence.pk))
    client.force_login(superuser)
    assert client.get("/admin/auditlog/logentry/", {"q": "x"}).status_code == 200
    assert client.get("/admin/auditlog/logentry/add/").status_code == 403
    change = client.post(f"/admin/auditlog/logentry/{entry.pk}/change/", {"object_repr": "y"})
    assert change.status_code in (200, 403)
    assert (
        client.post(f"/admin/auditlog/logentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert LogEntry.objects.get(pk=entry.pk).object_repr == entry.object_repr


def test_records_older_than_the_retention_are_purged(auth_client, user, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    old, recent = (EventFactory(owner=user, status=Status.PENDING) for _ in range(2))
    LogEntry.objects.all().delete()  # the users' creation
    with time_machine.travel(timezone.now() - timedelta(days=31)):
        audit_record(model=Event, object_id=old.pk, object_repr="old", actor=user)
    auth_client.post(f"/api/events/{recent.pk}/cancel/")
    assert audit_purge() == 1
    assert list(
        LogEntry.objects.filter(content_type__model="event").values_list("object_pk", flat=True)
    ) == [str(recent.pk)]


def test_an_operator_command_is_recorded_with_os_user_outcome_and_arguments():
    call_command("prune_maintenance_runs", "--days", "30", verbosity=0)
    entry = only_entry("maintenancerun")
    assert entry.action == LogEntry.Action.CREATE
    data = entry.additional_data
    assert data["operation"] == "prune_runs"
    assert data["trigger"] == "command"
    assert current_os_user() in data["triggered_by"]
    assert data["outcome"] == "success"
    assert data["arguments"] == {"days": 30}


@pytest.mark.django_db(transaction=True)  # VACUUM cannot run inside the test's transaction
def test_vacuum_full_is_recorded_with_its_parameters():
    call_command("vacuum_db", "events_subscription", "--full", "--no-input", verbosity=0)
    entry = only_entry("maintenancerun")
    assert entry.additional_data["operation"] == "vacuum_db"
    assert entry.additional_data["arguments"] == {
        "tables": ["events_subscription"],
        "full": True,
        "analyze": True,
    }


def test_the_security_check_passes_the_audit_item_only_with_the_middleware(settings):
    assert check_audit_logging().status == "pass"
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != AUDIT_MIDDLEWARE]
    result = check_audit_logging()
    assert result.status == "fail"
    assert any("AuditlogMiddleware" in line for line in result.details)
    assert not LogEntry.objects.filter(object_repr="security_check probe").exists()


def test_an_api_create_is_recorded_in_the_same_statement(auth_client, user):
    response = auth_client.post(
        "/api/events/",
        {"type": "beo.created", "payload": {}},
        format="json",
        HTTP_X_REQUEST_ID=REQUEST_ID,
        REMOTE_ADDR="10.4.4.4",
    )
    assert response.status_code == 201, response.content
    entry = only_entry(object_pk=str(response.json()["id"]))
    assert entry.action == LogEntry.Action.CREATE
    assert entry.actor == user
    assert entry.cid == REQUEST_ID
    assert entry.remote_addr == "10.4.4.4"
    assert entry.object_repr == f"Event #{response.json()['id']}"


def test_an_incident_transition_is_recorded(staff_client, staff_user):
    incident = critical_incident()
    response = staff_client.post(
        f"/api/incidents/{incident.pk}/transition/",
        {"stage": "assessed", "note": "on it"},
        format="json",
        HTTP_X_REQUEST_ID=REQUEST_ID,
    )
    assert response.status_code == 200, response.content
    entry = only_entry(
        "incident", object_pk=str(incident.pk), additional_data__operation="transition"
    )
    assert entry.actor == staff_user
    assert entry.cid == REQUEST_ID
    assert entry.changes == {"stage": ["detected", "assessed"]}


@pytest.mark.parametrize(
    "query_string",
    [
        "since=0001-01-01T00:00:00%2B14:00",
        "since=9999-12-31T23:59:59-14:00",
        "since=%00",
        "object_id=%C0%AF",
        "actor=%E2%80%AEbob",
        "object_type=a.b%00",
        "page_size=1e999",
        "cursor=cD0xMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMw%3D%3D",
    ],
)
def test_crafted_audit_query_strings_are_a_4xx_not_a_500(staff_client, query_string):
    response = staff_client.get(f"/api/audit/?{query_string}")
    assert 400 <= response.status_code < 500 or response.status_code == 200, response.content
    assert response.status_code != 500


def test_a_change_made_after_a_request_in_the_same_thread_is_not_put_on_that_requests_actor(
    auth_client, user
):
    # auditlog keeps the last request's context in its context variable; our middleware ends
    # it with the request, so a later change without a request names no actor and no address.
    event = EventFactory(owner=user, status=Status.FAILED)
    assert (
        auth_client.post(f"/api/events/{event.pk}/retry/", REMOTE_ADDR="203.0.113.9").status_code
        == 200
    )
    record = audit_record(model=Event, object_id=event.pk, object_repr="later", action="update")
    assert record.actor is None
    assert record.remote_addr is None
    assert record.cid is None


def run_entry(operation: str) -> LogEntry:
    (entry,) = [
        e
        for e in LogEntry.objects.filter(content_type__model="maintenancerun")
        if e.additional_data["operation"] == operation
    ]
    return entry


def test_a_backup_is_recorded_with_its_file_and_size(backup_dir):
    call_command("backup_db", verbosity=0)
    (backup,) = backup_dir.glob("beo_automation_*.sql.gz")

    data = run_entry("backup_db").additional_data
    assert data["outcome"] == "success"
    assert data["trigger"] == "command"
    assert current_os_user() in data["triggered_by"]
    assert data["summary"]["file"] == backup.name
    assert data["summary"]["bytes"] == backup.stat().st_size


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # archive_events commits batch by batch
def test_an_archive_is_recorded_with_what_it_moved():
    old_completed_events(3)

    call_command("archive_events", "--days", "90", "--batch-size", "2", verbosity=0)

    data = run_entry("archive_events").additional_data
    assert data["outcome"] == "success"
    assert data["arguments"]["days"] == 90
    assert data["arguments"]["batch_size"] == 2
    assert data["summary"]["moved"] == 3


def test_a_failed_operator_command_is_recorded_as_failed(backup_dir):
    with pytest.raises(CommandError):
        call_command("verify_backup", str(backup_dir / "missing.sql.gz"), verbosity=0)

    data = run_entry("verify_backup").additional_data
    assert data["outcome"] == "failed"
    assert data["error"]


def test_a_subscription_changed_outside_the_admin_is_recorded_with_its_change():
    # A shell or a data migration saving through the ORM: auditlog's signals record it too.
    subscription = SubscriptionFactory()
    subscription.target_url = "https://hooks.example.com/new"
    subscription.save()

    created, changed = LogEntry.objects.filter(content_type__model="subscription").order_by("id")
    assert created.action == LogEntry.Action.CREATE
    assert changed.action == LogEntry.Action.UPDATE
    assert changed.object_pk == str(subscription.pk)
    assert changed.changes_dict["target_url"][1] == "https://hooks.example.com/new"
    assert changed.actor is None


def test_a_subscription_added_in_the_admin_is_recorded_with_its_actor(client, superuser):
    client.force_login(superuser)
    response = client.post(
        "/admin/events/subscription/add/",
        {
            "name": "Kitchen display",
            "type_pattern": "beo.*",
            "target_url": "https://hooks.example.com/kitchen",
            "secret": new_webhook_secret(),
            "is_active": "on",
        },
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    entry = only_entry("subscription")
    assert entry.action == LogEntry.Action.CREATE
    assert entry.actor == superuser
    assert entry.remote_addr == "203.0.113.9"
    assert entry.changes_dict["name"][1] == "Kitchen display"


def test_subscriptions_deactivated_by_the_admin_action_are_each_recorded(client, superuser):
    kept, stopped = SubscriptionFactory(is_active=False), SubscriptionFactory()
    LogEntry.objects.all().delete()
    client.force_login(superuser)

    response = client.post(
        "/admin/events/subscription/",
        {"action": "deactivate", "_selected_action": [kept.pk, stopped.pk]},
        REMOTE_ADDR="203.0.113.9",
    )

    assert response.status_code == 302
    entry = only_entry("subscription")  # the one that changed
    assert entry.object_pk == str(stopped.pk)
    assert entry.changes_dict["is_active"] == [True, False]
    assert entry.actor == superuser
    assert entry.remote_addr == "203.0.113.9"


def test_an_incident_acknowledge_is_recorded(staff_client, staff_user):
    incident = critical_incident()
    response = staff_client.post(
        f"/api/incidents/{incident.pk}/acknowledge/", HTTP_X_REQUEST_ID=REQUEST_ID
    )
    assert response.status_code == 200, response.content
    entry = only_entry(
        "incident", object_pk=str(incident.pk), additional_data__operation="acknowledge"
    )
    assert entry.actor == staff_user
    assert entry.cid == REQUEST_ID
    assert entry.changes["acknowledged_at"][0] is None


def test_incident_notes_details_and_postmortem_are_recorded(staff_user):
    incident = critical_incident()
    incident_add_note(incident_id=incident.pk, user=staff_user, text="DB failover started")
    incident_details_update(
        incident_id=incident.pk, user=staff_user, description="Primary lost", commander=staff_user
    )
    incident_transition(incident_id=incident.pk, user=staff_user, stage="postmortem")
    incident_postmortem_update(incident_id=incident.pk, user=staff_user, text="Root cause: disk")

    entries = {
        e.additional_data["operation"]: e
        for e in LogEntry.objects.filter(content_type__model="incident", object_pk=incident.pk)
        if e.additional_data
    }
    assert entries["note"].additional_data["note"] == "DB failover started"
    assert entries["details"].changes == {
        "description": ["m", "Primary lost"],  # the alert's message
        "commander": [None, staff_user.username],
    }
    assert entries["postmortem"].changes["postmortem"][1] == "Root cause: disk"
    assert {e.actor for e in entries.values()} == {staff_user}


def test_ending_a_silence_is_recorded(staff_user):
    silence = Silence.objects.create(
        name_pattern="Disk*", ends_at=timezone.now() + timedelta(hours=2), created_by=staff_user
    )
    silence_expire(silence_id=silence.pk, user=staff_user)

    entry = only_entry("silence", additional_data__operation="expire")
    assert entry.actor == staff_user
    before, after = entry.changes["ends_at"]
    assert before > after
