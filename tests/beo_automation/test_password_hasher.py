"""The suite hashes passwords with MD5 for speed (tests/conftest.py); production does not."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import identify_hasher

from tests.subprocess_env import settings_in_child


def test_production_hashes_with_django_pbkdf2():
    (hashers,) = settings_in_child("s.PASSWORD_HASHERS")
    assert hashers[0] == "django.contrib.auth.hashers.PBKDF2PasswordHasher"
    assert "django.contrib.auth.hashers.MD5PasswordHasher" not in hashers


@pytest.mark.production_hasher
@pytest.mark.django_db
def test_a_production_hasher_test_stores_a_pbkdf2_hash_that_logs_in(user, password, api_client):
    assert identify_hasher(user.password).algorithm == "pbkdf2_sha256"
    response = api_client.post(
        "/api/auth/token/", {"username": user.username, "password": password}, format="json"
    )
    assert response.status_code == 200
    assert "access" in response.json()


@pytest.mark.django_db
def test_the_suite_stores_md5_hashes(user):
    assert identify_hasher(user.password).algorithm == "md5"
