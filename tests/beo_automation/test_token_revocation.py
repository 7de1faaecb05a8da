"""A password change or a deactivation revokes every token the user holds; a system check
refuses a configuration under which a cache would let a revoked token through."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from rest_framework.test import APIClient

from beo_automation import jwt_caches

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"
REFRESH_URL = "/api/auth/token/refresh/"
PROTECTED = "/api/events/"
NEW_PASSWORD = "a different horse, staple 43"


def tokens_for(username: str, password: str) -> dict[str, str]:
    response = APIClient().post(
        TOKEN_URL, {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def get_with(access: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get(PROTECTED)


def refresh(refresh_token: str):
    return APIClient().post(REFRESH_URL, {"refresh": refresh_token}, format="json")


def assert_invalid_token(response) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"] == {**body["error"], "code": 401, "message": "Invalid token"}


def assert_revoked(old: dict[str, str]) -> None:
    assert_invalid_token(get_with(old["access"]))
    assert_invalid_token(refresh(old["refresh"]))


def test_set_password_and_save_revokes_the_old_tokens_and_new_ones_work(user, password):
    old = tokens_for("alice", password)
    assert get_with(old["access"]).status_code == 200  # and its user row is now cached
    user.set_password(NEW_PASSWORD)
    user.save()
    assert_revoked(old)
    new = tokens_for("alice", NEW_PASSWORD)
    assert get_with(new["access"]).status_code == 200
    refreshed = refresh(new["refresh"])
    assert refreshed.status_code == 200
    assert get_with(refreshed.json()["access"]).status_code == 200


def test_an_access_token_refreshed_before_the_change_is_revoked_too(user, password):
    old = tokens_for("alice", password)
    refreshed_access = refresh(old["refresh"]).json()["access"]
    user.set_password(NEW_PASSWORD)
    user.save()
    assert_invalid_token(get_with(refreshed_access))


def test_a_password_changed_in_the_admin_revokes_the_tokens(user, password, superuser, client):
    old = tokens_for("alice", password)
    assert get_with(old["access"]).status_code == 200
    client.force_login(superuser)
    response = client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content
    assert_revoked(old)
    assert get_with(tokens_for("alice", NEW_PASSWORD)["access"]).status_code == 200


def test_deactivating_revokes_the_tokens(user, password):
    old = tokens_for("alice", password)
    assert get_with(old["access"]).status_code == 200
    user.is_active = False
    user.save()
    assert_revoked(old)


def test_a_deactivated_users_refresh_is_the_listed_invalid_token(user, password):
    # simplejwt's own answer was "No active account found for the given token.".
    old = tokens_for("alice", password)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert_invalid_token(refresh(old["refresh"]))


def test_a_new_tokens_cached_row_does_not_let_an_old_token_through(user, password):
    old = tokens_for("alice", password)
    user.set_password(NEW_PASSWORD)
    user.save()
    new = tokens_for("alice", NEW_PASSWORD)
    assert get_with(new["access"]).status_code == 200  # caches alice's current row
    assert_invalid_token(get_with(old["access"]))
    assert_invalid_token(refresh(old["refresh"]))


def test_a_password_changed_by_another_process_revokes_within_the_cache_period(
    user, password, settings, monkeypatch
):
    settings.JWT_USER_CACHE_SECONDS = 5
    old = tokens_for("alice", password)
    assert get_with(old["access"]).status_code == 200
    user.set_password(NEW_PASSWORD)
    # update() sends no signal: what this process sees of a change made by another one.
    type(user).objects.filter(pk=user.pk).update(password=user.password)
    assert get_with(old["access"]).status_code == 200
    now = time.monotonic()
    monkeypatch.setattr(jwt_caches.time, "monotonic", lambda: now + 5.1)
    assert_revoked(old)


def test_without_the_user_cache_another_process_change_applies_at_once(user, password, settings):
    settings.JWT_USER_CACHE_SECONDS = 0
    old = tokens_for("alice", password)
    assert get_with(old["access"]).status_code == 200
    user.set_password(NEW_PASSWORD)
    type(user).objects.filter(pk=user.pk).update(password=user.password)
    assert_revoked(old)


def test_a_token_issued_without_the_password_claim_is_refused(user):
    # Issued before revocation was turned on (or by hand): it cannot be bound to a password.
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    del token.payload["hash_password"]
    assert_invalid_token(get_with(str(token)))


def test_the_shipped_configuration_passes_the_checks():
    call_command("check")


@pytest.mark.parametrize(
    ("changes", "error_id"),
    [
        ({"CHECK_REVOKE_TOKEN": False}, "beo_automation.E001"),
        ({"CHECK_USER_IS_ACTIVE": False}, "beo_automation.E002"),
        (
            {"AUTH_TOKEN_CLASSES": ("rest_framework_simplejwt.tokens.AccessToken",)},
            "beo_automation.E004",
        ),
        ({"ACCESS_TOKEN_LIFETIME": timedelta(seconds=5)}, "beo_automation.E005"),
    ],
    ids=["no-revoke-check", "no-active-check", "plain-token-class", "cache-outlives-token"],
)
def test_a_configuration_that_would_let_a_revoked_token_through_is_refused(
    settings, changes, error_id
):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, **changes}
    with pytest.raises(SystemCheckError, match=re.escape(error_id)):
        call_command("check")


def test_a_user_cache_longer_than_the_token_lifetime_is_refused(settings):
    settings.JWT_USER_CACHE_SECONDS = 900
    with pytest.raises(SystemCheckError, match=r"beo_automation\.E005"):
        call_command("check")


def test_a_stateless_token_authenticator_is_refused(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication"
        ],
    }
    with pytest.raises(SystemCheckError, match=r"beo_automation\.E003"):
        call_command("check")
