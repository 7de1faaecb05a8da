from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """django.contrib.admin with the console's site as `admin.site`: every existing
    `@admin.register` lands on it unchanged."""

    default_site = "beo_automation.console.site.ConsoleAdminSite"
