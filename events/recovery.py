"""The worst-case recovery the project states (README, docs/reliability.md), from the settings.

An event is stranded by a killed worker (it stays `processing`) or a lost doorbell with no later
traffic (it stays `pending`). The sweep, every SWEEP_PERIOD_SECONDS on the housekeeping queue,
returns the first after EVENT_PROCESSING_TIMEOUT without progress and re-rings for the second
after EVENT_REQUEUE_AFTER; running drains claim them in their next batch. `make chaos`
(bench/chaos.py) fails a run whose recovery exceeds this bound.
"""

from __future__ import annotations

from django.conf import settings

# beat's events_sweep entry: cron "* * * * *" (beat cannot tick faster).
SWEEP_PERIOD_SECONDS = 60.0
# The sweep starting behind the other minutely housekeeping jobs, its own run, and the next
# batch of a drain that claims the returned events.
HOUSEKEEPING_MARGIN_SECONDS = 10.0


def recovery_bound_seconds(
    *, processing_timeout: float | None = None, requeue_after: float | None = None
) -> float:
    """Seconds until a stranded event is claimable again, at worst (settings when omitted)."""
    timeout = processing_timeout
    if timeout is None:
        timeout = settings.EVENT_PROCESSING_TIMEOUT
    requeue = settings.EVENT_REQUEUE_AFTER if requeue_after is None else requeue_after
    return max(timeout, requeue) + SWEEP_PERIOD_SECONDS + HOUSEKEEPING_MARGIN_SECONDS
