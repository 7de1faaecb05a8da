"""Alerts, silences, incidents and the record of every notification sent about them.

An `Alert` is one problem identified by its fingerprint (name + identifying labels). While it is
open (`firing` or `acknowledged`) new occurrences update it instead of adding rows; a partial
unique index makes "one open alert per fingerprint" a database fact, not a hope.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Severity(models.TextChoices):
    LOW = "low", "low"
    MEDIUM = "medium", "medium"
    HIGH = "high", "high"
    CRITICAL = "critical", "critical"

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self.value]

    @classmethod
    def parse(cls, value: str) -> Severity:
        """The severity named `value` (case-insensitive); ValueError names the choices."""
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            choices = ", ".join(cls.values)
            raise ValueError(f"severity {value!r} is not one of: {choices}") from None


SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
# Longest alert name, and so longest silence name pattern.
MAX_NAME = 200

# The operations guide's incident response times.
RESPONSE_TIMES = {
    Severity.CRITICAL: timedelta(minutes=15),
    Severity.HIGH: timedelta(hours=1),
    Severity.MEDIUM: timedelta(hours=4),
    Severity.LOW: timedelta(hours=24),
}


class AlertStatus(models.TextChoices):
    FIRING = "firing", "firing"
    ACKNOWLEDGED = "acknowledged", "acknowledged"
    RESOLVED = "resolved", "resolved"


OPEN_ALERT_STATUSES = (AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED)


class Alert(models.Model):
    fingerprint = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=MAX_NAME)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(
        max_length=12, choices=AlertStatus.choices, default=AlertStatus.FIRING
    )
    message = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    # The evaluation rule that raises (and auto-resolves) this alert; empty for alerts raised
    # by code through send_alert, which only staff (or their caller) resolve.
    rule = models.CharField(max_length=50, blank=True, default="")
    occurrences = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    # The severity channels were last told about: only a worse one is news worth a page.
    notified_severity = models.CharField(
        max_length=10, choices=Severity.choices, blank=True, default=""
    )
    # The silence that matched the latest occurrence (stored, not notified).
    silenced_by = models.ForeignKey(
        "Silence", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution = models.CharField(
        max_length=200, blank=True, default="", help_text="Why it was resolved."
    )
    incident = models.ForeignKey(
        "Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["-last_seen", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["status", "-last_seen"], name="alert_status_seen_idx"),
            models.Index(
                fields=["rule"],
                condition=Q(status__in=["firing", "acknowledged"]) & ~Q(rule=""),
                name="alert_open_rule_idx",
            ),
        ]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            # At most one open alert per fingerprint: concurrent first occurrences collide here
            # and the loser updates the winner's row instead.
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=Q(status__in=["firing", "acknowledged"]),
                name="alert_one_open_per_fingerprint",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.severity}, {self.status}]"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ALERT_STATUSES


class Silence(models.Model):
    """Suppresses notifications (not storage) of matching alerts between two times."""

    fingerprint = models.CharField(
        max_length=64, blank=True, default="", help_text="Silence exactly this alert."
    )
    name_pattern = models.CharField(
        max_length=MAX_NAME,
        blank=True,
        default="",
        help_text="Or every alert whose name matches: shell wildcards, case-insensitive "
        "(`High * Usage`, `Database*`).",
    )
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    comment = models.TextField(blank=True, default="", help_text="Why (maintenance window, …).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar[list[str]] = ["-ends_at", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["ends_at"], name="silence_ends_idx"),
        ]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(
                condition=~Q(fingerprint="") | ~Q(name_pattern=""),
                name="silence_has_a_matcher",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="silence_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        target = self.name_pattern or f"fingerprint {self.fingerprint[:12]}"
        return f"Silence {target} until {self.ends_at:%Y-%m-%d %H:%M %Z}"

    def is_active(self, at: datetime | None = None) -> bool:
        now = at or timezone.now()
        return self.starts_at <= now < self.ends_at


class Stage(models.TextChoices):
    """The guide's incident procedure, in order; `closed` ends it."""

    DETECTED = "detected", "detected"
    ASSESSED = "assessed", "assessed"
    RESPONDING = "responding", "responding"
    COMMUNICATING = "communicating", "communicating"
    RESOLVED = "resolved", "resolved"
    POSTMORTEM = "postmortem", "post-mortem"
    CLOSED = "closed", "closed"

    @property
    def order(self) -> int:
        return STAGE_ORDER.index(self.value)


STAGE_ORDER = [s.value for s in Stage]
# Stages of an incident still being worked on (a new occurrence attaches to these).
ACTIVE_STAGES = STAGE_ORDER[: STAGE_ORDER.index(Stage.RESOLVED)]


