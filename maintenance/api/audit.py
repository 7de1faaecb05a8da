"""GET /api/audit/: the audit trail for staff, newest first, by cursor."""

from __future__ import annotations

import re
from typing import Any

from auditlog.models import LogEntry
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from beo_automation.pagination import (
    ListQuerySerializer,
    cursor_field,
    newest_first_response,
    page_size_field,
)
from beo_automation.schema import error_responses
from maintenance.services.audit import ACTIONS

ACTION_NAMES = {value: name for name, value in ACTIONS.items()}
# app_label.model, as the records' object_type says it.
OBJECT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,99}\.[a-z][a-z0-9_]{0,99}$")


class AuditListQuerySerializer(ListQuerySerializer):
    actor = serializers.RegexField(
        r"^[\w.@+-]{1,150}$", required=False, help_text="The actor's username."
    )
    object_type = serializers.RegexField(
        OBJECT_TYPE_PATTERN, required=False, help_text="`app_label.model`, e.g. `events.event`."
    )
    object_id = serializers.RegexField(
        r"^[A-Za-z0-9_.:-]{1,255}$", required=False, help_text="The object's primary key."
    )
    action = serializers.ChoiceField(choices=list(ACTIONS), required=False)
    since = serializers.DateTimeField(required=False, help_text="Records at or after this time.")
    cursor = cursor_field()
    page_size = page_size_field()


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    action = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    object_type = serializers.SerializerMethodField()
    object_id = serializers.CharField(source="object_pk")
    object_repr = serializers.CharField()
    changes = serializers.JSONField(allow_null=True)
    remote_addr = serializers.IPAddressField(allow_null=True)
    request_id = serializers.CharField(source="cid", allow_null=True)
    additional_data = serializers.JSONField(allow_null=True)

    def get_action(self, entry: LogEntry) -> str:
        return ACTION_NAMES.get(entry.action, str(entry.action))

    def get_actor(self, entry: LogEntry) -> str | None:
        return entry.actor.get_username() if entry.actor is not None else None

    def get_object_type(self, entry: LogEntry) -> str:
        return f"{entry.content_type.app_label}.{entry.content_type.model}"


class AuditPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null.")
    results = AuditEntrySerializer(many=True)


def audit_list(
    *,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    since: Any = None,
) -> QuerySet[LogEntry]:
    entries = LogEntry.objects.select_related("actor", "content_type")
    if actor is not None:
        entries = entries.filter(actor__username=actor)
    if object_type is not None:
        app_label, model = object_type.split(".", 1)
        entries = entries.filter(content_type__app_label=app_label, content_type__model=model)
    if object_id is not None:
        entries = entries.filter(object_pk=object_id)
    if action is not None:
        entries = entries.filter(action=ACTIONS[action])
    if since is not None:
        entries = entries.filter(timestamp__gte=since)
    return entries


class AuditListView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="audit_list",
        summary="The audit trail",
        description=(
            "Who changed what, when, from which IP and request id: admin edits, API state "
            "changes and operator commands. Newest first, by cursor (`next`/`previous`). "
            "Staff only."
        ),
        parameters=[AuditListQuerySerializer],
        responses={
            200: AuditPageSerializer,
            **error_responses(400, (403, "Forbidden: staff only.")),
        },
        tags=["audit"],
    )
    def get(self, request: Request) -> Response:
        return newest_first_response(
            request,
            view=self,
            query=AuditListQuerySerializer,
            select=audit_list,
            serializer=AuditEntrySerializer,
        )
