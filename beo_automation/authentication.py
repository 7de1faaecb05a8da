"""JWT authentication for the API: simplejwt, with the operations guide's three 401 messages.

- no `Authorization` header, another scheme, or a malformed one → "Missing or invalid
  authorization header";
- a well-signed token past its `exp` → "Token expired";
- anything else (bad signature, garbage, absurd claims (beo_automation.tokens), a refresh token
  used as an access token, a user who no longer exists, was deactivated or changed their
  password since the token was issued) → "Invalid token".

Tokens are bound to the password hash they were issued against (simplejwt's
CHECK_REVOKE_TOKEN): a password change revokes every token of the user, and the check is made
against a cached user row too. beo_automation.checks refuses settings that would bypass it.

Two per-process caches (beo_automation.jwt_caches) save work on a client's repeated calls: the
verified token, kept by its exact bytes, and the user row a token names, kept for
JWT_USER_CACHE_SECONDS.

Kept apart from the token views (beo_automation.token_views): DRF imports this class while it
builds APIView itself, so this module must not import any view.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import (
    AuthenticationFailed as SimpleJWTAuthenticationFailed,
)
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from beo_automation.jwt_caches import user_rows, verified_tokens
from beo_automation.tokens import token_user_id

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
        known = verified_tokens.get(raw_token)
        if known is not None:
            return known
        expired = False
        for token_class in api_settings.AUTH_TOKEN_CLASSES:
            try:
                token: Token = token_class(raw_token)
            except ExpiredTokenError:
                expired = True
            except TokenError:
                continue
            else:
                verified_tokens.put(raw_token, token)
                return token
        if expired:
            raise AuthenticationFailed(TOKEN_EXPIRED, code="token_expired")
        raise AuthenticationFailed(INVALID_TOKEN, code="token_not_valid")

    def get_user(self, validated_token: Token) -> Any:
        user_id = token_user_id(validated_token.payload)
        if user_id is None:
            # Not reachable through our token classes (they refuse it); kept for any other.
            raise AuthenticationFailed(INVALID_TOKEN, code="token_not_valid")
        seconds = settings.JWT_USER_CACHE_SECONDS
        user = user_rows.get(user_id) if seconds > 0 else None
        if user is None:
            try:
                # simplejwt's lookup: the user must exist, be active and (CHECK_REVOKE_TOKEN)
                # still have the password the token was issued against.
                user = super().get_user(validated_token)
            except SimpleJWTAuthenticationFailed:
                # Deleted, deactivated or password changed since the token was issued: the
                # token no longer names anyone who may call the API. Which one is not the
                # caller's business.
                raise AuthenticationFailed(INVALID_TOKEN, code="token_not_valid") from None
            # Only users who passed every check are cached: a deactivated user is looked up
            # (and refused) on every request.
            if seconds > 0:
                user_rows.put(user_id, user, seconds=seconds)
        elif not token_matches_password(validated_token, user):
            # The cached row is the user's current one; this token was issued before their
            # password changed (another token of theirs put the row here).
            raise AuthenticationFailed(INVALID_TOKEN, code="token_not_valid")
        return user


def token_matches_password(token: Token, user: Any) -> bool:
    """simplejwt's revocation rule (CHECK_REVOKE_TOKEN), for a user row that came from the cache:
    the token carries a digest of the password hash it was issued against."""
    if not api_settings.CHECK_REVOKE_TOKEN:
        return True
    claim = token.get(api_settings.REVOKE_TOKEN_CLAIM)
    return isinstance(claim, str) and claim == get_md5_hash_password(user.password)
