"""JWT authentication for the API: simplejwt, with the operations guide's three 401 messages.

- no `Authorization` header, another scheme, or a malformed one → "Missing or invalid
  authorization header";
- a well-signed token past its `exp` → "Token expired";
- anything else (bad signature, garbage, a refresh token used as an access token, a user who
  no longer exists or was deactivated) → "Invalid token".

Kept apart from the token views (beo_automation.auth): DRF imports this class while it builds
APIView itself, so this module must not import any view.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import (
    AuthenticationFailed as SimpleJWTAuthenticationFailed,
)
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

MISSING_HEADER = "Missing or invalid authorization header"
TOKEN_EXPIRED = "Token expired"  # noqa: S105 - a message, not a secret
INVALID_TOKEN = "Invalid token"  # noqa: S105

BEARER = b"bearer"


class BearerJWTAuthentication(JWTAuthentication):
    """`Authorization: Bearer <access token>`, with messages a client can act on."""

    def get_raw_token(self, header: bytes) -> bytes | None:
        parts = header.split()
        # The scheme is case-insensitive (RFC 7235); anything but exactly "Bearer <token>" is
        # a client error, not "some other authentication scheme" as simplejwt assumes.
        if len(parts) != 2 or parts[0].lower() != BEARER:
            raise AuthenticationFailed(MISSING_HEADER, code="invalid_header")
        return parts[1]

    def get_validated_token(self, raw_token: bytes) -> Token:
        expired = False
        for token_class in api_settings.AUTH_TOKEN_CLASSES:
            try:
                token: Token = token_class(raw_token)
            except ExpiredTokenError:
                expired = True
            except TokenError:
                continue
            else:
                return token
        if expired:
            raise AuthenticationFailed(TOKEN_EXPIRED, code="token_expired")
        raise AuthenticationFailed(INVALID_TOKEN, code="token_not_valid")

    def get_user(self, validated_token: Token) -> Any:
        try:
            return super().get_user(validated_token)
        except SimpleJWTAuthenticationFailed:
            # Deleted or deactivated since the token was issued: the token no longer names
            # anyone who may call the API. Which of the two is not the caller's business.
            raise AuthenticationFailed(INVALID_TOKEN, code="token_not_valid") from None
