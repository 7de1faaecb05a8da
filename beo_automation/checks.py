"""System checks: a configuration under which a cache would let a revoked token through is an
error, reported by `manage.py check` (and every command and server start that runs checks).

A token is revoked by a password change or a deactivation (docs/security.md). Two caches sit
in front of that: the verified-token cache (beo_automation.jwt_caches) keeps only what the
signature proved, and the user is still checked on every request; the user-row cache keeps the
row that check reads for JWT_USER_CACHE_SECONDS. Each rule below names a setting that would
turn the check off or let a cache outlive the tokens it is meant to revoke.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.utils.module_loading import import_string

from beo_automation.tokens import AccessToken


@register(Tags.security)
def token_revocation_is_enforced(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    from rest_framework.settings import api_settings as drf_settings
    from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
    from rest_framework_simplejwt.settings import api_settings as jwt_settings

    errors: list[CheckMessage] = []
    if not jwt_settings.CHECK_REVOKE_TOKEN:
        errors.append(
            Error(
                "SIMPLE_JWT['CHECK_REVOKE_TOKEN'] is off: a password change would not revoke "
                "the user's tokens.",
                hint="Keep CHECK_REVOKE_TOKEN=True (beo_automation/settings.py).",
                id="beo_automation.E001",
            )
        )
    if not jwt_settings.CHECK_USER_IS_ACTIVE:
        errors.append(
            Error(
                "SIMPLE_JWT['CHECK_USER_IS_ACTIVE'] is off: a deactivated user's tokens would "
                "keep working.",
                hint="Keep CHECK_USER_IS_ACTIVE=True (beo_automation/settings.py).",
                id="beo_automation.E002",
            )
        )
    authenticators = cast("list[type]", drf_settings.DEFAULT_AUTHENTICATION_CLASSES)
    for authenticator in authenticators:
        if issubclass(authenticator, JWTStatelessUserAuthentication):
            errors.append(
                Error(
                    f"{authenticator.__module__}.{authenticator.__qualname__} trusts a token "
                    "without looking at its user: no password change or deactivation would "
                    "revoke it.",
                    hint="Use beo_automation.authentication.BearerJWTAuthentication.",
                    id="beo_automation.E003",
                )
            )
    for token_class in jwt_settings.AUTH_TOKEN_CLASSES:
        resolved = import_string(token_class) if isinstance(token_class, str) else token_class
        if not issubclass(resolved, AccessToken):
            errors.append(
                Error(
                    f"SIMPLE_JWT['AUTH_TOKEN_CLASSES'] holds {token_class}: the verified-token "
                    "cache keeps what it accepts, including claims simplejwt would crash on.",
                    hint="Use beo_automation.tokens.AccessToken (or a subclass).",
                    id="beo_automation.E004",
                )
            )
    lifetime = jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()
    if lifetime <= settings.JWT_USER_CACHE_SECONDS:
        errors.append(
            Error(
                f"JWT_USER_CACHE_SECONDS={settings.JWT_USER_CACHE_SECONDS:g} is not shorter "
                f"than the access token lifetime ({lifetime:g} s): a cached user row would "
                "outlive the tokens it is meant to revoke.",
                hint="Lower JWT_USER_CACHE_SECONDS (default 5; 0 looks the user up on every "
                "request).",
                id="beo_automation.E005",
            )
        )
    return errors
