"""Incidents: the operations guide's response procedure with an SLA and a post-mortem.

Stages move only forward (detected → assessed → responding → communicating → resolved →
postmortem → closed), each move recorded on the timeline with who, when and a note. The response
time comes from the guide's severity table; an incident nobody acknowledged by then escalates with
a critical "Incident response overdue" alert. Critical and high incidents close only through a
written post-mortem; a template pre-filled from the timeline is offered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

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
from beo_automation.errors import ConflictError, NotFoundError, ValidationError

logger = structlog.get_logger("alerts.incidents")

OVERDUE_ALERT = "Incident response overdue"
OVERDUE_RULE = "incident_overdue"
PLACEHOLDER = "_(to be written)_"
MAX_TITLE = 200


def _timeline(
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
        _timeline(
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
    _timeline(
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
        _timeline(
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
        text += f", {_duration(late)} after the response time"
    _timeline(incident, kind=TimelineKind.ACKNOWLEDGED, text=text + ".", user=user, at=now)
    _resolve_overdue_alerts(incident, reason="Incident acknowledged.", now=now)
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
        _timeline(
            incident,
            kind=TimelineKind.STAGE,
            text=note or f"Moved to {target.label}.",
            user=user,
            at=now,
            from_stage=current,
            to_stage=target,
        )
        if postmortem is not None:
            _timeline(
                incident,
                kind=TimelineKind.POSTMORTEM,
                text="Post-mortem updated.",
                user=user,
                at=now,
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
    incident = _get(incident_id)
    return _timeline(
        incident, kind=TimelineKind.NOTE, text=text, user=user, at=now or timezone.now()
    )


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
        _timeline(
            incident, kind=TimelineKind.POSTMORTEM, text="Post-mortem updated.", user=user, at=now
        )
    return _get(incident_id)


def postmortem_problem(text: str) -> str | None:
    """Why this post-mortem is not written yet, or None when it is."""
    if not text.strip():
        return "Write the post-mortem (summary, impact, root cause, resolution) before closing"
    if PLACEHOLDER in text:
        return (
            f"The post-mortem still has unwritten sections marked {PLACEHOLDER}: write or "
            "remove them before closing"
        )
    return None


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def incident_postmortem_template(incident: Incident, *, now: datetime | None = None) -> str:
    """A post-mortem draft: facts filled in from the incident and its timeline, the analysis
    left to write."""
    now = now or timezone.now()
    fmt = "%Y-%m-%d %H:%M:%S %Z"

    def since(at: datetime | None) -> str:
        if at is None:
            return "—"
        return f"{at:{fmt}} (after {_duration(at - incident.detected_at)})"

    commander = incident.commander.get_username() if incident.commander else "—"
    lines = [
        f"# Post-mortem: {incident.title} (incident #{incident.pk})",
        "",
        f"- Severity: {incident.severity}",
        f"- Detected: {incident.detected_at:{fmt}}",
        f"- Response due: {incident.response_due_at:{fmt}}",
        f"- Acknowledged: {since(incident.acknowledged_at)}",
        f"- Escalated: {since(incident.escalated_at)}",
        f"- Resolved: {since(incident.resolved_at or now)}",
        f"- Commander: {commander}",
        "",
        "## Summary",
        PLACEHOLDER,
        "",
        "## Impact",
        PLACEHOLDER,
        "",
        "## Timeline",
    ]
    for entry in incident.timeline.select_related("actor").order_by("at", "id"):
        lines.append(f"- {entry.at:{fmt}} — {entry.actor_name} — {entry.text}")
    alerts = list(incident.alerts.order_by("first_seen", "id"))
    if alerts:
        lines += ["", "## Alerts"]
        lines += [
            f"- #{a.pk} {a.name} ({a.severity}, {a.status}): {a.occurrences} occurrence(s), "
            f"first {a.first_seen:{fmt}}, last {a.last_seen:{fmt}}"
            for a in alerts
        ]
    for section in ("Root cause", "Resolution", "Action items", "Lessons learned"):
        lines += ["", f"## {section}", PLACEHOLDER]
    return "\n".join(lines) + "\n"


def _resolve_overdue_alerts(incident: Incident, *, reason: str, now: datetime) -> int:
    from alerts.services import alert_resolve

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


@dataclasses.dataclass(frozen=True)
class EscalationOutcome:
    overdue: int
    escalated: int
    resolved: int


def incidents_escalate(*, now: datetime | None = None) -> EscalationOutcome:
    """Escalate every active incident nobody acknowledged by its response time: a critical
    "Incident response overdue" alert (notified, repeated while it stays unacknowledged) and a
    timeline entry the first time. Overdue alerts of incidents acknowledged since are resolved."""
    from alerts.services import alert_raise

    now = now or timezone.now()
    overdue = list(
        Incident.objects.filter(
            acknowledged_at__isnull=True, response_due_at__lte=now, stage__in=ACTIVE_STAGES
        ).order_by("response_due_at")
    )
    escalated = 0
    for incident in overdue:
        late = now - incident.response_due_at
        allowed = RESPONSE_TIMES[Severity(incident.severity)]
        with transaction.atomic():
            first = (
                Incident.objects.filter(pk=incident.pk, escalated_at__isnull=True).update(
                    escalated_at=now, updated_at=now
                )
                == 1
            )
            alert_raise(
                name=OVERDUE_ALERT,
                severity=Severity.CRITICAL,
                message=(
                    f"Incident #{incident.pk} '{incident.title}' ({incident.severity}) was not "
                    f"acknowledged within {_duration(allowed)}: due "
                    f"{incident.response_due_at:%Y-%m-%d %H:%M %Z}, {_duration(late)} ago."
                ),
                metadata={
                    "incident_id": incident.pk,
                    "response_due_at": incident.response_due_at.isoformat(),
                    "severity": incident.severity,
                },
                labels={"incident": str(incident.pk)},
                rule=OVERDUE_RULE,
                incident_id=incident.pk,
                now=now,
            )
            if first:
                escalated += 1
                _timeline(
                    incident,
                    kind=TimelineKind.ESCALATED,
                    text=(
                        f"Escalated: not acknowledged within {_duration(allowed)}; critical "
                        f"'{OVERDUE_ALERT}' alert raised and notified."
                    ),
                    user=None,
                    at=now,
                )
                logger.error(
                    "Incident response overdue", incident_id=incident.pk, late=_duration(late)
                )
    resolved = 0
    stale = Incident.objects.filter(
        alerts__rule=OVERDUE_RULE, alerts__status__in=OPEN_ALERT_STATUSES
    ).distinct()
    for incident in stale:
        if incident.acknowledged_at is not None or not incident.is_active:
            resolved += _resolve_overdue_alerts(
                incident, reason="Incident acknowledged or no longer active.", now=now
            )
    return EscalationOutcome(overdue=len(overdue), escalated=escalated, resolved=resolved)
