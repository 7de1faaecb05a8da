"""What the alerts and incidents API accepts and returns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.models import (
    STAGE_ORDER,
    AlertStatus,
    Incident,
    Severity,
    Stage,
)
from alerts.postmortem import incident_postmortem_template
from beo_automation.fields import StringField
from beo_automation.pagination import (
    ChoiceListField,
    ListQuerySerializer,
    cursor_field,
    page_size_field,
)

SEVERITIES = list(Severity.values)


class StrictSerializer(serializers.Serializer):
    """Unknown fields are an error: a typo must not silently do something else."""

    # Documented as `additionalProperties: false` (beo_automation.schema).
    refuses_unknown_fields = True

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


# A user's name, or null when there is none (not acknowledged, no commander...).
_NULLABLE_USERNAME = serializers.CharField(allow_null=True, help_text="Username, or null.")


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    severity = serializers.ChoiceField(choices=SEVERITIES)
    status = serializers.ChoiceField(choices=list(AlertStatus.values))
    message = serializers.CharField()
    metadata = serializers.DictField()
    labels = serializers.DictField(child=serializers.CharField())
    fingerprint = serializers.CharField(help_text="Name + labels: one open alert per fingerprint.")
    rule = serializers.CharField(
        help_text=(
            "Evaluation rule that raises and auto-resolves it; empty for alerts raised by code."
        )
    )
    occurrences = serializers.IntegerField(help_text="How many times it was raised while open.")
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    last_notified_at = serializers.DateTimeField(allow_null=True)
    silenced = serializers.SerializerMethodField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.SerializerMethodField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.SerializerMethodField()
    resolution = serializers.CharField()
    incident = serializers.IntegerField(source="incident_id", allow_null=True)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_silenced(self, alert: Any) -> bool:
        return alert.silenced_by_id is not None

    @extend_schema_field(_NULLABLE_USERNAME)
    def get_acknowledged_by(self, alert: Any) -> str | None:
        return _username(alert.acknowledged_by)

    @extend_schema_field(_NULLABLE_USERNAME)
    def get_resolved_by(self, alert: Any) -> str | None:
        return _username(alert.resolved_by)


class AlertListQuerySerializer(ListQuerySerializer):
    status = ChoiceListField(
        choices=[*AlertStatus.values, "open"],
        help_text="Any of these statuses; open means firing or acknowledged.",
    )
    severity = ChoiceListField(choices=SEVERITIES, help_text="Any of these severities.")
    cursor = cursor_field()
    page_size = page_size_field()


class AlertResolveSerializer(StrictSerializer):
    resolution = StringField(required=False, allow_blank=True, max_length=200)


class IncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    severity = serializers.ChoiceField(choices=SEVERITIES)
    stage = serializers.ChoiceField(choices=STAGE_ORDER)
    commander = serializers.SerializerMethodField()
    detected_at = serializers.DateTimeField()
    response_due_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    escalated_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(_NULLABLE_USERNAME)
    def get_commander(self, incident: Incident) -> str | None:
        return _username(incident.commander)


class TimelineEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor_name", help_text="Username, or `system`.")
    kind = serializers.CharField()
    from_stage = serializers.CharField()
    to_stage = serializers.CharField()
    text = serializers.CharField()


class IncidentDetailSerializer(IncidentSerializer):
    description = serializers.CharField()
    postmortem = serializers.CharField()
    postmortem_required = serializers.BooleanField(
        source="requires_postmortem",
        help_text="Critical and high incidents close only through a written post-mortem.",
    )
    postmortem_template = serializers.SerializerMethodField()
    next_stages = serializers.SerializerMethodField()
    timeline = TimelineEntrySerializer(many=True)
    alerts = AlertSerializer(many=True)

    @extend_schema_field(OpenApiTypes.STR)
    def get_postmortem_template(self, incident: Incident) -> str:
        return incident_postmortem_template(incident)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_next_stages(self, incident: Incident) -> list[str]:
        return STAGE_ORDER[Stage(incident.stage).order + 1 :]


class IncidentCreateSerializer(StrictSerializer):
    title = StringField(max_length=200)
    severity = serializers.ChoiceField(choices=SEVERITIES)
    description = StringField(required=False, allow_blank=True, default="")
    commander = StringField(
        required=False, help_text="Username of the incident commander (a staff user)."
    )
    alert_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        default=list,
        max_length=100,
    )

    def validate_commander(self, value: str) -> Any:
        user = (
            get_user_model().objects.filter(username=value, is_staff=True, is_active=True).first()
        )
        if user is None:
            raise serializers.ValidationError("No active staff user with this username.")
        return user


class IncidentListQuerySerializer(ListQuerySerializer):
    stage = ChoiceListField(choices=STAGE_ORDER, help_text="Any of these stages.")
    severity = ChoiceListField(choices=SEVERITIES, help_text="Any of these severities.")
    active = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="true: not yet resolved."
    )
    cursor = cursor_field()
    page_size = page_size_field()


class IncidentTransitionSerializer(StrictSerializer):
    stage = serializers.ChoiceField(choices=STAGE_ORDER)
    note = StringField(required=False, allow_blank=True, default="", max_length=5000)
    postmortem = StringField(
        required=False,
        allow_blank=True,
        help_text="The post-mortem text (with stage postmortem or closed).",
    )


class AlertPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null.")
    results = AlertSerializer(many=True)


class IncidentPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null.")
    results = IncidentSerializer(many=True)
