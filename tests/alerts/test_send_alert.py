"""send_alert: the guide's sendAlert, with fingerprints, deduplication and the repeat interval."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from alerts.models import Alert, AlertStatus, Notification, NotificationKind
from alerts.occurrences import alert_fingerprint
from alerts.services import alert_acknowledge, alert_raise, send_alert
from beo_automation.errors import ValidationError
from tests.logs import wait_for_line

pytestmark = pytest.mark.django_db


def notifications(kind: str | None = None) -> int:
    qs = Notification.objects.all()
    return qs.filter(kind=kind).count() if kind else qs.count()


def test_send_alert_logs_an_error_line_named_after_the_alert():
    name = f"Backup Failed {uuid.uuid4().hex[:6]}"
    send_alert(name=name, severity="critical", message="pg_dump exited 1", metadata={"run": 7})

    line = wait_for_line(lambda entry: entry.get("event") == f"ALERT: {name}", name="error.log")
    assert line["level"] == "error"
    assert line["severity"] == "critical"
    assert line["message"] == "pg_dump exited 1"
    assert line["metadata"] == {"run": 7}


def test_send_alert_stores_the_alert():
    alert = send_alert(
        name="Backup Failed", severity="high", message="disk full", metadata={"a": 1}
    )

    assert alert is not None
    stored = Alert.objects.get(pk=alert.pk)
    assert stored.status == AlertStatus.FIRING
    assert stored.severity == "high"
    assert stored.message == "disk full"
    assert stored.metadata == {"a": 1}
    assert stored.occurrences == 1
    assert stored.fingerprint == alert_fingerprint(name="Backup Failed", labels={})


def test_metadata_that_json_cannot_hold_is_stored_as_text():
    alert = send_alert(
        name="Odd",
        severity="low",
        message="m",
        metadata={"when": timezone.now(), "err": OSError(5)},
    )
    assert alert is not None
    assert isinstance(alert.metadata["when"], str)
    assert alert.metadata["err"] == "5"


def test_a_repeated_alert_updates_the_open_one_instead_of_adding_a_row(settings, channel):
    first = send_alert(name="Disk Full", severity="high", message="95 %")
    second = send_alert(name="Disk Full", severity="high", message="96 %", metadata={"pct": 96})

    assert first is not None
    assert second is not None
    assert second.pk == first.pk
    alert = Alert.objects.get()
    assert alert.occurrences == 2
    assert alert.message == "96 %"
    assert alert.metadata == {"pct": 96}
    assert alert.last_seen > alert.first_seen
    assert notifications() == 1  # paged once


def test_labels_make_separate_alerts():
    a = send_alert(name="High Disk Usage", severity="high", message="m", labels={"path": "/a"})
    b = send_alert(name="High Disk Usage", severity="high", message="m", labels={"path": "/b"})
    c = send_alert(name="High Disk Usage", severity="high", message="m", labels={"path": "/a"})
    assert a is not None
    assert b is not None
    assert c is not None
    assert a.pk != b.pk
    assert c.pk == a.pk


def test_the_fingerprint_ignores_label_order():
    assert alert_fingerprint(name="x", labels={"a": 1, "b": 2}) == alert_fingerprint(
        name="x", labels={"b": "2", "a": "1"}
    )


def test_it_notifies_again_only_after_the_repeat_interval(settings, channel):
    settings.ALERT_REPEAT_INTERVAL = 4 * 3600
    start = timezone.now()
    alert_raise(name="Queue Stuck", severity="high", message="m", now=start)
    alert_raise(name="Queue Stuck", severity="high", message="m", now=start + timedelta(hours=1))
    alert_raise(name="Queue Stuck", severity="high", message="m", now=start + timedelta(hours=3))
    assert notifications(NotificationKind.FIRING) == 1
    assert notifications(NotificationKind.REPEAT) == 0

    alert_raise(name="Queue Stuck", severity="high", message="m", now=start + timedelta(hours=4))

    assert notifications(NotificationKind.REPEAT) == 1
    alert = Alert.objects.get()
    assert alert.occurrences == 4
    assert alert.last_notified_at == start + timedelta(hours=4)
    repeat = Notification.objects.get(kind=NotificationKind.REPEAT)
    assert "still firing, 4 occurrences" in repeat.title


def test_an_acknowledged_alert_is_not_repeated(settings, channel, staff_user):
    start = timezone.now()
    alert = alert_raise(name="Queue Stuck", severity="high", message="m", now=start)
    assert alert is not None
    alert_acknowledge(alert_id=alert.pk, user=staff_user)

    alert_raise(name="Queue Stuck", severity="high", message="m", now=start + timedelta(hours=5))

    assert notifications(NotificationKind.REPEAT) == 0
    assert Alert.objects.get().status == AlertStatus.ACKNOWLEDGED


def test_a_worse_severity_notifies_at_once(channel):
    send_alert(name="Error Rate", severity="high", message="6 %")
    send_alert(name="Error Rate", severity="critical", message="60 %")

    assert notifications(NotificationKind.FIRING) == 2
    assert Alert.objects.get().severity == "critical"


def test_a_severity_flapping_across_a_level_pages_once_for_it(channel):
    for severity in ("high", "medium", "high", "medium", "high"):
        send_alert(name="Error Rate", severity=severity, message="m")
    assert notifications(NotificationKind.FIRING) == 1
    send_alert(name="Error Rate", severity="critical", message="m")
    assert notifications(NotificationKind.FIRING) == 2


def test_below_the_notify_bar_an_alert_is_stored_but_not_notified(settings, channel):
    settings.ALERT_NOTIFY_MIN_SEVERITY = "high"
    alert = send_alert(name="Slow", severity="medium", message="m")
    assert alert is not None
    assert notifications() == 0


def test_critical_always_notifies_whatever_the_bar(settings, channel):
    settings.ALERT_NOTIFY_MIN_SEVERITY = "critical"
    send_alert(name="Down", severity="critical", message="m")
    send_alert(name="Worse", severity="high", message="m")
    assert notifications() == 1


def test_the_bar_can_be_lowered(settings, channel):
    settings.ALERT_NOTIFY_MIN_SEVERITY = "low"
    send_alert(name="FYI", severity="low", message="m")
    assert notifications() == 1


def test_no_channels_means_stored_and_logged_only():
    send_alert(name="Down", severity="critical", message="m")
    assert Alert.objects.count() == 1
    assert notifications() == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "", "severity": "high", "message": "m"}, "name"),
        ({"name": "x" * 201, "severity": "high", "message": "m"}, "name"),
        ({"name": "x", "severity": "urgent", "message": "m"}, "severity"),
        ({"name": "x", "severity": "high", "message": "m", "metadata": [1]}, "metadata"),
        ({"name": "x", "severity": "high", "message": "m", "labels": "a"}, "labels"),
    ],
)
def test_bad_input_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(ValidationError) as info:
        send_alert(**kwargs)
    assert info.value.details is not None
    assert set(info.value.details) == {field}
    assert Alert.objects.count() == 0


def test_severity_is_case_insensitive():
    alert = send_alert(name="x", severity="HIGH", message="m")
    assert alert is not None
    assert alert.severity == "high"


def test_a_new_occurrence_after_resolution_opens_a_new_alert(staff_user):
    from alerts.resolution import alert_resolve

    first = send_alert(name="Flapping", severity="high", message="m")
    assert first is not None
    alert_resolve(alert_id=first.pk, user=staff_user)
    second = send_alert(name="Flapping", severity="high", message="m")
    assert second is not None
    assert second.pk != first.pk
    assert Alert.objects.filter(status=AlertStatus.FIRING).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_occurrences_make_one_alert_with_every_occurrence_counted():
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def raise_one() -> None:
        try:
            barrier.wait()
            send_alert(name="Race", severity="high", message="m")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=raise_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    alert = Alert.objects.get(name="Race")
    assert alert.occurrences == 6
