"""Runs of every job (maintenance and alerts) in the admin: read-only, newest first; and a
page to start a maintenance operation.

Starting an operation from the admin enqueues the same Celery task beat runs (after the
request's transaction commits), recorded with trigger `admin` and the staff user's name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from beo_automation.admin_display import cut_text, status_badge
from maintenance.models import MaintenanceRun, Trigger
from maintenance.selectors import ROUTINE_OPERATIONS, routine_runs_q
from maintenance.tasks import ADMIN_OPERATIONS


class RoutineRunsFilter(admin.SimpleListFilter):
    """Hide the successful every-minute job runs beat records (1,440 a day each), so that
    backups, archives and failures are what the list shows; one click shows them all."""

    title = "routine job runs"
    parameter_name = "routine"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("shown", "Shown"), ("only", "Only routine runs")]

    def choices(self, changelist: Any) -> Iterator[Any]:
        # "All" would be misleading as the default label: the default hides them.
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Hidden when successful",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[MaintenanceRun]) -> Any:
        if self.value() == "shown":
            return queryset
        if self.value() == "only":
            return queryset.filter(operation__in=ROUTINE_OPERATIONS)
        return queryset.exclude(routine_runs_q())


class RunOperationForm(forms.Form):
    operation = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in ADMIN_OPERATIONS.items()],
        widget=forms.RadioSelect,
    )


@admin.register(MaintenanceRun)
class MaintenanceRunAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "operation",
        "outcome_badge",
        "trigger",
        "triggered_by",
        "duration",
        "summary_short",
    )
    list_filter = (RoutineRunsFilter, "operation", "outcome", "trigger")
    search_fields = ("operation", "triggered_by", "error")
    date_hierarchy = "started_at"
    ordering = ("-started_at", "-id")
    list_per_page = 50
    # The list never needs a full COUNT(*) of a long history to page through it.
    show_full_result_count = False
    fields = (
        "operation",
        "outcome",
        "trigger",
        "triggered_by",
        "host",
        "started_at",
        "finished_at",
        "duration_seconds",
        "arguments_pretty",
        "summary_pretty",
        "measurements_table",
        "error",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: MaintenanceRun | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: MaintenanceRun | None = None
    ) -> bool:
        return False  # the audit trail; pruned by schedule only

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj: MaintenanceRun) -> SafeString:
        return status_badge(obj.outcome)

    @admin.display(description="duration", ordering="duration_seconds")
    def duration(self, obj: MaintenanceRun) -> str:
        return "" if obj.duration_seconds is None else f"{obj.duration_seconds:,.1f} s"

    @admin.display(description="summary")
    def summary_short(self, obj: MaintenanceRun) -> SafeString | str:
        if obj.error:
            return cut_text(obj.error)
        return cut_text(
            ", ".join(
                f"{key}={value}"
                for key, value in (obj.summary or {}).items()
                if not isinstance(value, list | dict)
            )
        )

    @admin.display(description="arguments")
    def arguments_pretty(self, obj: MaintenanceRun) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.arguments, indent=2, default=str))

    @admin.display(description="summary")
    def summary_pretty(self, obj: MaintenanceRun) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.summary, indent=2, default=str))

    @admin.display(description="measurements")
    def measurements_table(self, obj: MaintenanceRun) -> SafeString | str:
        """An alert evaluation's checks, one row per rule."""
        measurements = (obj.summary or {}).get("measurements") or {}
        if not measurements:
            return "—"
        rows: Iterable[tuple[str, str, str]] = (
            (
                rule,
                "not measured: " + data["not_measured"] if data.get("not_measured") else "",
                "; ".join(
                    ("✗ " if c["firing"] else "✓ ") + c["message"] for c in data.get("checks", [])
                ),
            )
            for rule, data in measurements.items()
        )
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", rows),
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "run/",
                self.admin_site.admin_view(self.run_operation_view),
                name="maintenance_maintenancerun_run",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_run_maintenance": request.user.has_perm("maintenance.run_maintenance"),
        }
        return super().changelist_view(request, extra_context)

    def run_operation_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("maintenance.run_maintenance"):
            raise PermissionDenied
        form = RunOperationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            operation = form.cleaned_data["operation"]
            label, task = ADMIN_OPERATIONS[operation]
            username = request.user.get_username()
            transaction.on_commit(
                lambda: task.apply_async(
                    kwargs={"trigger": Trigger.ADMIN.value, "triggered_by": username}
                ),
                robust=True,
            )
            messages.success(
                request,
                f"Queued: {label}. It appears in this list when a worker starts it; a failure "
                "also raises an alert.",
            )
            return HttpResponseRedirect(reverse("admin:maintenance_maintenancerun_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Run a maintenance operation",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(
            request, "admin/maintenance/maintenancerun/run_operation.html", context
        )
