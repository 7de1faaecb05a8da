"""Tokens signed with the real key but with absurd claims: a listed 401, never a 500."""

from __future__ import annotations

import json

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

pytestmark = pytest.mark.django_db

PROTECTED = "/api/events/"
REFRESH_URL = "/api/auth/token/refresh/"
LISTED_401 = {"Missing or invalid authorization header", "Token expired", "Invalid token"}
ABSENT = object()


def signed(claims: dict) -> str:
    """A token signed with the real key: what only someone holding it could make."""
    return jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")


def signed_raw(payload_json: str) -> str:
    """Like signed(), but with the payload's JSON text exactly as given (1e400, deep nesting)."""
    return jwt.api_jws.encode(
        payload_json.encode(), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256"
    )


def with_claims(base, **changes) -> dict:
    claims = dict(base.payload)
    for name, value in changes.items():
        if value is ABSENT:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def assert_401(response, message: str) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == 401
    assert body["error"]["message"] == message
    assert message in LISTED_401


def bearer_get(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(PROTECTED)


def refresh_with(token: str):
    return APIClient().post(REFRESH_URL, {"refresh": token}, format="json")


ABSURD_CLAIMS = {
    "exp-huge": {"exp": 10**30},
    "exp-beyond-datetime": {"exp": 253_402_300_800},
    "exp-float": {"exp": 4_000_000_000.5},
    "exp-string-number": {"exp": "4000000000"},
    "exp-string": {"exp": "tomorrow"},
    "exp-list": {"exp": [4_000_000_000]},
    "exp-null": {"exp": None},
    "exp-missing": {"exp": ABSENT},
    "iat-huge": {"iat": 10**30},
    "iat-string": {"iat": "yesterday"},
    "nbf-huge-string": {"nbf": "9" * 40},
    "user-id-string": {"user_id": "alice"},
    "user-id-float": {"user_id": 1.5},
    "user-id-float-string": {"user_id": "1.0"},
    "user-id-huge": {"user_id": 2**80},
    "user-id-huge-string": {"user_id": str(2**80)},
    "user-id-beyond-int4": {"user_id": 2**31},
    "user-id-negative": {"user_id": -1},
    "user-id-list": {"user_id": [1]},
    "user-id-object": {"user_id": {"id": 1}},
    "user-id-null": {"user_id": None},
    "user-id-bool": {"user_id": True},
    "user-id-nul": {"user_id": "1\x00"},
    "user-id-surrogate": {"user_id": "\ud800"},
    "user-id-missing": {"user_id": ABSENT},
    "jti-missing": {"jti": ABSENT},
    "token-type-missing": {"token_type": ABSENT},
    "token-type-wrong": {"token_type": "refresh"},
    "token-type-list": {"token_type": ["access"]},
    "token-type-object": {"token_type": {"access": True}},
}


@pytest.mark.parametrize("changes", ABSURD_CLAIMS.values(), ids=ABSURD_CLAIMS.keys())
def test_an_access_token_with_absurd_claims_is_an_invalid_token(user, changes):
    assert_401(
        bearer_get(signed(with_claims(AccessToken.for_user(user), **changes))), "Invalid token"
    )


@pytest.mark.parametrize(
    "changes",
    [c for name, c in ABSURD_CLAIMS.items() if not name.startswith("token-type")],
    ids=[name for name in ABSURD_CLAIMS if not name.startswith("token-type")],
)
def test_a_refresh_token_with_absurd_claims_is_an_invalid_token(user, changes):
    assert_401(
        refresh_with(signed(with_claims(RefreshToken.for_user(user), **changes))), "Invalid token"
    )


# PyJWT reads `true` as 1: 1970, long past.
@pytest.mark.parametrize("exp", [-1, 0, 1_000_000_000, True], ids=["-1", "0", "2001", "true"])
def test_a_past_or_negative_exp_is_token_expired(user, exp):
    assert_401(
        bearer_get(signed(with_claims(AccessToken.for_user(user), exp=exp))), "Token expired"
    )
    assert_401(
        refresh_with(signed(with_claims(RefreshToken.for_user(user), exp=exp))), "Token expired"
    )


def raw_payload(base, **json_values: str) -> str:
    """The base token's claims as JSON text, with some values replaced by raw JSON text."""
    claims = {k: v for k, v in base.payload.items() if k not in json_values}
    text = json.dumps(claims)[:-1]
    for name, value in json_values.items():
        text += f', "{name}": {value}'
    return text + "}"


@pytest.mark.parametrize(
    "json_values",
    [
        {"exp": "1e400"},
        {"exp": "-1e400"},
        {"iat": "1e400"},
        {"nbf": "1e400"},
        {"exp": "NaN"},
        {"user_id": "1e400"},
        {"extra": "[" * 5000 + "]" * 5000},
        {"extra": '{"a":' * 5000 + "1" + "}" * 5000},
    ],
    ids=[
        "exp-1e400",
        "exp--1e400",
        "iat-1e400",
        "nbf-1e400",
        "exp-nan",
        "user-id-1e400",
        "deep-list",
        "deep-object",
    ],
)
def test_a_token_whose_payload_json_is_hostile_is_an_invalid_token(user, json_values):
    access = signed_raw(raw_payload(AccessToken.for_user(user), **json_values))
    assert_401(bearer_get(access), "Invalid token")
    refresh = signed_raw(raw_payload(RefreshToken.for_user(user), **json_values))
    assert_401(refresh_with(refresh), "Invalid token")


def test_a_payload_that_is_not_an_object_is_an_invalid_token():
    for payload in ["[]", '"text"', "1", "null"]:
        assert_401(bearer_get(signed_raw(payload)), "Invalid token")
        assert_401(refresh_with(signed_raw(payload)), "Invalid token")


def test_an_integer_user_id_still_names_the_user(user):
    # simplejwt writes the id as a string; a plain integer is the same user.
    assert (
        bearer_get(signed(with_claims(AccessToken.for_user(user), user_id=user.pk))).status_code
        == 200
    )


def test_a_float_user_id_does_not_name_the_user_it_rounds_to(user):
    assert_401(
        bearer_get(signed(with_claims(AccessToken.for_user(user), user_id=user.pk + 0.2))),
        "Invalid token",
    )


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ('{"refresh": 123}', 401, "Invalid token"),
        ('{"refresh": "not.a.jwt"}', 401, "Invalid token"),
        ('{"refresh": "\\u00e9\\u00e9.\\u00e9.\\u00e9"}', 401, "Invalid token"),
        ('{"refresh": ""}', 400, "Validation failed"),
        ('{"refresh": null}', 400, "Validation failed"),
        ('{"refresh": ["a.b.c"]}', 400, "Validation failed"),
        ('{"refresh": {"token": "a.b.c"}}', 400, "Validation failed"),
        ("[]", 400, "Validation failed"),
    ],
    ids=["number", "garbage", "non-ascii", "empty", "null", "list", "object", "list-body"],
)
def test_every_refresh_failure_is_a_listed_401_or_a_validation_error(body, status, message):
    response = APIClient().post(REFRESH_URL, body, content_type="application/json")
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (status, message)
