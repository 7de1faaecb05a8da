"""Archived events: read-only history (the maintenance archival writes them)."""

from __future__ import annotations

from django.contrib import admin

from events.admin.big_table import ReadOnlyAdmin
from events.admin.event_table import (
    EVENT_DETAIL_FIELDS,
    EVENT_DETAIL_FIELDSETS,
    EVENT_LIST_COLUMNS,
    EventTableAdmin,
)
from events.models import EventArchive


@admin.register(EventArchive)
class EventArchiveAdmin(ReadOnlyAdmin, EventTableAdmin):
    list_display = (*EVENT_LIST_COLUMNS, "archived_at")
    fieldsets = (
        *EVENT_DETAIL_FIELDSETS,
        ("Archive", {"fields": ("archived_at",)}),
    )
    readonly_fields = (*EVENT_DETAIL_FIELDS, "archived_at")
