"""What every alerts admin screen shares: error text, severity badges, read-only screens and
the loop that applies an action to each selected row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from beo_automation.admin_actions import error_text
from beo_automation.admin_display import status_badge
from beo_automation.errors import AppError

__all__ = ["ReadOnlyAdmin", "each_selected", "error_text", "severity_badge"]

M = TypeVar("M", bound=Model)


def severity_badge(severity: str) -> SafeString:
    return status_badge(severity)


def each_selected(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[M],
    *,
    call: Callable[[M], Any],
    logged: str,
    summary: Callable[[int], str],
    describe: Callable[[M], str],
) -> None:
    """Call the service on each selected row: each one it refuses is listed with its reason,
    the others recorded in the admin's history (`logged`) and counted (`summary`)."""
    done, refused = 0, []
    for obj in queryset:
        try:
            call(obj)
        except AppError as exc:
            refused.append(f"{describe(obj)}: {error_text(exc)}")
            continue
        done += 1
        modeladmin.log_change(request, obj, logged)
    if done:
        modeladmin.message_user(request, summary(done), messages.SUCCESS)
    for text in refused:
        modeladmin.message_user(request, text, messages.WARNING)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
