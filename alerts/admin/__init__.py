"""Staff screens: alerts (acknowledge, resolve, silence), silences, incidents (timeline, stage
actions, post-mortem), notifications with their attempts, channel health.

Every action calls the same service the API calls, and is recorded in the admin's history
(LogEntry) with who and what.
"""

from __future__ import annotations

# Importing registers each screen with the admin site.
from alerts.admin import alerts, incidents, notifications, silences

__all__ = ["alerts", "incidents", "notifications", "silences"]
