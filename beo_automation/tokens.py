"""The project's JWT classes: simplejwt's, refusing well-signed claims it would crash on.

simplejwt trusts the claims of a token whose signature is right. A token signed with the real
key but holding `exp: 1e400`, `exp: "99999999999"`, `user_id: [1]` or a payload nested a
thousand deep made the API answer 500 (an overflow, a TypeError or a RecursionError escaping the
decoder, a user lookup with a value the database refuses). Here every such token is a
TokenError, which the API answers as `Invalid token`: the time claims must be whole epoch
seconds a datetime can hold, and the user id must be one the user model's id field accepts.

Settings wire these in: SIMPLE_JWT["AUTH_TOKEN_CLASSES"] (the API's bearer tokens) and the
token views' serializers (beo_automation.token_views).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings

# 9999-12-31T23:59:59Z, the last second a datetime holds: simplejwt turns `exp` into one.
MAX_EPOCH_SECONDS = 253_402_300_799
TIME_CLAIMS = ("exp", "iat", "nbf")
# What PyJWT and simplejwt let escape for hostile, well-signed claims: a payload nested too deep
# for json (RecursionError), int(inf) for 1e400 (OverflowError), datetime arithmetic on a string
# or a list (TypeError), a timestamp the platform cannot convert (OSError, ValueError).
HOSTILE_CLAIM_ERRORS = (RecursionError, OverflowError, ValueError, TypeError, OSError)


def token_user_id(payload: dict[str, Any]) -> Any | None:
    """The user id a token's claims name, as the user model's id field holds it; None if absent
    or not a value of that field (a float, a bool, a list, a number out of the column's range).

    simplejwt writes the id as a string; an integer is accepted too. Anything else could only
    be matched by coercion (`1.5` or `true` would name user 1), so it names nobody.
    """
    value = payload.get(api_settings.USER_ID_CLAIM)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    field = get_user_model()._meta.get_field(api_settings.USER_ID_FIELD)
    if not isinstance(field, models.Field):
        return None
    try:
        user_id = field.to_python(value)
        # The database's range for the column (Min/MaxValueValidator on integer fields).
        field.run_validators(user_id)
    except (ValidationError, *HOSTILE_CLAIM_ERRORS):
        return None
    return user_id


def _is_epoch_seconds(value: Any) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_EPOCH_SECONDS
    )


class _SaneClaims(tokens.Token):
    def __init__(self, token: Any = None, verify: bool = True) -> None:
        try:
            super().__init__(token, verify)
        except HOSTILE_CLAIM_ERRORS as exc:
            raise TokenError("Token is invalid") from exc

    def verify(self) -> None:
        # Before simplejwt's checks, which turn these claims into datetimes.
        for claim in TIME_CLAIMS:
            if claim in self.payload and not _is_epoch_seconds(self.payload[claim]):
                raise TokenError(f"Token '{claim}' claim is not a time")
        if token_user_id(self.payload) is None:
            raise TokenError("Token names no valid user")
        super().verify()


class AccessToken(_SaneClaims, tokens.AccessToken):
    pass


class RefreshToken(_SaneClaims, tokens.RefreshToken):  # type: ignore[misc]  # simplejwt's own
    access_token_class = AccessToken
