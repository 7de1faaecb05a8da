"""System checks: a notification URL Apprise cannot use is a configuration error, reported by
`manage.py check` (and every command that runs checks), not discovered during an outage."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register


@register()
def notify_urls_are_valid(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    from alerts.notifiers import invalid_channels

    return [
        Error(
            f"ALERT_NOTIFY_URLS: URL {channel.position} ({channel.label}) is not a valid "
            "Apprise URL.",
            hint="See https://github.com/caronc/apprise/wiki for each service's URL format; "
            "`python manage.py send_test_alert` tries every channel.",
            id="alerts.E001",
        )
        for channel in invalid_channels()
    ]
