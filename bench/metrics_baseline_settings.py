"""bench/metrics_middleware.py's baseline server: the project's settings without the request
metrics middleware, and nothing else changed. Never part of the product."""

from __future__ import annotations

from beo_automation.settings import *  # noqa: F403
from beo_automation.settings import MIDDLEWARE

MIDDLEWARE = [m for m in MIDDLEWARE if m != "alerts.middleware.RequestMetricsMiddleware"]
