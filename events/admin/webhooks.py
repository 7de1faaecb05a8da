"""Webhook subscriptions and the history of every delivery attempt."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from events.admin.big_table import BigTableAdmin, ReadOnlyAdmin, duration_text
from events.models import Subscription, WebhookDelivery
from events.selectors import webhook_deliveries_search
from events.webhooks import subscriptions_set_active


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "type_pattern", "target_url", "is_active", "deliveries", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "type_pattern", "target_url")
    fields = ("name", "type_pattern", "target_url", "secret", "is_active")
    actions = ("activate", "deactivate")

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "target_url":
            kwargs["assume_scheme"] = "https"  # a bare host becomes https://, never http://
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="deliveries")
    def deliveries(self, obj: Subscription) -> SafeString:
        url = reverse("admin:events_webhookdelivery_changelist")
        return format_html('<a href="{}?subscription__id__exact={}">history</a>', url, obj.pk)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting would take the delivery history with it: deactivate instead. Only a
        # subscription that never delivered anything can go.
        if obj is None:
            return False
        has_history = WebhookDelivery.objects.filter(subscription=obj).exists()
        return not has_history and super().has_delete_permission(request, obj)

    @admin.action(description="Activate selected subscriptions", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        count = subscriptions_set_active(subscriptions=queryset, active=True)
        self.message_user(request, f"Activated {count} subscription(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected subscriptions", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        count = subscriptions_set_active(subscriptions=queryset, active=False)
        self.message_user(request, f"Deactivated {count} subscription(s).", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin, BigTableAdmin):
    """Every delivery attempt, read-only."""

    list_display = (
        "id",
        "event_link",
        "subscription",
        "attempt",
        "succeeded",
        "status_code",
        "duration",
        "short_error",
        "created_at",
    )
    list_filter = ("succeeded", "subscription")
    list_select_related = ("subscription",)
    search_fields = ("event__id", "webhook_id")
    search_help_text = "An event id (123 or #123) or a webhook-id (msg_…)."
    sortable_by = ("id", "created_at")
    ordering = ("-created_at", "-id")
    fields = (
        "event_link",
        "subscription",
        "attempt",
        "webhook_id",
        "succeeded",
        "status_code",
        "duration",
        "error",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="event")
    def event_link(self, obj: WebhookDelivery) -> SafeString:
        url = reverse("admin:events_event_change", args=[obj.event_id])
        return format_html('<a href="{}">#{}</a>', url, obj.event_id)

    @admin.display(description="duration")
    def duration(self, obj: WebhookDelivery) -> str:
        return duration_text(obj.duration_ms)

    @admin.display(description="error")
    def short_error(self, obj: WebhookDelivery) -> str:
        return obj.error if len(obj.error) <= 80 else obj.error[:79] + "…"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        return webhook_deliveries_search(queryset=queryset, term=search_term), False
