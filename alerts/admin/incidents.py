"""Incidents: the timeline, linked alerts, stage actions, acknowledgement and the post-mortem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

from alerts.admin.common import each_selected, error_text, severity_badge
from alerts.incidents import (
    incident_acknowledge,
    incident_add_note,
    incident_create,
    incident_details_update,
    incident_postmortem_update,
    incident_transition,
)
from alerts.models import STAGE_ORDER, Alert, Incident, Stage, TimelineEntry
from alerts.postmortem import incident_postmortem_template
from beo_automation.admin_actions import DetailAction, DetailActionsMixin
from beo_automation.admin_display import status_badge
from beo_automation.errors import AppError


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


def _describe(incident: Incident) -> str:
    return f"#{incident.pk} {incident.title}"


def _stage_action(stage: Stage) -> Callable[..., None]:
    def action(
        modeladmin: IncidentAdmin, request: HttpRequest, queryset: QuerySet[Incident]
    ) -> None:
        each_selected(
            modeladmin,
            request,
            queryset,
            call=lambda i: incident_transition(incident_id=i.pk, stage=stage, user=request.user),  # type: ignore[arg-type]
            logged=f"Moved to {stage.label}.",
            summary=lambda n: f"Moved {n} incident(s) to {stage.label}.",
            describe=_describe,
        )

    action.__name__ = f"move_to_{stage.value}"
    return admin.action(description=f"Move to {stage.label}", permissions=["change"])(action)


@admin.register(Incident)
class IncidentAdmin(DetailActionsMixin, admin.ModelAdmin):
    form = IncidentAdminForm
    list_display = (
        "id",
        "title",
        "severity_badge",
        "stage",
        "commander",
        "detected_at",
        # One column for the response (acknowledged / overdue / due): three date columns did
        # not fit beside the navigation and the filters at 1440 px.
        "response",
    )
    list_filter = ("stage", "severity")
    search_fields = ("title", "description")
    date_hierarchy = "detected_at"
    inlines = (TimelineInline, LinkedAlertInline)
    list_select_related = ("commander", "acknowledged_by")
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
        return severity_badge(incident.severity)

    # Words, not the admin's ✓/✗ icon for "overdue": a red ✗ for "not overdue" reads as an error.
    @admin.display(description="response", ordering="response_due_at")
    def response(self, incident: Incident) -> SafeString | str:
        now = timezone.now()
        if incident.acknowledged_at is not None:
            by = incident.acknowledged_by.get_username() if incident.acknowledged_by else "—"
            return f"acknowledged {timesince(incident.acknowledged_at, now)} ago by {by}"
        if incident.response_due_at <= now:
            return status_badge(
                "critical", f"overdue by {timesince(incident.response_due_at, now)}"
            )
        return f"due in {timeuntil(incident.response_due_at, now)}"

    @admin.display(description="post-mortem template (from the timeline)")
    def postmortem_template(self, incident: Incident) -> SafeString:
        return format_html(
            '<pre class="beo-pre-wrap">{}</pre>', incident_postmortem_template(incident)
        )

    def detail_actions(self, obj: Incident) -> list[DetailAction]:
        current = Stage(obj.stage)
        buttons = []
        if obj.acknowledged_at is None and obj.is_active:
            buttons.append(DetailAction("acknowledge", "Acknowledge"))
        for value in STAGE_ORDER[current.order + 1 :]:
            stage = Stage(value)
            # A critical or high incident closes only from its post-mortem (the service's rule).
            if stage == Stage.CLOSED and obj.requires_postmortem and current != Stage.POSTMORTEM:
                continue
            buttons.append(
                DetailAction(f"move_to_{value}", f"Move to {stage.label}", stage == Stage.CLOSED)
            )
        return buttons

    def detail_action_names(self) -> set[str]:
        return {"acknowledge", *(f"move_to_{value}" for value in STAGE_ORDER[1:])}

    def detail_action_apply(self, request: HttpRequest, obj: Incident, name: str) -> str:
        user = request.user
        if name == "acknowledge":
            incident_acknowledge(incident_id=obj.pk, user=user)  # type: ignore[arg-type]
            return f"Acknowledged incident #{obj.pk}."
        stage = Stage(name.removeprefix("move_to_"))
        incident_transition(incident_id=obj.pk, stage=stage, user=user)  # type: ignore[arg-type]
        return f"Moved incident #{obj.pk} to {stage.label}."

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
            incident_details_update(
                incident_id=obj.pk,
                user=user,  # type: ignore[arg-type]
                description=obj.description,
                commander=obj.commander,
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
            self.message_user(request, error_text(exc), messages.ERROR)
            url = (
                reverse("admin:alerts_incident_change", args=[object_id])
                if object_id
                else reverse("admin:alerts_incident_add")
            )
            return HttpResponseRedirect(url)

    @admin.action(description="Acknowledge selected incidents", permissions=["change"])
    def acknowledge_incidents(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        each_selected(
            self,
            request,
            queryset,
            call=lambda i: incident_acknowledge(incident_id=i.pk, user=request.user),  # type: ignore[arg-type]
            logged="Acknowledged from the admin.",
            summary=lambda n: f"Acknowledged {n} incident(s).",
            describe=lambda i: f"#{i.pk}",
        )
