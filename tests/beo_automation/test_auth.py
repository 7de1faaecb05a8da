"""JWT authentication: the token endpoints and the operations guide's three 401 messages."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.logs import log_lines
from tests.subprocess_env import settings_in_child

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"
REFRESH_URL = "/api/auth/token/refresh/"
PROTECTED = "/api/events/"


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == status
    return body["error"]


def call_with(header: str | None):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client.get(PROTECTED)


def expired(token):
    token.set_exp(from_time=timezone.now() - timedelta(hours=2), lifetime=timedelta(hours=1))
    return str(token)


def test_a_username_and_password_give_a_token_pair_that_works(api_client, user, password):
    response = api_client.post(
        TOKEN_URL, {"username": "alice", "password": password}, format="json"
    )
    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    assert call_with(f"Bearer {tokens['access']}").status_code == 200


def test_the_access_token_lives_as_long_as_configured(api_client, user, password):
    tokens = api_client.post(
        TOKEN_URL, {"username": "alice", "password": password}, format="json"
    ).json()
    claims = AccessToken(tokens["access"])
    assert claims["exp"] - claims["iat"] == 900
    refresh = RefreshToken(tokens["refresh"])
    assert refresh["exp"] - refresh["iat"] == 86400


def test_a_wrong_password_is_a_401_envelope(api_client, user):
    error = error_of(
        api_client.post(TOKEN_URL, {"username": "alice", "password": "nope"}, format="json"), 401
    )
    assert error["message"] == "Invalid username or password"


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(api_client):
    error = error_of(
        api_client.post(TOKEN_URL, {"username": "mallory", "password": "x"}, format="json"), 401
    )
    assert error["message"] == "Invalid username or password"


def test_an_inactive_user_gets_no_token(api_client, user, password):
    user.is_active = False
    user.save()
    error = error_of(
        api_client.post(TOKEN_URL, {"username": "alice", "password": password}, format="json"), 401
    )
    assert error["message"] == "Invalid username or password"


def test_missing_credentials_are_a_400_naming_them(api_client):
    error = error_of(api_client.post(TOKEN_URL, {}, format="json"), 400)
    assert set(error["details"]) == {"username", "password"}


def test_a_failed_login_is_logged_without_the_password(api_client, user):
    api_client.post(TOKEN_URL, {"username": "alice", "password": "s3cret-guess"}, format="json")
    [line] = [line for line in log_lines() if line.get("event") == "Login failed"][-1:]
    assert line["username"] == "alice"
    assert line["client_ip"] == "127.0.0.1"
    assert line["level"] == "warn"
    assert "s3cret-guess" not in str(line)


def test_a_refresh_token_gives_a_new_access_token(api_client, user):
    response = api_client.post(
        REFRESH_URL, {"refresh": str(RefreshToken.for_user(user))}, format="json"
    )
    assert response.status_code == 200
    assert call_with(f"Bearer {response.json()['access']}").status_code == 200


def test_an_expired_refresh_token_is_token_expired(api_client, user):
    error = error_of(
        api_client.post(
            REFRESH_URL, {"refresh": expired(RefreshToken.for_user(user))}, format="json"
        ),
        401,
    )
    assert error["message"] == "Token expired"


def test_an_access_token_cannot_be_used_to_refresh(api_client, user):
    error = error_of(
        api_client.post(REFRESH_URL, {"refresh": str(AccessToken.for_user(user))}, format="json"),
        401,
    )
    assert error["message"] == "Invalid token"


def test_a_refresh_token_of_a_deleted_user_is_invalid(api_client, django_user_model):
    ghost = django_user_model.objects.create_user(username="ghost", password="x" * 20)
    refresh = str(RefreshToken.for_user(ghost))
    ghost.delete()
    error = error_of(api_client.post(REFRESH_URL, {"refresh": refresh}, format="json"), 401)
    assert error["message"] == "Invalid token"


def test_the_token_endpoints_are_documented_as_public(api_client):
    # No Authorization header and still an answer from the view (a 400), not a 401.
    assert api_client.post(REFRESH_URL, {}, format="json").status_code == 400


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Token abc", "Basic YWxpY2U6cHc=", "Bearer a b"],
)
def test_a_missing_or_malformed_header_is_named_as_such(header):
    error = error_of(call_with(header), 401)
    assert error["message"] == "Missing or invalid authorization header"


def test_the_401_tells_the_client_to_use_a_bearer_token():
    assert call_with(None)["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_access_token_is_token_expired(user):
    error = error_of(call_with(f"Bearer {expired(AccessToken.for_user(user))}"), 401)
    assert error["message"] == "Token expired"


@pytest.mark.parametrize("kind", ["garbage", "wrong-key", "refresh", "no-exp-claim"])
def test_anything_else_is_an_invalid_token(user, kind):
    if kind == "garbage":
        token = "not.a.jwt"
    elif kind == "wrong-key":
        claims = dict(AccessToken.for_user(user).payload)
        token = jwt.encode(claims, "some other key " * 4, algorithm="HS256")
    elif kind == "refresh":
        token = str(RefreshToken.for_user(user))
    else:
        access = AccessToken.for_user(user)
        del access.payload["exp"]
        token = str(access)
    error = error_of(call_with(f"Bearer {token}"), 401)
    assert error["message"] == "Invalid token"


def test_the_scheme_is_case_insensitive(user):
    assert call_with(f"bearer {AccessToken.for_user(user)}").status_code == 200


def test_a_token_of_a_deactivated_user_is_invalid(user):
    token = str(AccessToken.for_user(user))
    user.is_active = False
    user.save()
    assert error_of(call_with(f"Bearer {token}"), 401)["message"] == "Invalid token"


def test_a_token_of_a_deleted_user_is_invalid(django_user_model):
    ghost = django_user_model.objects.create_user(username="ghost", password="x" * 20)
    token = str(AccessToken.for_user(ghost))
    ghost.delete()
    assert error_of(call_with(f"Bearer {token}"), 401)["message"] == "Invalid token"


def test_tokens_are_signed_with_the_secret_key_unless_a_jwt_key_is_set():
    key, algorithm = settings_in_child(
        "s.SIMPLE_JWT['SIGNING_KEY'] == s.SECRET_KEY", "s.SIMPLE_JWT['ALGORITHM']"
    )
    assert key is True
    assert algorithm == "HS256"
    [dedicated] = settings_in_child("s.SIMPLE_JWT['SIGNING_KEY']", JWT_SIGNING_KEY="k" * 64)
    assert dedicated == "k" * 64
