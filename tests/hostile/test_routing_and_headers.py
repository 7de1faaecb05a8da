"""Methods, paths and headers: unknown /api/ paths answer the JSON 404 envelope for every
method (no CSRF page, no trailing-slash redirect that drops the body), known paths a 405,
and hostile Idempotency-Key / X-Request-ID headers a 400 or a fresh id."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.hostile.conftest import error_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]

UNKNOWN_PATHS = [
    "/api/events/abc/retry/",
    "/api/events",
    "/api/events/bulk",
    "/api/events/1/retry",
    "/api/alerts",
    "/api/incidents",
    "/api/auth/token",
    "/api/nope/",
    "/api/events/1/delete/",
    "/api/%00/",
    "/api/events/%ED%A0%80/",
]
UNSAFE = ["post", "put", "patch", "delete"]


def request(client, method: str, path: str):
    if method == "get":
        return client.get(path)
    return getattr(client, method)(path, data="{}", content_type="application/json")


@pytest.mark.parametrize("method", [*UNSAFE, "get", "options"])
@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_an_unknown_api_path_is_a_404_envelope_for_every_method(
    auth_client, unchanged, method, path
):
    response = request(auth_client, method, path)

    if method == "get" and response.status_code == 301:
        # GET /api/events -> /api/events/: a redirect loses nothing.
        assert response["Location"].endswith("/")
        return
    error_of(response, 404)
    unchanged()


@pytest.mark.parametrize("method", UNSAFE)
def test_csrf_is_never_checked_with_an_html_page_under_api(method, unchanged):
    # A browser-like client: CSRF checks on, a session cookie, no token.
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = "x"

    response = getattr(client, method)(
        "/api/events/abc/retry/", data="{}", content_type="application/json"
    )

    error_of(response, 404)
    unchanged()


def test_a_csrf_failure_under_api_is_the_json_envelope(rf):
    from beo_automation.errors import csrf_failure

    response = csrf_failure(rf.post("/api/anything/"), reason="CSRF cookie not set.")

    error_of(response, 403)


def test_a_csrf_failure_elsewhere_is_djangos_page(rf):
    from beo_automation.errors import csrf_failure

    response = csrf_failure(rf.post("/admin/login/"), reason="CSRF cookie not set.")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/events/"),
        ("delete", "/api/events/"),
        ("patch", "/api/events/bulk/"),
        ("get", "/api/events/bulk/"),
        ("put", "/api/events/1/"),
        ("get", "/api/events/1/retry/"),
        ("get", "/api/auth/token/"),
        ("delete", "/api/health/"),
        ("post", "/api/health/live/"),
        ("post", "/api/schema/"),
        ("post", "/api/docs/"),
    ],
)
def test_a_method_a_known_path_does_not_take_is_a_405(auth_client, unchanged, method, path):
    response = request(auth_client, method, path)

    error_of(response, 405)
    unchanged()


@pytest.mark.parametrize(
    "key",
    ["", " ", "a b", "x" * 256, "\x00", "é", "a\tb", "a\x7f"],
    ids=["empty", "space", "inner space", "256 chars", "NUL", "non-ASCII", "tab", "DEL"],
)
def test_an_invalid_idempotency_key_is_a_400(auth_client, unchanged, key):
    response = auth_client.post(
        "/api/events/",
        data='{"type": "a", "payload": {}}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )

    assert list(error_of(response, 400)["details"]) == ["Idempotency-Key"]
    unchanged()


@pytest.mark.parametrize(
    "request_id",
    ["", "x" * 65, "a b", "\x00", "é", "<script>", "-leading-dash", "a\r\nX-Injected: 1"],
    ids=["empty", "65 chars", "space", "NUL", "non-ASCII", "markup", "leading dash", "CRLF"],
)
def test_an_invalid_request_id_is_replaced_not_echoed(auth_client, request_id):
    response = auth_client.get("/api/events/9/", HTTP_X_REQUEST_ID=request_id)

    error = error_of(response, 404)
    assert response["X-Request-ID"] != request_id
    assert error["request_id"] == response["X-Request-ID"]
    assert "X-Injected" not in response


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Bearer \x00",
        "Bearer é",
        "Bearer a.b.c",
        "Basic YTpi",
        "Bearer " + "a" * 10000,
    ],
    ids=["no token", "empty token", "NUL", "non-ASCII", "garbage JWT", "Basic", "10 kB"],
)
def test_a_hostile_authorization_header_is_a_401(api_client, authorization):
    response = api_client.get("/api/events/", HTTP_AUTHORIZATION=authorization)

    error_of(response, 401)


@pytest.mark.parametrize("body", ["0", "false", "null", "[]", '""', "[{}]", "1e400", "true"])
def test_an_alert_resolve_body_that_is_not_an_object_is_a_400(staff_client, alert, unchanged, body):
    response = staff_client.post(
        f"/api/alerts/{alert.pk}/resolve/", data=body, content_type="application/json"
    )

    error_of(response, 400)
    unchanged()


def test_an_empty_alert_resolve_body_resolves(staff_client, alert):
    response = staff_client.post(f"/api/alerts/{alert.pk}/resolve/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "resolved"


@pytest.mark.parametrize(
    "path",
    [
        "/api/incidents/",
        "/api/incidents/{incident}/transition/",
        "/api/auth/token/",
        "/api/auth/token/refresh/",
    ],
)
@pytest.mark.parametrize("body", ["0", "false", "null", "[]", '"x"'])
def test_other_bodies_that_are_not_objects_are_a_400(clients, incident, unchanged, path, body):
    client = clients["staff"] if "incidents" in path else clients["anonymous"]

    response = client.post(
        path.format(incident=incident.pk), data=body, content_type="application/json"
    )

    error_of(response, 400)
    unchanged()


@pytest.mark.parametrize(
    "query", ["format=nope", "format=%00", "lang=%00", "lang=xx-nope", "version=%00"]
)
def test_hostile_schema_queries_never_fail(api_client, query):
    response = api_client.get(f"/api/schema/?{query}")

    if response.status_code != 200:
        error_of(response, 404)


@pytest.mark.parametrize("host", ["evil.example", "a b", "[::1", "localhost\x00"])
@pytest.mark.parametrize("path", ["/api/events/", "/api/health/", "/api/nope/"])
def test_a_host_the_site_does_not_serve_is_a_400_envelope(auth_client, path, host):
    response = auth_client.get(path, HTTP_HOST=host)

    error_of(response, 400)
