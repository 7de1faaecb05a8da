"""What the live and the archived events' screens share: columns, detail layout, search."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString

from beo_automation.admin_display import cut_text, status_badge
from events.admin.big_table import BigTableAdmin, duration_text, pretty_json
from events.models import Event, EventArchive, Status
from events.selectors import events_search

EVENT_LIST_COLUMNS = (
    "id",
    "type",
    "status_badge",
    "priority_label",
    "owner",
    "created_at",
    "attempts",
    "duration",
)
# The live list shows why an event failed instead of how long it took (on its page): at
# 1440 px, beside the navigation and the filters, there is room for one of them.
LIVE_EVENT_LIST_COLUMNS = (*EVENT_LIST_COLUMNS[:-1], "last_error_short")

EVENT_DETAIL_FIELDSETS: Any = (
    (None, {"fields": ("id", "type", "status_badge", "priority_label", "owner")}),
    ("Payload and result", {"fields": ("payload_json", "result_json", "last_error")}),
    (
        "Processing",
        {
            "fields": (
                "attempts",
                "max_attempts",
                "duration",
                "created_at",
                "available_at",
                "started_at",
                "finished_at",
                "updated_at",
            )
        },
    ),
    ("Request", {"fields": ("request_id", "idempotency_key")}),
)
FINISHED_WORD = {
    Status.COMPLETED: "Completed",
    Status.FAILED: "Failed (gave up)",
    Status.CANCELLED: "Cancelled",
}
EVENT_DETAIL_FIELDS = tuple(f for _, opts in EVENT_DETAIL_FIELDSETS for f in opts["fields"])


class EventTableAdmin(BigTableAdmin):
    """Live and archived events: shared columns, and a search that uses indexes."""

    list_filter = ("status", "priority")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    # The search box appears when search_fields is set; get_search_results does the work.
    search_fields = ("id", "type", "owner__username")
    search_help_text = (
        "An event id (123 or #123), the beginning of a type (beo. finds beo.created), "
        "or part of the owner's username."
    )
    # Only orders an index serves: any other sort is a sort of the whole table.
    sortable_by = ("id", "created_at")
    ordering = ("-created_at", "-id")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        return events_search(queryset=queryset, term=search_term), False

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Event | EventArchive) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description="last error")
    def last_error_short(self, obj: Event | EventArchive) -> SafeString | str:
        return cut_text(obj.last_error)

    @admin.display(description="finished at")
    def finished_at(self, obj: Event | EventArchive) -> str:
        """When it reached its final state, said as that state: `completed_at` holds the time
        for completed, failed and cancelled events alike."""
        if obj.completed_at is None:
            return "—"
        word = FINISHED_WORD.get(Status(obj.status), "Finished")
        return f"{word} {date_format(timezone.localtime(obj.completed_at), 'DATETIME_FORMAT')}"

    @admin.display(description="priority", ordering="priority")
    def priority_label(self, obj: Event | EventArchive) -> str:
        return obj.priority_name

    @admin.display(description="duration")
    def duration(self, obj: Event | EventArchive) -> str:
        return duration_text(obj.duration_ms)

    @admin.display(description="payload")
    def payload_json(self, obj: Event | EventArchive) -> SafeString:
        return pretty_json(obj.payload)

    @admin.display(description="result")
    def result_json(self, obj: Event | EventArchive) -> SafeString:
        return pretty_json(obj.result)
