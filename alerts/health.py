"""Health check for notification channels: a channel that keeps failing means alerts reach
nobody, which operators must see on /api/health/ as much as a full disk."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db import DatabaseError, connection
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning

from alerts.notifiers import Channel, InvalidChannel, configured_channels, invalid_channels


@dataclasses.dataclass
class NotificationChannels(HealthCheck):
    """`warning` when a channel's last ALERT_CHANNEL_FAILING_AFTER attempts all failed or a URL
    of ALERT_NOTIFY_URLS is not understood; `ok` with no channels configured."""

    details: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)
    channels: list[Channel] = dataclasses.field(default_factory=list, init=False, repr=False)
    invalid: list[InvalidChannel] = dataclasses.field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        # Read here, before the checks run: the first read in a process imports Apprise, which
        # can take longer than the check's timeout (meant for the database) on a busy machine.
        self.channels = configured_channels()
        self.invalid = invalid_channels()

    def run(self) -> None:
        channels, invalid = self.channels, self.invalid
        self.details = {"channels": len(channels)}
        if invalid:
            self.details["invalid"] = [f"#{c.position} ({c.label})" for c in invalid]
            raise ServiceWarning(
                f"{len(invalid)} URL(s) in ALERT_NOTIFY_URLS are not valid Apprise URLs"
            )
        if not channels:
            return
        from alerts.selectors import failing_channels

        try:
            failing = failing_channels()
        except DatabaseError as exc:
            raise ServiceUnavailable("cannot read channel state: database unavailable") from exc
        finally:
            # This runs in a health-check thread: give its connection back to the pool.
            connection.close()
        if failing:
            self.details["failing"] = [c.label for c in failing]
            described = "; ".join(
                f"{c.label} ({c.consecutive_failures} consecutive failures)" for c in failing
            )
            raise ServiceWarning(f"notification channels failing: {described}")
