"""bench/metrics_middleware.py's baseline server: the project's settings without the request
metrics middleware, and nothing else changed. Never part of the product."""

from __future__ import annotations

from beo_automation.settings import *  # noqa: F403
from beo_automation.settings import MIDDLEWARE

METRICS_MIDDLEWARE = "beo_automation.metrics.middleware.RequestMetricsMiddleware"
MIDDLEWARE = [m for m in MIDDLEWARE if m != METRICS_MIDDLEWARE]
