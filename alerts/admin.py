"""Staff screens: alerts (acknowledge, resolve, silence), silences, incidents (timeline, stage
actions, post-mortem), notifications with their attempts, channel health, evaluation runs.

Every action calls the same service the API calls, and is recorded in the admin's history
(LogEntry) with who and what.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from alerts.incidents import (
    incident_acknowledge,
    incident_add_note,
    incident_create,
    incident_postmortem_template,
    incident_postmortem_update,
    incident_transition,
)
from alerts.models import (
    STAGE_ORDER,
    Alert,
    Incident,
    Notification,
    NotificationAttempt,
    NotificationChannel,
    Silence,
    Stage,
    TimelineEntry,
)
from alerts.notifiers import configured_channels
from alerts.services import alert_acknowledge, alert_resolve, silence_create, silence_expire
from beo_automation.errors import AppError

SEVERITY_COLOURS = {"critical": "#ba2121", "high": "#d9534f", "medium": "#e5a00d", "low": "#5a7d9a"}


def _error_text(exc: AppError) -> str:
    if exc.details:
        return f"{exc.message}: " + "; ".join(
            f"{field}: {' '.join(map(str, msgs))}" for field, msgs in exc.details.items()
        )
    return exc.message


def _severity_badge(severity: str) -> SafeString:
    return format_html(
        '<strong style="color:{}">{}</strong>', SEVERITY_COLOURS.get(severity, "inherit"), severity
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Alerts ----------------------------------------------------------------------------------


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


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "severity_badge",
        "status",
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

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, alert: Alert) -> SafeString:
        return _severity_badge(alert.severity)

    @admin.display(description="silenced", boolean=True)
    def silenced(self, alert: Alert) -> bool:
        return alert.silenced_by_id is not None

    @admin.display(description="incident")
    def incident_link(self, alert: Alert) -> SafeString | str:
        if alert.incident_id is None:
            return "—"
        url = reverse("admin:alerts_incident_change", args=[alert.incident_id])
        return format_html('<a href="{}">#{}</a>', url, alert.incident_id)

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[Alert],
        verb: str,
        call: Callable[[Alert], Any],
    ) -> None:
        done, refused = 0, []
        for alert in queryset:
            try:
                call(alert)
            except AppError as exc:
                refused.append(f"#{alert.pk} {alert.name}: {_error_text(exc)}")
                continue
            done += 1
            self.log_change(request, alert, f"{verb.capitalize()} from the admin.")
        if done:
            self.message_user(request, f"{verb.capitalize()} {done} alert(s).", messages.SUCCESS)
        for text in refused:
            self.message_user(request, text, messages.WARNING)

    @admin.action(description="Acknowledge selected alerts")
    def acknowledge_alerts(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        self._each(
            request,
            queryset,
            "acknowledged",
            lambda a: alert_acknowledge(alert_id=a.pk, user=request.user),  # type: ignore[arg-type]
        )

    @admin.action(description="Resolve selected alerts")
    def resolve_alerts(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        self._each(
            request,
            queryset,
            "resolved",
            lambda a: alert_resolve(alert_id=a.pk, user=request.user),  # type: ignore[arg-type]
        )

    @admin.action(description="Silence selected alerts…")
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


# --- Silences --------------------------------------------------------------------------------


class SilenceAdminForm(forms.ModelForm):
    class Meta:
        model = Silence
        fields = ("fingerprint", "name_pattern", "starts_at", "ends_at", "comment")

    def clean(self) -> dict[str, Any]:
        # The service's rules, shown on the form (silence_create checks them again).
        data = super().clean() or {}
        if not data.get("fingerprint") and not data.get("name_pattern"):
            raise forms.ValidationError("Give a fingerprint or a name pattern to silence.")
        fingerprint = (data.get("fingerprint") or "").strip().lower()
        if fingerprint and (
            len(fingerprint) != 64 or any(c not in "0123456789abcdef" for c in fingerprint)
        ):
            self.add_error("fingerprint", "Must be an alert's 64-character fingerprint.")
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if ends is not None and (ends <= timezone.now() or (starts is not None and ends <= starts)):
            self.add_error("ends_at", "Must be in the future and after the start.")
        return data


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    form = SilenceAdminForm
    list_display = (
        "__str__",
        "name_pattern",
        "short_fingerprint",
        "starts_at",
        "ends_at",
        "active",
        "created_by",
        "comment",
    )
    list_filter = ("ends_at",)
    search_fields = ("name_pattern", "fingerprint", "comment")
    actions = ("end_silences",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A silence is changed by ending it (action) and adding another: history stays true.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="fingerprint")
    def short_fingerprint(self, silence: Silence) -> str:
        return silence.fingerprint[:12]

    @admin.display(description="active", boolean=True)
    def active(self, silence: Silence) -> bool:
        return silence.is_active()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        now = timezone.now()
        return {"starts_at": now, "ends_at": now + timedelta(hours=2)}

    def save_model(self, request: HttpRequest, obj: Silence, form: Any, change: bool) -> None:
        created = silence_create(
            fingerprint=obj.fingerprint,
            name_pattern=obj.name_pattern,
            starts_at=obj.starts_at,
            ends_at=obj.ends_at,
            comment=obj.comment,
            user=request.user,  # type: ignore[arg-type]
        )
        obj.pk = created.pk
        obj.created_by = created.created_by

    @admin.action(description="End selected silences now")
    def end_silences(self, request: HttpRequest, queryset: QuerySet[Silence]) -> None:
        ended = 0
        for silence in queryset:
            try:
                silence_expire(silence_id=silence.pk, user=request.user)  # type: ignore[arg-type]
            except AppError:
                continue
            ended += 1
            self.log_change(request, silence, "Ended from the admin.")
        self.message_user(request, f"Ended {ended} silence(s).", messages.SUCCESS)


# --- Incidents -------------------------------------------------------------------------------


class TimelineInline(admin.TabularInline):
    model = TimelineEntry
    extra = 0
    can_delete = False
    fields = ("at", "actor", "kind", "from_stage", "to_stage", "text")
    readonly_fields = fields
    ordering = ("at", "id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # notes are added through the incident form (recorded with who and when)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LinkedAlertInline(admin.TabularInline):
    model = Alert
    extra = 0
    can_delete = False
    fields = ("name", "severity", "status", "occurrences", "first_seen", "last_seen")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class IncidentAdminForm(forms.ModelForm):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Add a note to the timeline (recorded with your name and the time).",
    )

    class Meta:
        model = Incident
        fields = ("title", "severity", "description", "commander", "postmortem")


def _stage_action(stage: Stage) -> Callable[..., None]:
    def action(
        modeladmin: IncidentAdmin, request: HttpRequest, queryset: QuerySet[Incident]
    ) -> None:
        moved, refused = 0, []
        for incident in queryset:
            try:
                incident_transition(incident_id=incident.pk, stage=stage, user=request.user)  # type: ignore[arg-type]
            except AppError as exc:
                refused.append(f"#{incident.pk} {incident.title}: {_error_text(exc)}")
                continue
            moved += 1
            modeladmin.log_change(request, incident, f"Moved to {stage.label}.")
        if moved:
            modeladmin.message_user(
                request, f"Moved {moved} incident(s) to {stage.label}.", messages.SUCCESS
            )
        for text in refused:
            modeladmin.message_user(request, text, messages.WARNING)

    action.__name__ = f"move_to_{stage.value}"
    return admin.action(description=f"Move to {stage.label}")(action)


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    form = IncidentAdminForm
    list_display = (
        "id",
        "title",
        "severity_badge",
        "stage",
        "commander",
        "detected_at",
        "response_due_at",
        "acknowledged_at",
        "overdue",
    )
    list_filter = ("stage", "severity")
    search_fields = ("title", "description")
    date_hierarchy = "detected_at"
    inlines = (TimelineInline, LinkedAlertInline)
    list_select_related = ("commander",)
    actions = (
        "acknowledge_incidents",
        *[_stage_action(Stage(s)) for s in STAGE_ORDER[1:]],
    )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_inlines(self, request: HttpRequest, obj: Incident | None) -> Any:
        return self.inlines if obj is not None else ()  # a new incident has no timeline yet

    def get_fields(self, request: HttpRequest, obj: Incident | None = None) -> Any:
        if obj is None:
            return ["title", "severity", "description", "commander"]
        fields = [
            "title",
            "severity",
            "stage",
            "description",
            "commander",
            "detected_at",
            "response_due_at",
            "acknowledged_at",
            "acknowledged_by",
            "escalated_at",
            "resolved_at",
            "closed_at",
            "note",
        ]
        if Stage(obj.stage).order >= Stage.POSTMORTEM.order:
            fields += ["postmortem", "postmortem_template"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Incident | None = None) -> list[str]:
        if obj is None:
            return []
        readonly = [
            "title",
            "severity",
            "stage",
            "detected_at",
            "response_due_at",
            "acknowledged_at",
            "acknowledged_by",
            "escalated_at",
            "resolved_at",
            "closed_at",
            "postmortem_template",
        ]
        if obj.stage == Stage.CLOSED:
            readonly += ["description", "commander", "postmortem"]
        return readonly

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, incident: Incident) -> SafeString:
        return _severity_badge(incident.severity)

    @admin.display(description="overdue", boolean=True)
    def overdue(self, incident: Incident) -> bool:
        return incident.acknowledged_at is None and incident.response_due_at <= timezone.now()

    @admin.display(description="post-mortem template (from the timeline)")
    def postmortem_template(self, incident: Incident) -> SafeString:
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>", incident_postmortem_template(incident)
        )

    def save_model(self, request: HttpRequest, obj: Incident, form: Any, change: bool) -> None:
        user = request.user
        if not change:
            created = incident_create(
                title=obj.title,
                severity=obj.severity,
                description=obj.description,
                commander=obj.commander,
                user=user,  # type: ignore[arg-type]
            )
            obj.pk = created.pk
            obj.response_due_at = created.response_due_at
            return
        changed = set(form.changed_data)
        if changed & {"description", "commander"}:
            Incident.objects.filter(pk=obj.pk).update(
                description=obj.description, commander=obj.commander, updated_at=timezone.now()
            )
            if "commander" in changed and obj.commander is not None:
                incident_add_note(
                    incident_id=obj.pk,
                    user=user,  # type: ignore[arg-type]
                    text=f"Commander: {obj.commander.get_username()}.",
                )
        if "postmortem" in changed:
            incident_postmortem_update(incident_id=obj.pk, user=user, text=obj.postmortem)  # type: ignore[arg-type]
        if note := form.cleaned_data.get("note", "").strip():
            incident_add_note(incident_id=obj.pk, user=user, text=note)  # type: ignore[arg-type]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except AppError as exc:
            self.message_user(request, _error_text(exc), messages.ERROR)
            url = (
                reverse("admin:alerts_incident_change", args=[object_id])
                if object_id
                else reverse("admin:alerts_incident_add")
            )
            return HttpResponseRedirect(url)

    @admin.action(description="Acknowledge selected incidents")
    def acknowledge_incidents(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        done = 0
        for incident in queryset:
            try:
                incident_acknowledge(incident_id=incident.pk, user=request.user)  # type: ignore[arg-type]
            except AppError as exc:
                self.message_user(request, f"#{incident.pk}: {_error_text(exc)}", messages.WARNING)
                continue
            done += 1
            self.log_change(request, incident, "Acknowledged from the admin.")
        if done:
            self.message_user(request, f"Acknowledged {done} incident(s).", messages.SUCCESS)


# --- Notifications and channels --------------------------------------------------------------


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
            NotificationChannel.objects.get_or_create(
                key=channel.key, defaults={"label": channel.label, "service": channel.service}
            )
        return super().get_queryset(request)

    @admin.display(description="configured", boolean=True)
    def configured(self, channel: NotificationChannel) -> bool:
        return channel.key in {c.key for c in configured_channels()}

    @admin.display(description="failing", boolean=True)
    def failing(self, channel: NotificationChannel) -> bool:
        return channel.is_failing
