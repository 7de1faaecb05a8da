"""Notifications with their delivery attempts, and the health of each channel (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from alerts.admin.common import ReadOnlyAdmin
from alerts.models import Notification, NotificationAttempt, NotificationChannel
from alerts.notifications import channel_record
from alerts.notifiers import configured_channels
from beo_automation.admin_display import status_badge


class AttemptInline(admin.TabularInline):
    model = NotificationAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "duration_ms", "succeeded", "error")
    readonly_fields = fields
    ordering = ("number",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "kind",
        "alert",
        "channel",
        "status",
        "attempts",
        "delivered_at",
        "last_error",
    )
    list_filter = ("status", "kind", "channel")
    list_select_related = ("alert", "channel")
    search_fields = ("title", "last_error")
    inlines = (AttemptInline,)


@admin.register(NotificationAttempt)
class NotificationAttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "channel",
        "notification",
        "number",
        "succeeded",
        "duration_ms",
        "error",
    )
    list_filter = ("succeeded", "channel")
    list_select_related = ("channel", "notification")


@admin.register(NotificationChannel)
class NotificationChannelAdmin(ReadOnlyAdmin):
    """Channel health: a channel whose last attempts all failed is flagged failing."""

    list_display = (
        "label",
        "service",
        "configured",
        "failing",
        "consecutive_failures",
        "last_success_at",
        "last_failure_at",
        "last_error",
    )
    list_filter = ("service",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[NotificationChannel]:
        # Configured channels that never sent anything yet are listed too.
        for channel in configured_channels():
            channel_record(channel)
        return super().get_queryset(request)

    @admin.display(description="configured", boolean=True)
    def configured(self, channel: NotificationChannel) -> bool:
        return channel.key in {c.key for c in configured_channels()}

    # Words, not the admin's ✓/✗ icons: a red ✗ for "not failing" reads as an error.
    @admin.display(description="failing")
    def failing(self, channel: NotificationChannel) -> SafeString | str:
        return status_badge("failed", "failing") if channel.is_failing else "no"
