"""The token endpoints: obtain a JWT pair with a password, refresh an access token.

The token endpoints (`POST /api/auth/token/`, `POST /api/auth/token/refresh/`) are public and
rate limited per client IP by RATELIMIT_LOGIN; password logins are also locked out after
repeated failures (beo_automation.lockout). Tokens are HS256, signed with JWT_SIGNING_KEY or
SECRET_KEY, with the lifetimes in settings.SIMPLE_JWT.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenViewBase

from beo_automation.authentication import INVALID_TOKEN, TOKEN_EXPIRED, BearerJWTAuthentication
from beo_automation.errors import TooManyRequests
from beo_automation.lockout import LOCKED_OUT, lockout_seconds, login_locked_out
from beo_automation.ratelimit import client_ip, login_rate_limit_enforce
from beo_automation.schema import error_responses
from beo_automation.tokens import RefreshToken

logger = structlog.get_logger(__name__)

WRONG_CREDENTIALS = "Invalid username or password"


class TokenObtainInputSerializer(TokenObtainPairSerializer):
    token_class = RefreshToken
    default_error_messages = {"no_active_account": WRONG_CREDENTIALS}


class TokenRefreshInputSerializer(TokenRefreshSerializer):
    token_class = RefreshToken
    # simplejwt's "No active account found for the given token.", in the guide's words.
    default_error_messages = {"no_active_account": INVALID_TOKEN}

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        # The bearer tokens' rule, in one place: a refresh token whose user was deleted or
        # deactivated, or changed their password since, is `Invalid token` (simplejwt's refresh
        # checks neither the password nor, for a deleted user, answers anything but a 500).
        BearerJWTAuthentication().get_user(self.token_class(attrs["refresh"]))
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist:
            # Deleted between the check above and simplejwt's own lookup.
            raise AuthenticationFailed(INVALID_TOKEN, code="token_not_valid") from None


class TokenObtainRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Access token: send as `Authorization: Bearer …`.")
    refresh = serializers.CharField(help_text="Refresh token: exchange for a new access token.")


class TokenRefreshRequestSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class AccessTokenSerializer(serializers.Serializer):
    access = serializers.CharField()


class _TokenView(TokenViewBase):
    """Public, limited by RATELIMIT_LOGIN, and every token failure in the guide's words."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        login_rate_limit_enforce(request)

    def validated(self, request: Request) -> dict[str, Any]:
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except ExpiredTokenError:
            raise AuthenticationFailed(TOKEN_EXPIRED, code="token_expired") from None
        except TokenError:
            raise AuthenticationFailed(INVALID_TOKEN, code="token_not_valid") from None
        return dict(serializer.validated_data)


class TokenObtainView(_TokenView):
    serializer_class = TokenObtainInputSerializer

    @extend_schema(
        summary="Obtain an access and a refresh token",
        description=(
            "Exchange a username and password for a JWT pair. Rate limited per client IP "
            "(RATELIMIT_LOGIN, default 10 per minute); after AXES_FAILURE_LIMIT failed logins "
            "(default 5) the address and the username are locked out for AXES_COOLOFF_MINUTES "
            "(`Too many failed login attempts`, 429 with `Retry-After`)."
        ),
        request=TokenObtainRequestSerializer,
        responses={
            200: TokenPairSerializer,
            **error_responses(
                400,
                (401, "Wrong username or password (`Invalid username or password`)."),
                (
                    429,
                    (
                        "Rate limited (`Too many requests`) or, after repeated failed logins, "
                        "locked out (`Too many failed login attempts`); `Retry-After` says how "
                        "long."
                    ),
                ),
            ),
        },
        tags=["auth"],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        username = (
            str(request.data.get("username", ""))[:150] if isinstance(request.data, dict) else ""
        )
        try:
            data = self.validated(request)
        except AuthenticationFailed:
            # Security audit trail: who tried which account from where (never the password).
            logger.warning("Login failed", username=username, client_ip=client_ip(request))
            if login_locked_out(request):
                raise TooManyRequests(LOCKED_OUT, retry_after=lockout_seconds()) from None
            raise
        logger.info("Token issued", username=username, client_ip=client_ip(request))
        return Response(data)


class TokenRefreshView(_TokenView):
    serializer_class = TokenRefreshInputSerializer

    @extend_schema(
        summary="Exchange a refresh token for a new access token",
        description="Rate limited per client IP together with the token endpoint.",
        request=TokenRefreshRequestSerializer,
        responses={
            200: AccessTokenSerializer,
            **error_responses(
                400, (401, "The refresh token is expired (`Token expired`) or invalid.")
            ),
        },
        tags=["auth"],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self.validated(request))
