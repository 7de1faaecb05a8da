"""Silences: matching alerts are stored (and counted) but nobody is notified until it ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, Notification
from alerts.occurrences import alert_fingerprint
from alerts.services import alert_raise
from alerts.silences import silence_create, silence_expire
from beo_automation.errors import ConflictError, ValidationError
from tests.alerts.helpers import fire

pytestmark = pytest.mark.django_db


def test_a_silenced_fingerprint_is_stored_but_not_notified(channel, staff_user):
    silence = silence_create(
        fingerprint=alert_fingerprint(name="Disk Full", labels={"path": "/srv"}),
        ends_at=timezone.now() + timedelta(hours=2),
        comment="migrating the volume",
        user=staff_user,
    )

    alert = fire("Disk Full", "high", "m", labels={"path": "/srv"})
    other = fire("Disk Full", "high", "m", labels={"path": "/var"})

    assert Alert.objects.count() == 2
    assert alert.silenced_by == silence
    assert not Notification.objects.filter(alert=alert).exists()
    assert Notification.objects.filter(alert=other).count() == 1


def test_a_name_pattern_silences_every_matching_alert_case_insensitively(channel):
    silence_create(name_pattern="high * usage", ends_at=timezone.now() + timedelta(hours=1))

    fire("High Memory Usage", "high", "m")
    fire("High CPU Usage", "critical", "m")
    fire("Backup Failed", "high", "m")

    notified = set(Notification.objects.values_list("alert__name", flat=True))
    assert notified == {"Backup Failed"}
    assert Alert.objects.count() == 3


def test_when_the_silence_is_over_the_next_occurrence_notifies(channel):
    now = timezone.now()
    silence_create(name_pattern="Disk*", starts_at=now, ends_at=now + timedelta(hours=1))
    alert_raise(name="Disk Full", severity="high", message="m", now=now)
    assert not Notification.objects.exists()

    alert = alert_raise(
        name="Disk Full", severity="high", message="m", now=now + timedelta(hours=2)
    )

    assert alert is not None
    assert alert.silenced_by is None
    assert Notification.objects.filter(alert=alert, kind="firing").count() == 1


def test_a_future_silence_does_not_apply_yet(channel):
    now = timezone.now()
    silence_create(
        name_pattern="*", starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2)
    )
    fire("Down", "critical", "m")
    assert Notification.objects.count() == 1


def test_ending_a_silence_early(channel, staff_user):
    silence = silence_create(name_pattern="*", ends_at=timezone.now() + timedelta(hours=1))
    silence_expire(silence_id=silence.pk, user=staff_user)

    fire("Down", "critical", "m")

    assert Notification.objects.count() == 1
    with pytest.raises(ConflictError):
        silence_expire(silence_id=silence.pk, user=staff_user)


def test_ending_a_silence_that_has_not_started(staff_user):
    now = timezone.now()
    silence = silence_create(
        name_pattern="*", starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2)
    )
    ended = silence_expire(silence_id=silence.pk, user=staff_user)
    assert ended.ends_at > ended.starts_at
    assert not ended.is_active()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "non_field_errors"),
        ({"fingerprint": "abc"}, "fingerprint"),
        ({"name_pattern": "x", "ends_in": -1}, "ends_at"),
    ],
)
def test_a_bad_silence_is_refused(kwargs, field):
    ends_in = kwargs.pop("ends_in", 1)
    with pytest.raises(ValidationError) as info:
        silence_create(ends_at=timezone.now() + timedelta(hours=ends_in), **kwargs)
    assert info.value.details is not None
    assert field in info.value.details
