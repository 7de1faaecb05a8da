"""Incidents: the operations guide's response procedure with an SLA and a post-mortem.

Stages move only forward (detected → assessed → responding → communicating → resolved →
postmortem → closed), each move recorded on the timeline with who, when and a note. The response
time comes from the guide's severity table; an incident nobody acknowledged by then escalates
(alerts.escalation) with a critical "Incident response overdue" alert, resolved here when it is
acknowledged. Critical and high incidents close only through a written post-mortem
(alerts.postmortem offers a template pre-filled from the timeline).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from alerts.models import (
    ACTIVE_STAGES,
    OPEN_ALERT_STATUSES,
    RESPONSE_TIMES,
    STAGE_ORDER,
    Alert,
    Incident,
    Severity,
    Stage,
    TimelineEntry,
    TimelineKind,
)
from alerts.postmortem import duration_text, incident_postmortem_template, postmortem_problem
from alerts.resolution import alert_resolve
from beo_automation.errors import ConflictError, NotFoundError, ValidationError
from maintenance.services.audit import audit_record

logger = structlog.get_logger("alerts.incidents")

OVERDUE_RULE = "incident_overdue"
MAX_TITLE = 200


def _incident_audit(
    incident: Incident,
    *,
    user: User | None,
    operation: str,
    changes: dict[str, list[Any]] | None = None,
    **data: Any,
) -> None:
    # Changes made by update() send no model signal: each is recorded here instead.
    audit_record(
        model=Incident,
        object_id=incident.pk,
        object_repr=str(incident),
        actor=user,
        changes=changes,
        additional_data={"operation": operation, **data},
    )


def incident_timeline_add(
    incident: Incident,
    *,
    kind: str,
    text: str,
    user: User | None,
    at: datetime,
    from_stage: str = "",
    to_stage: str = "",
) -> TimelineEntry:
    return TimelineEntry.objects.create(
        incident=incident,
        kind=kind,
        text=text,
        actor=user,
        at=at,
        from_stage=from_stage,
        to_stage=to_stage,
    )


def _get(incident_id: int, *, lock: bool = False) -> Incident:
    qs = Incident.objects.select_for_update() if lock else Incident.objects.all()
    incident = qs.filter(pk=incident_id).first()
    if incident is None:
        raise NotFoundError("Incident")
    return incident


def incident_create(
    *,
    title: str,
    severity: str,
    user: User | None,
    description: str = "",
    commander: User | None = None,
    alert_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> Incident:
    """Open an incident by hand (staff), optionally linking alerts to it."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    title = title.strip() if isinstance(title, str) else ""
    if not title or len(title) > MAX_TITLE:
        errors["title"] = [f"Must be 1-{MAX_TITLE} characters."]
    try:
        parsed = Severity.parse(severity)
    except ValueError as exc:
        errors["severity"] = [str(exc)]
    alerts = list(Alert.objects.filter(pk__in=alert_ids)) if alert_ids else []
    if missing := sorted(set(alert_ids) - {a.pk for a in alerts}):
        errors["alert_ids"] = [f"No such alerts: {', '.join(map(str, missing))}."]
    if errors:
        raise ValidationError(details=errors)
    with transaction.atomic():
        incident = Incident.objects.create(
            title=title,
            severity=parsed,
            description=description,
            commander=commander,
            created_by=user,
            detected_at=now,
            response_due_at=now + RESPONSE_TIMES[parsed],
            updated_at=now,
        )
        incident_timeline_add(
            incident,
            kind=TimelineKind.OPENED,
            text=(
                f"Opened ({parsed.value}); response due by "
                f"{incident.response_due_at:%Y-%m-%d %H:%M %Z}."
            ),
            user=user,
            at=now,
            to_stage=Stage.DETECTED,
        )
        if commander is not None:
            incident_acknowledge_if_needed(
                incident_id=incident.pk, user=commander, now=now, via="commander assigned"
            )
        for alert in alerts:
            _attach(incident, alert, user=user, at=now)
    logger.info("Incident opened", incident_id=incident.pk, severity=parsed.value, title=title)
    return Incident.objects.get(pk=incident.pk)


def _attach(incident: Incident, alert: Alert, *, user: User | None, at: datetime) -> None:
    Alert.objects.filter(pk=alert.pk).update(incident=incident)
    incident_timeline_add(
        incident,
        kind=TimelineKind.ALERT,
        text=f"Alert #{alert.pk} '{alert.name}' ({alert.severity}) attached: {alert.message}",
        user=user,
        at=at,
    )


