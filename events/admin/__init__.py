"""Staff screens for events, archived events, webhook subscriptions and deliveries.

- big_table: what every changelist over millions of rows shares (estimated counts, a date
  hierarchy along the index, no facet counts);
- events: live events — the create form, the Retry/Cancel actions (events.services);
- archive: archived events, read-only;
- webhooks: subscriptions and their delivery history.
"""

from __future__ import annotations

# Importing the modules registers their ModelAdmins (Django's autodiscover imports this package).
from events.admin import archive, events, webhooks

__all__ = ["archive", "events", "webhooks"]
