"""Which API endpoints an anonymous caller can use, and whether hostile input is refused.

The URL conf is walked for every route under /api/: each DRF view's methods are asked, with
an anonymous request, whether DRF's own permission check would let the caller in. Input
validation is checked by behaviour: hostile bodies are posted to the event endpoints, in a
transaction that is rolled back, and each must be refused with a 4xx error envelope and store
nothing.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver

from maintenance.services.security.result import CheckResult

# The endpoints the API promises to serve without a token (issue: health, token, API docs).
PUBLIC_API_PATHS = frozenset(
    {
        "/api/health/",
        "/api/health/live/",
        "/api/auth/token/",
        "/api/auth/token/refresh/",
        "/api/schema/",
        "/api/docs/",
    }
)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    path: str
    callback: Callable[..., Any]

    @property
    def view_class(self) -> type | None:
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def is_drf(self) -> bool:
        from rest_framework.views import APIView

        cls = self.view_class
        return cls is not None and issubclass(cls, APIView)

    def methods(self) -> list[str]:
        cls = self.view_class
        if cls is None:
            return []
        actions = getattr(self.callback, "actions", None)
        if actions:
            return sorted(actions)
        names: list[str] = getattr(cls, "http_method_names", [])
        return [m for m in names if m not in {"options", "head"} and hasattr(cls, m)]


def _walk(patterns: list[Any], prefix: str) -> Iterator[Endpoint]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield Endpoint("/" + prefix + str(pattern.pattern), pattern.callback)


def api_endpoints() -> Iterator[Endpoint]:
    """Every route under /api/ (paths as written in the URL conf, regex routes included)."""
    for endpoint in _walk(get_resolver().url_patterns, ""):
        if endpoint.path.startswith(("/api/", "/^api/")):
            yield endpoint


def _anonymous_allowed(endpoint: Endpoint, method: str) -> bool:
    """Would DRF let an anonymous caller through this method's permission check?"""
    from rest_framework import exceptions
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    cls = endpoint.view_class
    assert cls is not None
    view = cls(**(getattr(endpoint.callback, "initkwargs", None) or {}))
    django_request = APIRequestFactory().generic(method.upper(), endpoint.path)
    request = Request(django_request, authenticators=view.get_authenticators())
    view.request = request
    view.args, view.kwargs = (), {}
    view.format_kwarg = None
    view.action_map = getattr(endpoint.callback, "actions", None)
    try:
        view.check_permissions(request)
    except (exceptions.NotAuthenticated, exceptions.AuthenticationFailed):
        return False
    except exceptions.PermissionDenied:
        return False
    return True


def check_authentication(endpoints: list[Endpoint]) -> CheckResult:
    protected, public, unexpected, unverifiable = 0, [], [], []
    for endpoint in endpoints:
        # The catch-all that answers 404 with the envelope for unknown /api/ paths.
        if getattr(endpoint.callback, "__name__", "") == "api_not_found":
            continue
        if not endpoint.is_drf:
            if endpoint.path in PUBLIC_API_PATHS:
                public.append(endpoint.path)
            else:
                unverifiable.append(f"{endpoint.path} (not a DRF view: authentication unknown)")
            continue
        open_methods = [m.upper() for m in endpoint.methods() if _anonymous_allowed(endpoint, m)]
        if not open_methods:
            protected += 1
        elif endpoint.path in PUBLIC_API_PATHS:
            public.append(endpoint.path)
        else:
            unexpected.append(f"{endpoint.path} ({', '.join(open_methods)} without a token)")
    problems = unexpected + unverifiable
    if problems:
        return CheckResult(
            name="",
            status="fail",
            reason=f"{len(problems)} API endpoint(s) can be used without authentication",
            details=problems,
        )
    return CheckResult(
        name="",
        status="pass",
        reason=f"{protected} endpoints require a token; public by design: "
        + (", ".join(sorted(public)) or "none"),
    )


_VALID = {"type": "beo.created", "payload": {"beo": "BEO-1"}, "priority": "high"}
# (label, path, body): each must be refused. Shapes an attacker or a broken client sends.
HOSTILE_BODIES: tuple[tuple[str, str, Any], ...] = (
    ("a list instead of an object", "/api/events/", ["beo.created"]),
    ("no fields", "/api/events/", {}),
    ("an unknown field", "/api/events/", {**_VALID, "status": "completed"}),
    ("a type outside the pattern", "/api/events/", {**_VALID, "type": "<script>x</script>"}),
    ("a NUL character", "/api/events/", {**_VALID, "type": "beo.x\x00"}),
    ("a number for the type", "/api/events/", {**_VALID, "type": 7}),
    ("an unknown priority", "/api/events/", {**_VALID, "priority": "now!"}),
    ("a payload that is not an object", "/api/events/", {**_VALID, "payload": "x" * 50}),
    ("a bulk item with an unknown field", "/api/events/bulk/", [_VALID, {**_VALID, "x": 1}]),
    ("a bulk body that is not a list", "/api/events/bulk/", _VALID),
)


def _hostile_outcomes() -> list[str]:
    from django.contrib.auth import get_user_model
    from django.urls import resolve
    from rest_framework.test import APIRequestFactory, force_authenticate

    from events.models import Event

    problems: list[str] = []
    factory = APIRequestFactory()
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=f"security-check-{secrets.token_hex(8)}", password=None
        )
        for label, path, body in HOSTILE_BODIES:
            request = factory.post(path, body, format="json")
            force_authenticate(request, user=user)
            match = resolve(path)
            response = match.func(request, *match.args, **match.kwargs)
            data = getattr(response, "data", None)
            refused = 400 <= response.status_code < 500
            enveloped = isinstance(data, dict) and data.get("success") is False
            if not (refused and enveloped):
                problems.append(
                    f"POST {path} with {label}: answered {response.status_code}"
                    + ("" if enveloped else " without the error envelope")
                )
        stored = Event.objects.filter(owner=user).count()
        if stored:
            problems.append(f"{stored} event(s) stored from them")
        # Undo everything the probe wrote: its user, and any row a view let through.
        transaction.set_rollback(True)
    return problems


def check_input_validation() -> CheckResult:
    problems = _hostile_outcomes()
    if problems:
        return CheckResult(
            name="",
            status="fail",
            reason=f"{len(problems)} hostile request(s) were not refused",
            details=problems,
        )
    return CheckResult(
        name="",
        status="pass",
        reason=f"{len(HOSTILE_BODIES)} hostile bodies posted to the event endpoints were each "
        "refused with a 4xx error envelope, and none was stored",
    )
