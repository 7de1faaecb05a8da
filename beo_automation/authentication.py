"""JWT authentication for the API: simplejwt, with the operations guide's three 401 messages.

- no `Authorization` header, another scheme, or a malformed one → "Missing or invalid
  authorization header";
- a well-signed token past its `exp` → "Token expired";
- anything else (bad signature, garbage, absurd claims (beo_automation.tokens), a refresh token
  used as an access token, a user who no longer exists, was deactivated or changed their
  password since the token was issued) → "Invalid token".

Tokens are bound to the password hash they were issued against (simplejwt's
CHECK_REVOKE_TOKEN): a password change revokes every token of the user, and the check is made
against the cached row too. beo_automation.checks refuses settings that would bypass it.

The user a token names is looked up once per JWT_USER_CACHE_SECONDS per process, not on every
request: under load that query (ORM work in the worker, a backend's CPU in PostgreSQL on the same
cores) cost about a sixth of the API's throughput (bench/ingest.py). What is cached is the
row, and every request gets a fresh instance built from it, so nothing a view does to
`request.user` leaks into another request. Saving or deleting a user clears its row in the
process that did it at once; other processes see a deactivation, a deletion or a change of staff
status within JWT_USER_CACHE_SECONDS (0 looks the user up on every request).

A token's signature and claims are verified once per process: the verified token is kept, keyed
by its exact bytes, until its `exp` (plus SIMPLE_JWT's leeway) passes, so a client calling with
the same token skips the HMAC and JSON decoding on later requests (a tenth of an API create's
CPU). Only what was verified is kept, so a forged or altered token never hits; an expired one
is verified again and refused as "Token expired". At most VERIFIED_TOKENS_MAX are kept.

Kept apart from the token views (beo_automation.auth): DRF imports this class while it builds
APIView itself, so this module must not import any view.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import (
    AuthenticationFailed as SimpleJWTAuthenticationFailed,
)
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from beo_automation.tokens import token_user_id

MISSING_HEADER = "Missing or invalid authorization header"
TOKEN_EXPIRED = "Token expired"  # noqa: S105 - a message, not a secret
INVALID_TOKEN = "Invalid token"  # noqa: S105

BEARER = b"bearer"


class _UserRowCache:
    """Token user id (as text) -> (expires at, model, database alias, field names, values)."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[float, type[Model], str, list[str], list[Any]]] = {}
        self._lock = threading.Lock()

    def get(self, user_id: Any) -> Model | None:
        entry = self._rows.get(str(user_id))
        if entry is None:
            return None
        expires, model, db, names, values = entry
        if time.monotonic() >= expires:
            self.forget(user_id)
            return None
        return model.from_db(db, names, values)

    def put(self, user_id: Any, user: Model, *, seconds: float) -> None:
        names = [field.attname for field in user._meta.concrete_fields]
        values = [getattr(user, name) for name in names]
        entry = (time.monotonic() + seconds, type(user), user._state.db or "default", names, values)
        with self._lock:
            self._rows[str(user_id)] = entry

    def forget(self, user_id: Any) -> None:
        with self._lock:
            self._rows.pop(str(user_id), None)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


user_rows = _UserRowCache()


class _VerifiedTokens:
    """Raw access token -> (its verified Token, epoch second from which it is no longer valid).

    A Token here is shared by every request that presents those bytes: read it, never change it.
    """

    def __init__(self, *, limit: int) -> None:
        self._tokens: dict[bytes, tuple[Token, float]] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, raw_token: bytes) -> Token | None:
        entry = self._tokens.get(raw_token)
        if entry is None:
            return None
        token, invalid_from = entry
        if time.time() < invalid_from:
            return token
        with self._lock:
            self._tokens.pop(raw_token, None)
        return None

    def put(self, raw_token: bytes, token: Token) -> None:
        exp = token.payload.get("exp")
        if not isinstance(exp, int | float):
            return
        leeway = token.get_token_backend().get_leeway().total_seconds()
        with self._lock:
            if raw_token not in self._tokens and len(self._tokens) >= self._limit:
                # Insertion order: the oldest token goes first.
                self._tokens.pop(next(iter(self._tokens)))
            self._tokens[raw_token] = (token, exp + leeway)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


VERIFIED_TOKENS_MAX = 10_000
verified_tokens = _VerifiedTokens(limit=VERIFIED_TOKENS_MAX)


def _on_user_change(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    user_rows.forget(getattr(instance, api_settings.USER_ID_FIELD))


# A lazy "app_label.ModelName" sender: DRF imports this module while it builds APIView, before
# the app registry is ready, and other models' saves (every event) must not call this at all.
post_save.connect(
    _on_user_change,
    sender=settings.AUTH_USER_MODEL,
    dispatch_uid="beo_automation.authentication.user_saved",
)
post_delete.connect(
    _on_user_change,
    sender=settings.AUTH_USER_MODEL,
    dispatch_uid="beo_automation.authentication.user_deleted",
)


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
