"""The audit trail: explicit records (django-auditlog LogEntry rows) for what model signals cannot
see -- Event changes made by hand-composed INSERT/COPY/update() (events.E001/E002 forbid signals on
Event), and operator commands. Model history of the other models is auditlog's registration.

Who, from where and which request come from the auditlog context the middleware sets
(beo_automation.audit_middleware) or, for JWT API calls, from the actor passed in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from auditlog.cid import get_cid
from auditlog.context import auditlog_value
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from psycopg.types.json import Jsonb

from maintenance.services.run_records import RunContext, run_recorded

ACTIONS = {
    "create": LogEntry.Action.CREATE,
    "update": LogEntry.Action.UPDATE,
    "delete": LogEntry.Action.DELETE,
    "access": LogEntry.Action.ACCESS,
}


def _context() -> dict[str, Any]:
    try:
        value = auditlog_value.get()
    except LookupError:
        return {}
    return value if isinstance(value, dict) else {}


def audit_create_params(*, model: type[models.Model], actor: Any) -> list[Any]:
    """The values of a `create` record for a row written by raw SQL, in
    AUDIT_CREATE_COLUMNS order after the object's id (events.bulk_insert folds the record into
    the row's INSERT: one statement, one round trip)."""
    context = _context()
    user = actor if getattr(actor, "is_authenticated", False) else None
    return [
        ContentType.objects.get_for_model(model).pk,
        LogEntry.Action.CREATE,
        Jsonb({}),
        user.pk if user is not None else None,
        (getattr(user, "email", None) or None) if user is not None else None,
        get_cid(),
        context.get("remote_addr"),
        context.get("remote_port"),
        timezone.now(),
    ]


AUDIT_CREATE_COLUMNS = (
    "content_type_id",
    "action",
    "changes",
    "actor_id",
    "actor_email",
    "cid",
    "remote_addr",
    "remote_port",
    "timestamp",
)


def audit_record(
    *,
    model: type[models.Model],
    object_id: int | str,
    object_repr: str,
    action: str = "update",
    changes: dict[str, Any] | None = None,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    additional_data: dict[str, Any] | None = None,
) -> LogEntry:
    """One audit record for one change made without model signals. Call it inside the
    transaction that makes the change, so the record and the change commit (or not) together."""
    context = _context()
    if actor is None or not getattr(actor, "is_authenticated", False):
        actor = context.get("actor")
    user = actor if getattr(actor, "is_authenticated", False) else None
    pk = str(object_id)
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(model),
        object_pk=pk,
        object_id=int(pk) if pk.isdigit() else None,
        object_repr=object_repr[:200],
        action=ACTIONS[action],
        changes=changes or {},
        changes_text="",
        actor=user,
        actor_email=getattr(user, "email", None) or None,
        remote_addr=context.get("remote_addr"),
        remote_port=context.get("remote_port"),
        cid=get_cid(),
        additional_data=additional_data or None,
    )


def audit_purge(*, context: RunContext | None = None) -> int:
    """Delete audit records older than AUDIT_RETENTION_DAYS (a recorded run). Returns how many."""
    days = settings.AUDIT_RETENTION_DAYS
    with run_recorded(
        operation="purge_audit", arguments={"days": days}, context=context or RunContext()
    ) as run:
        cutoff = timezone.now() - timedelta(days=days)
        deleted, _ = LogEntry.objects.filter(timestamp__lt=cutoff).delete()
        run.summary = {"deleted": deleted, "cutoff": cutoff.isoformat(timespec="seconds")}
        run.progress(f"Deleted {deleted:,} audit records older than {cutoff:%Y-%m-%d %H:%M}")
        return deleted