class Incident(models.Model):
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.DETECTED)
    description = models.TextField(blank=True, default="")
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="commanded_incidents",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when opened automatically by a critical alert.",
    )
    detected_at = models.DateTimeField(default=timezone.now)
    response_due_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    postmortem = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar[list[str]] = ["-detected_at", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["stage", "-detected_at"], name="incident_stage_idx"),
            # The escalation sweep: unacknowledged incidents by due time.
            models.Index(
                fields=["response_due_at"],
                condition=Q(acknowledged_at__isnull=True),
                name="incident_unacked_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title} [{self.severity}, {self.stage}]"

    @property
    def is_active(self) -> bool:
        return self.stage in ACTIVE_STAGES

    @property
    def requires_postmortem(self) -> bool:
        return self.severity in (Severity.CRITICAL, Severity.HIGH)


class TimelineKind(models.TextChoices):
    OPENED = "opened", "opened"
    STAGE = "stage", "stage change"
    NOTE = "note", "note"
    ALERT = "alert", "alert attached"
    ACKNOWLEDGED = "acknowledged", "acknowledged"
    ESCALATED = "escalated", "escalated"
    POSTMORTEM = "postmortem", "post-mortem"


class TimelineEntry(models.Model):
    """Who did what when, in an incident. Append-only."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty for the system (evaluation, escalation).",
    )
    kind = models.CharField(max_length=16, choices=TimelineKind.choices)
    from_stage = models.CharField(max_length=16, blank=True, default="")
    to_stage = models.CharField(max_length=16, blank=True, default="")
    text = models.TextField(blank=True, default="")

    class Meta:
        ordering: ClassVar[list[str]] = ["at", "id"]
        verbose_name_plural = "timeline entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}: {self.text[:60]}"

    @property
    def actor_name(self) -> str:
        return self.actor.get_username() if self.actor is not None else "system"


class NotificationKind(models.TextChoices):
    FIRING = "firing", "firing"
    REPEAT = "repeat", "repeat (still firing)"
    RESOLVED = "resolved", "resolved"
    TEST = "test", "test"


# Kinds that tell a channel an alert is firing: those channels get the resolve notification.
FIRING_KINDS = (NotificationKind.FIRING, NotificationKind.REPEAT)


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENDING = "sending", "sending"
    DELIVERED = "delivered", "delivered"
    FAILED = "failed", "failed (gave up)"
    SKIPPED = "skipped", "skipped"


class NotificationChannel(models.Model):
    """Delivery state of one configured channel (a URL of ALERT_NOTIFY_URLS).

    The URL itself is never stored: it usually carries a token. `key` is its hash and
    `label` Apprise's privacy-masked form.
    """

    key = models.CharField(max_length=32, unique=True)
    label = models.CharField(max_length=300)
    service = models.CharField(max_length=100, blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar[list[str]] = ["label"]

    def __str__(self) -> str:
        return self.label

    @property
    def is_failing(self) -> bool:
        return self.consecutive_failures >= settings.ALERT_CHANNEL_FAILING_AFTER


class Notification(models.Model):
    """One message about one alert to one channel, delivered by a Celery task with retries."""

    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=10, choices=NotificationKind.choices)
    title = models.CharField(max_length=250)
    body = models.TextField()
    notify_type = models.CharField(max_length=10, default="info")
    status = models.CharField(
        max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    requested_by = models.CharField(
        max_length=150, blank=True, default="", help_text="Who asked for it (test alerts)."
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            # The retry sweep: unfinished notifications by due time.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="notification_unfinished_idx",
            ),
            models.Index(fields=["alert", "channel", "kind"], name="notification_alert_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.channel_id} ({self.status})"


class NotificationAttempt(models.Model):
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="attempt_log"
    )
    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.CASCADE, related_name="attempts"
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.FloatField(default=0.0)
    succeeded = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering: ClassVar[list[str]] = ["-started_at", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["channel", "-started_at"], name="attempt_channel_idx"),
        ]

    def __str__(self) -> str:
        outcome = "ok" if self.succeeded else "failed"
        return f"notification {self.notification_id} attempt {self.number} ({outcome})"


class MetricSample(models.Model):
    """What one alert evaluation measured: each check's value and threshold, for the overview's
    sparklines (alerts.samples writes one row per evaluation and prunes it after a day)."""

    at = models.DateTimeField(db_index=True)
    # {key: {"title", "value", "threshold", "unit", "severity"}}; one JSON row per minute is
    # a single INSERT, where a row per metric would be a dozen.
    values = models.JSONField(default=dict)

    class Meta:
        ordering: ClassVar[list[str]] = ["-at", "-id"]

    def __str__(self) -> str:
        return f"metric sample {self.at:%Y-%m-%d %H:%M:%S}"
