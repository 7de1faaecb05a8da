from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def environment(request: HttpRequest) -> dict[str, Any]:
    """Lets the admin show which environment a staff member is operating on."""
    return {"ENVIRONMENT": settings.ENVIRONMENT, "DEBUG_MODE": settings.DEBUG}
