"""Content-Security-Policy headers: the HTML policy for the admin and the docs, a strict one for
the API and every other non-HTML response (the browser tests show the pages work under it)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.subprocess_env import settings_in_child

pytestmark = pytest.mark.django_db

STRICT = {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_html_policy(response) -> None:
    assert response["Content-Type"].startswith("text/html")
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header
    assert "unsafe-eval" not in header


def test_the_admin_login_page_gets_the_html_policy(client):
    assert_html_policy(client.get("/admin/login/"))


def test_the_admin_pages_get_the_html_policy(admin_client):
    assert_html_policy(admin_client.get("/admin/"))
    assert_html_policy(admin_client.get("/admin/events/event/"))


def test_the_api_docs_get_the_html_policy_and_their_script_is_a_file(client):
    page = client.get("/api/docs/")
    assert_html_policy(page)
    html = page.content.decode()
    # No inline script or style: each <script> has a src, the page's CSS is a file.
    assert "<script>" not in html
    assert "<style" not in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert policy(script) == STRICT


def test_an_api_json_answer_gets_the_strict_policy(auth_client):
    response = auth_client.get("/api/events/")
    assert response.status_code == 200
    assert policy(response) == STRICT


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/events/"),  # 401 envelope
        ("get", "/api/no-such-thing/"),  # 404 envelope
        ("get", "/api/schema/"),  # the OpenAPI YAML
        ("get", "/api/health/live/"),
        ("get", "/metrics"),
        ("post", "/api/auth/token/"),  # 400 envelope
    ],
)
def test_every_other_api_answer_gets_the_strict_policy(method, path):
    response = getattr(APIClient(), method)(path, {}, format="json")
    assert not response["Content-Type"].startswith("text/html")
    assert policy(response) == STRICT


def test_an_answer_from_the_rate_limit_middleware_gets_the_strict_policy(settings):
    settings.RATELIMIT_API = "1/m"
    client = APIClient()
    client.get("/api/events/")
    response = client.get("/api/events/")
    assert response.status_code == 429
    assert policy(response) == STRICT


def test_violations_go_to_the_report_uri_when_one_is_set():
    [report_uri] = settings_in_child(
        "s.CONTENT_SECURITY_POLICY['DIRECTIVES']['report-uri']",
        CSP_REPORT_URI="https://csp.example.com/report",
    )
    assert report_uri == "https://csp.example.com/report"
    [unset] = settings_in_child("s.CONTENT_SECURITY_POLICY['DIRECTIVES']['report-uri']")
    assert unset is None


def test_an_answer_from_the_body_size_middleware_gets_the_strict_policy(auth_client, settings):
    settings.API_MAX_BODY_BYTES = 10
    response = auth_client.post("/api/events/", {"type": "x" * 100}, format="json")
    assert response.status_code == 413
    assert policy(response) == STRICT
