"""Alerts: list and detail with their notifications; acknowledge, resolve and silence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from alerts.admin.common import each_selected, severity_badge
from alerts.models import Alert, AlertStatus, Notification
from alerts.notifications import alert_notified_text
from alerts.resolution import alert_resolve
from alerts.services import alert_acknowledge
from alerts.silences import silence_create
from beo_automation.admin_actions import DetailAction, DetailActionsMixin
from beo_automation.admin_display import status_badge


class SilenceForm(forms.Form):
    hours = forms.FloatField(
        min_value=0.05, max_value=24 * 90, initial=2, help_text="Silence for this many hours."
    )
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Why (maintenance window, known issue…).",
    )


class NotificationInline(admin.TabularInline):
    model = Notification
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "channel", "status", "attempts", "delivered_at", "last_error")
    readonly_fields = fields
    show_change_link = True
    ordering = ("-created_at",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _describe(alert: Alert) -> str:
    return f"#{alert.pk} {alert.name}"


@admin.register(Alert)
class AlertAdmin(DetailActionsMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "severity_badge",
        "status_badge",
        "occurrences",
        "first_seen",
        "last_seen",
        "silenced",
        "incident_link",
    )
    list_filter = ("status", "severity", "rule")
    search_fields = ("name", "message", "fingerprint")
    date_hierarchy = "first_seen"
    actions = ("acknowledge_alerts", "resolve_alerts", "silence_alerts")
    inlines = (NotificationInline,)
    readonly_fields = (
        "name",
        "severity",
        "status",
        "message",
        "metadata",
        "labels",
        "fingerprint",
        "rule",
        "occurrences",
        "first_seen",
        "last_seen",
        "last_notified_at",
        "channels_told",
        "notified_severity",
        "silenced_by",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolved_by",
        "resolution",
        "incident",
    )
    list_select_related = ("incident", "silenced_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # alerts are raised by the system (send_alert), not typed in

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Nothing on an alert is edited by hand (its one writable column was the notifier's
        # bookkeeping): the page is read-only and changes go through its buttons and the list's
        # actions, which the change permission allows.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, alert: Alert) -> SafeString:
        return severity_badge(alert.severity)

    @admin.display(description="status", ordering="status")
    def status_badge(self, alert: Alert) -> SafeString:
        return status_badge(alert.status)

    # Words, not the admin's ✓/✗ icons: a red ✗ for "not silenced" reads as an error.
    @admin.display(description="silenced")
    def silenced(self, alert: Alert) -> str:
        return "silenced" if alert.silenced_by_id is not None else "—"

    @admin.display(description="notified")
    def channels_told(self, alert: Alert) -> str:
        return alert_notified_text(alert=alert)

    def detail_actions(self, obj: Alert) -> list[DetailAction]:
        buttons = []
        if obj.status == AlertStatus.FIRING:
            buttons.append(DetailAction("acknowledge", "Acknowledge"))
        if obj.is_open:
            buttons.append(DetailAction("resolve", "Resolve"))
        return buttons

    def detail_action_names(self) -> set[str]:
        return {"acknowledge", "resolve"}

    def detail_action_apply(self, request: HttpRequest, obj: Alert, name: str) -> str:
        user = request.user
        if name == "acknowledge":
            alert_acknowledge(alert_id=obj.pk, user=user)  # type: ignore[arg-type]
            return f"Acknowledged alert {_describe(obj)}: no repeat notifications."
        alert = alert_resolve(alert_id=obj.pk, user=user)  # type: ignore[arg-type]
        return (
            f"Resolved alert {_describe(obj)}. {alert_notified_text(alert=alert, kind='resolved')}"
        )

    @admin.display(description="incident")
    def incident_link(self, alert: Alert) -> SafeString | str:
        if alert.incident_id is None:
            return "—"
        url = reverse("admin:alerts_incident_change", args=[alert.incident_id])
        return format_html('<a href="{}">#{}</a>', url, alert.incident_id)

    @admin.action(description="Acknowledge selected alerts", permissions=["change"])
    def acknowledge_alerts(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        each_selected(
            self,
            request,
            queryset,
            call=lambda a: alert_acknowledge(alert_id=a.pk, user=request.user),  # type: ignore[arg-type]
            logged="Acknowledged from the admin.",
            summary=lambda n: f"Acknowledged {n} alert(s).",
            describe=_describe,
        )

    @admin.action(description="Resolve selected alerts", permissions=["change"])
    def resolve_alerts(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        each_selected(
            self,
            request,
            queryset,
            call=lambda a: alert_resolve(alert_id=a.pk, user=request.user),  # type: ignore[arg-type]
            logged="Resolved from the admin.",
            summary=lambda n: f"Resolved {n} alert(s).",
            describe=_describe,
        )

    @admin.action(description="Silence selected alerts…", permissions=["change"])
    def silence_alerts(
        self, request: HttpRequest, queryset: QuerySet[Alert]
    ) -> HttpResponse | None:
        form = SilenceForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            until = timezone.now() + timedelta(hours=form.cleaned_data["hours"])
            fingerprints = sorted({a.fingerprint for a in queryset})
            for fingerprint in fingerprints:
                silence = silence_create(
                    fingerprint=fingerprint,
                    ends_at=until,
                    comment=form.cleaned_data["comment"],
                    user=request.user,  # type: ignore[arg-type]
                )
                self.log_addition(request, silence, "Silenced from the alerts list.")
            self.message_user(
                request,
                f"Silenced {len(fingerprints)} alert fingerprint(s) until "
                f"{timezone.localtime(until):%Y-%m-%d %H:%M %Z}: they are still recorded, "
                "nobody is notified.",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Silence alerts",
            "alerts": queryset,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/alerts/silence_alerts.html", context)