def incident_open_for_alert(*, alert: Alert, now: datetime) -> Incident:
    """A critical alert opens an incident, or joins the active one already following the same
    fingerprint (the problem came back before the incident was resolved)."""
    with transaction.atomic():
        incident = (
            # of=self: lock the incident row, not the joined alert rows.
            Incident.objects.select_for_update(of=("self",))
            .filter(stage__in=ACTIVE_STAGES, alerts__fingerprint=alert.fingerprint)
            .order_by("-detected_at")
            .first()
        )
        if incident is not None:
            alert.incident = incident
            _attach(incident, alert, user=None, at=now)
            return incident
        severity = Severity(alert.severity)
        incident = Incident.objects.create(
            title=alert.name[:MAX_TITLE],
            severity=severity,
            description=alert.message,
            detected_at=now,
            response_due_at=now + RESPONSE_TIMES[severity],
            updated_at=now,
        )
        alert.incident = incident
        Alert.objects.filter(pk=alert.pk).update(incident=incident)
        incident_timeline_add(
            incident,
            kind=TimelineKind.OPENED,
            text=(
                f"Opened automatically by {severity.value} alert #{alert.pk} '{alert.name}': "
                f"{alert.message} Response due by {incident.response_due_at:%Y-%m-%d %H:%M %Z}."
            ),
            user=None,
            at=now,
            to_stage=Stage.DETECTED,
        )
    logger.warning(
        "Incident opened by a critical alert",
        incident_id=incident.pk,
        alert_id=alert.pk,
        title=incident.title,
    )
    return incident


def incident_acknowledge_if_needed(
    *, incident_id: int, user: User | None, now: datetime, via: str = ""
) -> bool:
    """Mark the incident acknowledged (first one wins); the acknowledger becomes commander
    when there is none. Resolves its overdue alert. True if this call acknowledged it."""
    updated = Incident.objects.filter(pk=incident_id, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=user, updated_at=now
    )
    if updated != 1:
        return False
    incident = _get(incident_id)
    if incident.commander_id is None and user is not None:
        Incident.objects.filter(pk=incident_id, commander__isnull=True).update(commander=user)
    late = now - incident.response_due_at
    text = "Acknowledged" + (f" via {via}" if via else "")
    if late > timedelta(0):
        text += f", {duration_text(late)} after the response time"
    incident_timeline_add(
        incident, kind=TimelineKind.ACKNOWLEDGED, text=text + ".", user=user, at=now
    )
    _incident_audit(
        incident,
        user=user,
        operation="acknowledge",
        changes={"acknowledged_at": [None, now.isoformat()]},
        via=via or None,
    )
    incident_overdue_alerts_resolve(incident=incident, reason="Incident acknowledged.", now=now)
    return True


def incident_acknowledge(*, incident_id: int, user: User, now: datetime | None = None) -> Incident:
    """Someone is on it: stops the escalation clock."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = _get(incident_id, lock=True)
        if not incident_acknowledge_if_needed(incident_id=incident.pk, user=user, now=now):
            raise ConflictError("Incident is already acknowledged")
    return _get(incident_id)


def incident_transition(
    *,
    incident_id: int,
    stage: str,
    user: User | None,
    note: str = "",
    postmortem: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Move an incident forward to `stage`, recording who, when and why on the timeline.

    Backward moves are refused. Closing a critical or high incident needs the post-mortem
    stage and a written post-mortem (no unwritten template section left).
    """
    now = now or timezone.now()
    if stage not in STAGE_ORDER:
        raise ValidationError(details={"stage": [f"Must be one of: {', '.join(STAGE_ORDER)}."]})
    target = Stage(stage)
    with transaction.atomic():
        incident = _get(incident_id, lock=True)
        current = Stage(incident.stage)
        if target.order <= current.order:
            raise ConflictError(
                f"Incident is {current.value}; stages only move forward "
                f"({' → '.join(STAGE_ORDER[current.order + 1 :]) or 'it is closed'})"
            )
        text = postmortem if postmortem is not None else incident.postmortem
        if target == Stage.CLOSED and incident.requires_postmortem:
            if current != Stage.POSTMORTEM:
                raise ConflictError(
                    f"A {incident.severity} incident needs a post-mortem before it is closed: "
                    "move it to postmortem first"
                )
            if problem := postmortem_problem(text):
                raise ConflictError(problem)
        changes: dict[str, object] = {"stage": target, "updated_at": now}
        if target.order >= Stage.RESOLVED.order and incident.resolved_at is None:
            changes["resolved_at"] = now
        if target == Stage.CLOSED:
            changes["closed_at"] = now
        if postmortem is not None:
            changes["postmortem"] = postmortem
        elif target == Stage.POSTMORTEM and not incident.postmortem.strip():
            # Offer the template: the team edits it instead of starting from nothing.
            changes["postmortem"] = incident_postmortem_template(incident, now=now)
        updated = Incident.objects.filter(pk=incident.pk, stage=current).update(**changes)
        if updated != 1:
            raise ConflictError("Incident changed meanwhile; reload and try again")
        if user is not None and current == Stage.DETECTED:
            incident_acknowledge_if_needed(
                incident_id=incident.pk, user=user, now=now, via=f"moving to {target.value}"
            )
        incident_timeline_add(
            incident,
            kind=TimelineKind.STAGE,
            text=note or f"Moved to {target.label}.",
            user=user,
            at=now,
            from_stage=current,
            to_stage=target,
        )
        if postmortem is not None:
            incident_timeline_add(
                incident,
                kind=TimelineKind.POSTMORTEM,
                text="Post-mortem updated.",
                user=user,
                at=now,
            )
        _incident_audit(
            incident,
            user=user,
            operation="transition",
            changes={"stage": [current.value, target.value]},
            note=note,
        )
    logger.info(
        "Incident stage changed",
        incident_id=incident.pk,
        from_stage=current.value,
        to_stage=target.value,
        user_id=user.pk if user is not None else None,
    )
    return _get(incident_id)


