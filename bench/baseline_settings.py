"""bench/ingest.py's baseline server: the project's settings with nothing but a bare DRF insert.

Same database, pool and models as the product; no middleware, no authentication, no rate limit,
no logging of requests. Never part of the product: only bench/ingest.py starts it.
"""

from __future__ import annotations

from typing import Any

from beo_automation.settings import *  # noqa: F403
from beo_automation.settings import REST_FRAMEWORK

ROOT_URLCONF = "bench.baseline_urls"
MIDDLEWARE = []
_rest_framework: dict[str, Any] = {
    **REST_FRAMEWORK,
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
REST_FRAMEWORK = _rest_framework
