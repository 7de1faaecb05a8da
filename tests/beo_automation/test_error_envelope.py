"""Every error under /api/ has the same envelope, and unknown errors leak nothing."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.beo_automation.urls")]


def assert_envelope(response, status: int, message: str | None = None) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == status
    assert body["error"]["request_id"] == response["X-Request-ID"]
    if message is not None:
        assert body["error"]["message"] == message
    return body


def test_validation_error_lists_each_field(api_client):
    response = api_client.post(
        "/api/test/echo/", {"name": "far too long", "count": 0}, format="json"
    )
    body = assert_envelope(response, 400, "Validation failed")
    assert set(body["error"]["details"]) == {"name", "count"}
    assert all(isinstance(v, list) and v for v in body["error"]["details"].values())


def test_malformed_json_is_a_400(api_client):
    response = api_client.post(
        "/api/test/echo/", data='{"name": "x",', content_type="application/json"
    )
    assert_envelope(response, 400, "Malformed JSON request body")


def test_missing_token_is_a_401(api_client):
    response = api_client.get("/api/test/protected/")
    assert_envelope(response, 401, "Missing or invalid authorization header")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_valid_token_passes(auth_client, user):
    response = auth_client.get("/api/test/protected/")
    assert response.status_code == 200
    assert response.json() == {"user": user.username}


def test_unknown_api_path_is_a_404_envelope(api_client):
    assert_envelope(api_client.get("/api/does-not-exist/"), 404, "Not found")


@override_settings(DEBUG=True)
def test_unknown_api_path_is_an_envelope_even_with_debug(api_client):
    assert_envelope(api_client.get("/api/does-not-exist/"), 404, "Not found")


def test_typed_not_found_names_the_resource(api_client):
    assert_envelope(api_client.get("/api/test/raise/notfound/"), 404, "Event not found")


def test_wrong_method_is_a_405(api_client):
    response = api_client.delete("/api/health/live/")
    assert_envelope(response, 405, 'Method "DELETE" not allowed.')


def test_body_over_the_limit_is_a_413_and_never_read(api_client, settings):
    settings.API_MAX_BODY_BYTES = 100
    response = api_client.post(
        "/api/test/echo/", data=json.dumps({"name": "x" * 500}), content_type="application/json"
    )
    body = assert_envelope(response, 413)
    assert body["error"]["message"].startswith("Request body too large")


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        ("forbidden", 403, "Forbidden"),
        ("conflict", 409, "Event is completed"),
        ("toomany", 429, "Too many requests"),
        ("validation", 400, "Validation failed"),
    ],
)
def test_typed_exceptions_become_their_status(api_client, kind, status, message):
    response = api_client.get(f"/api/test/raise/{kind}/")
    assert_envelope(response, status, message)
    if kind == "toomany":
        assert response["Retry-After"] == "30"


def _assert_leaks_nothing(response, *secrets: str) -> None:
    body = assert_envelope(response, 500, "Internal server error")
    assert set(body["error"]) == {"code", "message", "request_id"}
    text = response.content.decode()
    for secret in (*secrets, "Traceback", 'File "'):
        assert secret not in text


def test_unexpected_exception_in_an_api_view_leaks_nothing(api_client):
    response = api_client.get("/api/test/raise/crash/")
    _assert_leaks_nothing(response, "hunter2", "RuntimeError")


def test_unexpected_exception_in_a_plain_view_leaks_nothing(client):
    response = client.get("/api/test/plain-crash/")
    _assert_leaks_nothing(response, "secret_internal_key", "KeyError")


@override_settings(DEBUG=True)
def test_unexpected_exception_leaks_nothing_even_with_debug(client):
    response = client.get("/api/test/plain-crash/")
    _assert_leaks_nothing(response, "secret_internal_key", "KeyError")


def test_non_api_pages_keep_html_errors(client):
    response = client.get("/definitely-not-a-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
