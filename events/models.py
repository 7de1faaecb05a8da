"""Events: units of work submitted through the API or by staff, processed by Celery workers.

The `events_event` table is the queue of record. Celery only delivers "there is work" messages;
workers claim rows from this table in priority order, so a lost message never loses an event.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from events.webhook_targets import webhook_target_problem


class Priority(models.IntegerChoices):
    """Stored as a number so the claim query can ORDER BY priority DESC on an index."""

    LOW = 0, "low"
    NORMAL = 1, "normal"
    HIGH = 2, "high"
    URGENT = 3, "urgent"

    @property
    def api_name(self) -> str:
        return str(self.label)


class Status(models.TextChoices):
    PENDING = "pending", "pending"
    PROCESSING = "processing", "processing"
    COMPLETED = "completed", "completed"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


FINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class EventFields(models.Model):
    """Columns shared by live and archived events (the archive is a copy plus archived_at)."""

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Earliest time a worker may claim the event: now for new events, later after a failure
    # (exponential backoff).
    available_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Automatic attempts stop here; a manual retry raises it by EVENT_MAX_ATTEMPTS, so the
    # attempt count is kept as history.
    max_attempts = models.PositiveIntegerField(default=5)
    last_error = models.TextField(blank=True, default="")
    duration_ms = models.FloatField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 - NULL = no key (partial unique constraint)
    # SHA-256 of the creating request's body, to tell a replay from a different request
    # that reuses an Idempotency-Key.
    request_hash = models.CharField(max_length=64, blank=True, default="")
    # The X-Request-ID of the request that created the event, bound to the log lines of its
    # processing (which happens later, in a worker).
    request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"#{self.pk} {self.type} ({self.status})"

    @property
    def priority_name(self) -> str:
        return Priority(self.priority).label


class Event(EventFields):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="events"
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            # The claim order: highest priority first, oldest first within a priority, only
            # among pending rows (a small, hot partial index).
            models.Index(
                fields=["-priority", "created_at", "id"],
                condition=Q(status="pending"),
                name="event_claim_idx",
            ),
            # A user's newest events (API list, keyset pagination on created_at, id).
            models.Index(fields=["owner", "-created_at", "-id"], name="event_owner_newest_idx"),
            # Everyone's newest events (staff list, admin changelist).
            models.Index(fields=["-created_at", "-id"], name="event_newest_idx"),
            # Archival: completed events older than a cutoff.
            models.Index(fields=["status", "created_at"], name="event_status_created_idx"),
            # The admin's search by type and type prefix (LIKE 'beo.%'); pattern ops so the
            # prefix match can use it whatever the database collation. It costs every insert
            # one more index entry.
            models.Index(
                fields=["type"], name="event_type_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
            # When did a worker last take an event (alerting on a stalled pipeline).
            models.Index(
                fields=["-started_at"],
                condition=Q(started_at__isnull=False),
                name="event_started_idx",
            ),
            # The sweeper: pending/processing rows untouched for too long.
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=["pending", "processing"]),
                name="event_unfinished_updated_idx",
            ),
        ]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="event_owner_idempotency_key_uniq",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=0) & Q(priority__lte=3), name="event_priority_range"
            ),
        ]


class EventArchive(EventFields):
    """Completed events moved out of the hot table by the maintenance archival."""

    # The live event's id, copied as is: an archived event keeps its identity.
    id = models.BigIntegerField(primary_key=True)

    # No database constraint: archived rows outlive users and are written in bulk by SQL.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    archived_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]
        verbose_name = "archived event"
        indexes: ClassVar[list[models.Index]] = [
            models.Index(
                fields=["owner", "-created_at", "-id"], name="eventarchive_owner_newest_idx"
            ),
            models.Index(fields=["-created_at", "-id"], name="eventarchive_newest_idx"),
            models.Index(fields=["archived_at"], name="eventarchive_archived_at_idx"),
        ]


WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
# Standard Webhooks: secrets of 24 to 64 random bytes.
WEBHOOK_SECRET_BYTES = (24, 64)


def new_webhook_secret() -> str:
    # Standard Webhooks secrets are base64 with a "whsec_" prefix.
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def validate_webhook_secret(secret: str) -> None:
    """A Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes."""
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValidationError(f"The secret must start with {WEBHOOK_SECRET_PREFIX!r}.")
    try:
        key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            f"After {WEBHOOK_SECRET_PREFIX!r} the secret must be base64."
        ) from None
    low, high = WEBHOOK_SECRET_BYTES
    if not low <= len(key) <= high:
        raise ValidationError(
            f"The secret must encode {low} to {high} random bytes (it encodes {len(key)})."
        )


# Event types are letters, digits and . _ : -; a pattern may add the wildcards * and ?.
validate_type_pattern = RegexValidator(
    r"^[A-Za-z0-9._:*?-]{1,100}$",
    "Use an event type (beo.created) or a pattern with * and ? (beo.*, *.created, *).",
)


class Subscription(models.Model):
    """A webhook target: events whose type matches `type_pattern` are POSTed to `target_url`."""

    name = models.CharField(max_length=100, unique=True)
    type_pattern = models.CharField(
        max_length=100,
        validators=[validate_type_pattern],
        help_text="Event type to deliver: an exact type (beo.created) or a wildcard (beo.*, *).",
    )
    target_url = models.URLField(
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Receives a signed POST per event (http or https; redirects are not followed).",
    )
    secret = models.CharField(
        max_length=100,
        default=new_webhook_secret,
        validators=[validate_webhook_secret],
        help_text="Standard Webhooks signing secret (whsec_…); the receiver verifies with it.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.type_pattern} → {self.target_url})"

    def clean(self) -> None:
        super().clean()
        problem = webhook_target_problem(self.target_url) if self.target_url else None
        if problem:
            raise ValidationError({"target_url": f"Refused: {problem}."})


class WebhookDelivery(models.Model):
    """One attempt to deliver one event to one subscription."""

    # No database constraint: deliveries stay as history after their event is archived.
    event = models.ForeignKey(
        Event, on_delete=models.DO_NOTHING, db_constraint=False, related_name="deliveries"
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    attempt = models.PositiveIntegerField()
    webhook_id = models.CharField(max_length=64)
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["event", "subscription"], name="delivery_event_sub_idx"),
            models.Index(fields=["-created_at"], name="delivery_newest_idx"),
        ]

    def __str__(self) -> str:
        outcome = "ok" if self.succeeded else "failed"
        return f"event #{self.event_id} → {self.subscription_id} attempt {self.attempt} ({outcome})"
