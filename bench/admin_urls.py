"""bench/admin.py's URLs: the project, plus the stock Django admin of events as the baseline.

Never part of the product: only bench/admin.py routes through it.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from events.models import Event

stock_site = admin.AdminSite(name="stock_admin")


@admin.register(Event, site=stock_site)
class StockEventAdmin(admin.ModelAdmin):
    """What a straightforward ModelAdmin for the same list would be: Django's defaults."""

    list_display = (
        "id",
        "type",
        "status",
        "priority",
        "owner",
        "created_at",
        "attempts",
        "duration_ms",
    )
    list_filter = ("status", "priority")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    search_fields = ("id", "type", "owner__username")


urlpatterns = [
    path("stock-admin/", stock_site.urls),
    path("", include("beo_automation.urls")),
]
