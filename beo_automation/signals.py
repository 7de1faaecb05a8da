"""Process-wide signal receivers, connected once from CoreConfig.ready()."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse
from django_structlog.signals import bind_extra_request_finished_metadata


def add_access_fields(
    sender: Any,
    request: HttpRequest,
    response: HttpResponse,
    log_kwargs: dict[str, Any],
    **kwargs: Any,
) -> None:
    """Turn django-structlog's request_finished into the access line the guide asks for."""
    # django-structlog's "code"/"request" say the same as status/method/path.
    log_kwargs.pop("code", None)
    log_kwargs.pop("request", None)
    log_kwargs["method"] = request.method
    log_kwargs["path"] = request.path
    log_kwargs["status"] = response.status_code
    started = getattr(request, "started_at", None)
    if started is not None:
        log_kwargs["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
    user = getattr(request, "user", None)
    log_kwargs["user_id"] = user.pk if user is not None and user.is_authenticated else None


def log_sql_when_debugging(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    # Django logs SQL text and duration only through its debug cursor, which it otherwise
    # enables just for DEBUG=True; LOG_LEVEL=debug should show queries in production too.
    connection.force_debug_cursor = True


def connect() -> None:
    bind_extra_request_finished_metadata.connect(
        add_access_fields, dispatch_uid="beo_automation.access_fields"
    )
    if settings.LOG_DEBUG_SQL:
        connection_created.connect(log_sql_when_debugging, dispatch_uid="beo_automation.sql_log")
