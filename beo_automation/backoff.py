"""The one retry-delay rule: event handlers and alert notifications both back off by it."""

from __future__ import annotations

import random


def backoff_seconds(*, attempt: int, base: float, ceiling: float) -> float:
    """Exponential backoff with jitter: base·2^(attempt-1), capped at `ceiling`, then drawn from
    its upper half so that retries spread out without ever coming sooner than half the delay."""
    delay = min(ceiling, base * 2 ** max(0, attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not crypto
