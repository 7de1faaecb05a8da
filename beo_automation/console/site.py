"""The admin site of the operations console: its index shows the ops overview's panels above
the app list, and /admin/ops/panels/ renders the panels alone for the page's 30 s refresh
(static/js/ops-overview.js)."""

from __future__ import annotations

from typing import Any

import structlog
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path
from django.views.decorators.cache import never_cache

from beo_automation.console.panels import console_panels

logger = structlog.get_logger(__name__)

PANELS_TEMPLATE = "admin/ops/panels.html"
# What the page's script waits between two refreshes (its data-refresh-seconds).
REFRESH_SECONDS = 30


def console_overview_get(*, request: HttpRequest) -> dict[str, Any]:
    """The overview as the panels show it; {"error": ...} when it could not be computed at all,
    so the index (the app list) still renders."""
    try:
        from beo_automation.ops.overview import ops_overview_get

        overview = ops_overview_get()
    except Exception as exc:  # the index must outlive any failure of the overview
        logger.exception("ops_overview_failed", error=str(exc))
        return {"error": f"The overview could not be computed ({type(exc).__name__})."}
    return console_panels(overview=overview, user=request.user)


class ConsoleAdminSite(admin.AdminSite):
    def get_urls(self) -> list[URLResolver | URLPattern]:
        return [
            path("ops/panels/", never_cache(self.ops_panels_view), name="ops_panels"),
            *super().get_urls(),
        ]

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = dict(extra_context or {})
        if request.user.is_active and request.user.is_staff:
            extra_context["ops"] = console_overview_get(request=request)
            extra_context["ops_refresh_seconds"] = REFRESH_SECONDS
        return super().index(request, extra_context)

    def ops_panels_view(self, request: HttpRequest) -> HttpResponse:
        # Not admin_view: the page's script fetches this, and a login page in its place (the
        # redirect admin_view answers) would be swapped into the index. A 403 stops the refresh.
        if not self.has_permission(request):
            raise PermissionDenied
        context = {
            **self.each_context(request),
            "ops": console_overview_get(request=request),
            "ops_refresh_seconds": REFRESH_SECONDS,
        }
        return TemplateResponse(request, PANELS_TEMPLATE, context)
