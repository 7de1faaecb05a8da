"""Silences: matching alerts are still stored and counted, but nobody is notified until the
silence ends. One alert is silenced by its fingerprint, a family by a name pattern."""

from __future__ import annotations

import fnmatch
from datetime import datetime, timedelta

import structlog
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from alerts.models import MAX_NAME, Silence
from beo_automation.errors import ConflictError, NotFoundError, ValidationError
from maintenance.services.audit import audit_record

logger = structlog.get_logger("alerts")


def silence_matching(*, fingerprint: str, name: str, at: datetime) -> Silence | None:
    """The active silence covering this alert, if any (fingerprint first, then name patterns)."""
    active = Silence.objects.filter(starts_at__lte=at, ends_at__gt=at)
    exact = active.filter(fingerprint=fingerprint).order_by("-ends_at").first()
    if exact is not None:
        return exact
    lowered = name.lower()
    for silence in active.exclude(name_pattern="").order_by("-ends_at"):
        if fnmatch.fnmatchcase(lowered, silence.name_pattern.lower()):
            return silence
    return None


def _uid(user: User | None) -> int | None:
    return user.pk if user is not None else None


def silence_input_errors(
    *, fingerprint: str, name_pattern: str, starts_at: datetime | None, ends_at: datetime | None
) -> dict[str, list[str]]:
    """What is wrong with a silence (by field; empty when nothing): the admin form shows the
    same errors silence_create refuses."""
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    if not fingerprint and not name_pattern:
        errors["non_field_errors"] = ["Give a fingerprint or a name pattern to silence."]
    if fingerprint and (
        len(fingerprint) != 64 or not all(c in "0123456789abcdef" for c in fingerprint)
    ):
        errors["fingerprint"] = ["Must be an alert's 64-character fingerprint."]
    if len(name_pattern) > MAX_NAME:
        errors["name_pattern"] = [f"At most {MAX_NAME} characters."]
    if ends_at is not None and ends_at <= max(starts_at or now, now):
        errors["ends_at"] = ["Must be in the future and after the start."]
    return errors


def silence_create(
    *,
    ends_at: datetime,
    fingerprint: str = "",
    name_pattern: str = "",
    starts_at: datetime | None = None,
    comment: str = "",
    user: User | None = None,
) -> Silence:
    """Silence one alert (fingerprint) or every alert whose name matches a pattern until
    `ends_at`: they are still stored, but nobody is notified."""
    starts = starts_at or timezone.now()
    fingerprint = fingerprint.strip().lower()
    name_pattern = name_pattern.strip()
    errors = silence_input_errors(
        fingerprint=fingerprint, name_pattern=name_pattern, starts_at=starts, ends_at=ends_at
    )
    if errors:
        raise ValidationError(details=errors)
    silence = Silence.objects.create(
        fingerprint=fingerprint,
        name_pattern=name_pattern,
        starts_at=starts,
        ends_at=ends_at,
        comment=comment,
        created_by=user,
    )
    logger.info(
        "Silence created",
        silence_id=silence.pk,
        fingerprint=fingerprint or None,
        name_pattern=name_pattern or None,
        ends_at=ends_at.isoformat(),
        user_id=_uid(user),
    )
    return silence


def silence_expire(*, silence_id: int, user: User | None = None) -> Silence:
    """End a silence now (the maintenance is over early)."""
    now = timezone.now()
    with transaction.atomic():
        ends_before = (
            Silence.objects.select_for_update()
            .filter(pk=silence_id)
            .values_list("ends_at", flat=True)
            .first()
        )
        # A silence that has not started yet ends before it begins: move its start back too,
        # so the "ends after start" constraint holds.
        updated = Silence.objects.filter(pk=silence_id, ends_at__gt=now).update(
            ends_at=now, starts_at=Least(F("starts_at"), Value(now - timedelta(microseconds=1)))
        )
        silence = Silence.objects.filter(pk=silence_id).first()
        if silence is None or ends_before is None:
            raise NotFoundError("Silence")
        if updated != 1:
            raise ConflictError("Silence has already ended")
        audit_record(
            model=Silence,
            object_id=silence.pk,
            object_repr=str(silence),
            actor=user,
            changes={"ends_at": [ends_before.isoformat(), silence.ends_at.isoformat()]},
            additional_data={"operation": "expire"},
        )
    logger.info("Silence ended", silence_id=silence_id, user_id=_uid(user))
    return silence
