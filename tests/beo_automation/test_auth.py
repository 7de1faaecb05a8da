"""JWT authentication: the token endpoints and the operations guide's three 401 messages."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from beo_automation import authentication, jwt_caches
from tests.logs import log_lines
from tests.subprocess_env import python, settings_in_child

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


def test_a_token_is_verified_once_and_refused_once_it_expires(user, monkeypatch):
    decoded = []
    real_decode = TokenBackend.decode

    def counting_decode(backend, token, verify=True):
        decoded.append(token)
        return real_decode(backend, token, verify)

    monkeypatch.setattr(TokenBackend, "decode", counting_decode)
    # The clock stands still until the token's exp is passed on purpose (a slow machine's
    # calls cannot outlast it), then moves a second past it without waiting.
    with time_machine.travel(time.time(), tick=False) as clock:
        token = AccessToken.for_user(user)
        # exp is a whole second: at least a full second from now, then it passes.
        token["exp"] = int(time.time()) + 2
        header = f"Bearer {token}"
        assert call_with(header).status_code == 200
        assert call_with(header).status_code == 200
        assert len(decoded) == 1
        clock.move_to(token["exp"] + 1.05)
        assert error_of(call_with(header), 401)["message"] == "Token expired"


def test_a_verified_token_does_not_vouch_for_an_altered_one(user):
    access = AccessToken.for_user(user)
    token = str(access)
    assert call_with(f"Bearer {token}").status_code == 200
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert error_of(call_with(f"Bearer {tampered}"), 401)["message"] == "Invalid token"
    forged = jwt.encode(dict(access.payload), "some other key " * 4, algorithm="HS256")
    assert error_of(call_with(f"Bearer {forged}"), 401)["message"] == "Invalid token"


def test_the_verified_token_cache_keeps_at_most_its_limit(user):
    cache = jwt_caches.VerifiedTokens(limit=2)
    tokens = [AccessToken.for_user(user) for _ in range(3)]
    for token in tokens:
        cache.put(str(token).encode(), token)
    assert cache.get(str(tokens[0]).encode()) is None
    assert cache.get(str(tokens[2]).encode()) is tokens[2]


def user_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "auth_user" in q["sql"]]


def test_the_user_a_token_names_is_looked_up_once_per_cache_period(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    with CaptureQueriesContext(connection) as first:
        assert client.get(PROTECTED).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get(PROTECTED, {"status": "failed"}).status_code == 200
    assert len(user_queries(first)) == 1
    assert user_queries(second) == []


def test_a_user_deactivated_elsewhere_is_refused_once_the_cache_period_ends(
    user, settings, monkeypatch
):
    settings.JWT_USER_CACHE_SECONDS = 5
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    assert client.get(PROTECTED).status_code == 200
    # An update() sends no signal: exactly what this process sees when another process
    # (another gunicorn worker, the admin on another host) deactivates the user.
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert client.get(PROTECTED).status_code == 200
    now = time.monotonic()
    monkeypatch.setattr(jwt_caches.time, "monotonic", lambda: now + 5.1)
    assert error_of(client.get(PROTECTED), 401)["message"] == "Invalid token"


def test_without_the_cache_a_deactivation_is_seen_on_the_next_request(user, settings):
    settings.JWT_USER_CACHE_SECONDS = 0
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    assert client.get(PROTECTED).status_code == 200
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert error_of(client.get(PROTECTED), 401)["message"] == "Invalid token"


def test_losing_staff_status_in_this_process_applies_at_once(staff_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(staff_user)}")
    assert client.get("/api/alerts/").status_code == 200
    staff_user.is_staff = False
    staff_user.save()
    assert error_of(client.get("/api/alerts/"), 403)["code"] == 403


def test_every_request_gets_its_own_user_instance(user):
    token = AccessToken.for_user(user)
    auth = authentication.BearerJWTAuthentication()
    first = auth.get_user(token)
    first.first_name = "changed by a view"
    second = auth.get_user(token)
    assert second is not first
    assert second.pk == user.pk
    assert second.first_name == user.first_name


def test_a_negative_user_cache_period_is_refused():
    result = python(
        "import django; django.setup()", JWT_USER_CACHE_SECONDS="-1", ENV_FILE="/dev/null"
    )
    assert result.returncode != 0
    assert "JWT_USER_CACHE_SECONDS must be 0" in result.stderr


def test_tokens_are_signed_with_the_secret_key_unless_a_jwt_key_is_set():
    key, algorithm = settings_in_child(
        "s.SIMPLE_JWT['SIGNING_KEY'] == s.SECRET_KEY", "s.SIMPLE_JWT['ALGORITHM']"
    )
    assert key is True
    assert algorithm == "HS256"
    [dedicated] = settings_in_child("s.SIMPLE_JWT['SIGNING_KEY']", JWT_SIGNING_KEY="k" * 64)
    assert dedicated == "k" * 64