def incident_add_note(
    *, incident_id: int, user: User | None, text: str, now: datetime | None = None
) -> TimelineEntry:
    text = text.strip()
    if not text:
        raise ValidationError(details={"text": ["Write something."]})
    with transaction.atomic():
        incident = _get(incident_id)
        entry = incident_timeline_add(
            incident, kind=TimelineKind.NOTE, text=text, user=user, at=now or timezone.now()
        )
        _incident_audit(incident, user=user, operation="note", note=text)
    return entry


def incident_details_update(
    *,
    incident_id: int,
    user: User | None,
    description: str,
    commander: User | None,
    now: datetime | None = None,
) -> Incident:
    """Change the description and the commander; a new commander is noted on the timeline."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = _get(incident_id, lock=True)
        if incident.stage == Stage.CLOSED:
            raise ConflictError("Incident is closed")
        Incident.objects.filter(pk=incident.pk).update(
            description=description, commander=commander, updated_at=now
        )
        changes: dict[str, list[Any]] = {}
        if description != incident.description:
            changes["description"] = [incident.description, description]
        if (commander.pk if commander else None) != incident.commander_id:
            changes["commander"] = [
                incident.commander.get_username() if incident.commander else None,
                commander.get_username() if commander else None,
            ]
        if changes:
            _incident_audit(incident, user=user, operation="details", changes=changes)
        if commander is not None and commander.pk != incident.commander_id:
            incident_timeline_add(
                incident,
                kind=TimelineKind.NOTE,
                text=f"Commander: {commander.get_username()}.",
                user=user,
                at=now,
            )
    return _get(incident_id)


def incident_postmortem_update(
    *, incident_id: int, user: User | None, text: str, now: datetime | None = None
) -> Incident:
    """Save the post-mortem text (from the postmortem stage on)."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = _get(incident_id, lock=True)
        if Stage(incident.stage).order < Stage.POSTMORTEM.order:
            raise ConflictError("Move the incident to postmortem before writing the post-mortem")
        if incident.stage == Stage.CLOSED:
            raise ConflictError("Incident is closed")
        Incident.objects.filter(pk=incident.pk).update(postmortem=text, updated_at=now)
        _incident_audit(
            incident,
            user=user,
            operation="postmortem",
            changes={"postmortem": [incident.postmortem, text]},
        )
        incident_timeline_add(
            incident, kind=TimelineKind.POSTMORTEM, text="Post-mortem updated.", user=user, at=now
        )
    return _get(incident_id)


def incident_overdue_alerts_resolve(*, incident: Incident, reason: str, now: datetime) -> int:
    """Resolve the "response overdue" alerts of `incident`; how many were still open."""
    resolved = 0
    for alert_id in Alert.objects.filter(
        rule=OVERDUE_RULE, incident=incident, status__in=OPEN_ALERT_STATUSES
    ).values_list("id", flat=True):
        try:
            alert_resolve(alert_id=alert_id, user=None, resolution=reason, now=now)
            resolved += 1
        except ConflictError:
            continue  # resolved meanwhile
    return resolved
