"""Login lockout (django-axes): the admin login and the API token endpoint, one counter.

Every password check goes through django.contrib.auth.authenticate(), so both logins share
django-axes' failure records: AXES_FAILURE_LIMIT failures within AXES_COOLOFF_MINUTES lock out
(per client IP and per username by default, AXES_LOCKOUT_PARAMETERS), and while locked out
even the right password is refused. A lockout answers 429 with `Retry-After`: the admin a page
saying so, the API the error envelope `Too many failed login attempts`. Each failure is a
django-axes AccessFailureLog row and each lockout a warning log line "Login locked out" (who,
from where); `manage.py axes_reset_username <name>` / `axes_reset_ip <ip>` lift one early.

The API endpoint learns of a lockout from django-axes' `axes_locked_out` flag on the request it
passed to authenticate() (DRF's request: AxesMiddleware, which reads the flag from Django's,
sees it only for the admin).
"""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from beo_automation.errors import ErrorDescription, is_api_request, json_error_response

logger = structlog.get_logger(__name__)

LOCKED_OUT = "Too many failed login attempts"


# django-axes' records hold at most 255 characters of username (and PostgreSQL no NUL): a
# longer or NUL-holding name tried at a login would make recording the failure a 500. No
# account's name is longer than the user model's (150), so nothing that names one is lost.
USERNAME_KEPT = 150


def lockout_username(request: Any, credentials: dict[str, Any] | None = None) -> str | None:
    """AXES_USERNAME_CALLABLE: django-axes' own choice (the credentials, else the POSTed form
    field), cut to USERNAME_KEPT characters and without NUL."""
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")  # axes sets it
    if credentials:
        value = credentials.get(field)
    else:
        post = getattr(request, "POST", None)
        value = post.get(field) if post is not None else None
    if value is None:
        return None
    return str(value).replace("\x00", "")[:USERNAME_KEPT]


def lockout_seconds() -> int:
    """How long a lockout lasts (and what `Retry-After` says): AXES_COOLOFF_TIME."""
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def login_locked_out(request: Any) -> bool:
    """Whether django-axes refused (or just locked) the login attempt made with this request."""
    return bool(getattr(request, "axes_locked_out", False))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: what a locked-out login gets instead of the login page."""
    seconds = lockout_seconds()
    if is_api_request(request):
        return json_error_response(
            request, ErrorDescription(429, LOCKED_OUT, headers={"Retry-After": str(seconds)})
        )
    response = render(
        request,
        "admin/locked_out.html",
        {"title": LOCKED_OUT, "minutes": max(1, seconds // 60)},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


def log_lockout(
    sender: Any, request: Any = None, username: str | None = None, ip_address: str = "", **_: Any
) -> None:
    # django-axes' user_locked_out signal: the audit line (its own DB rows hold the rest).
    logger.warning(
        "Login locked out",
        username=(username or "")[:150],
        client_ip=ip_address,
        path=getattr(request, "path", ""),
        lockout_seconds=lockout_seconds(),
    )


def connect() -> None:
    from axes.signals import user_locked_out

    user_locked_out.connect(log_lockout, dispatch_uid="beo_automation.lockout.log_lockout")
