"""GET /api/ops/overview/: staff only (real JWTs), the selector's numbers, documented."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from alerts.models import Alert
from events.models import Status
from tests.factories import EventFactory
from tests.hostile.conftest import error_of

pytestmark = pytest.mark.django_db

URL = "/api/ops/overview/"
PARTS = ["health", "alerts", "incidents", "events", "backups", "jobs", "workers", "channels"]


def test_the_url_is_named():
    assert reverse("ops-overview") == URL


def test_staff_get_the_overview_as_a_json_object(staff_client):
    now = timezone.now()
    EventFactory(status=Status.FAILED, created_at=now - timedelta(hours=1))
    EventFactory(status=Status.FAILED, created_at=now - timedelta(days=3))
    EventFactory(status=Status.COMPLETED, created_at=now - timedelta(minutes=5))
    Alert.objects.create(fingerprint="a", name="Disk full", severity="critical")

    response = staff_client.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == "application/json"
    body = response.json()
    assert list(body) == PARTS
    assert body["events"]["total"] == 2
    assert body["events"]["by_status"]["failed"] == 1
    assert body["events"]["failed"] == 2
    assert body["alerts"]["by_severity"]["critical"] == 1
    assert body["alerts"]["items"][0]["name"] == "Disk full"
    assert body["health"]["checks"]["database"]["status"] == "ok"
    assert "alive" in body["workers"]


def test_a_non_staff_user_gets_a_403_envelope(auth_client):
    assert error_of(auth_client.get(URL), 403)["message"]


def test_no_token_is_a_401_envelope(api_client):
    error = error_of(api_client.get(URL), 401)
    assert error["message"] == "Missing or invalid authorization header"


def test_an_expired_staff_token_is_a_401(staff_user):
    token = AccessToken.for_user(staff_user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert error_of(client.get(URL), 401)["message"] == "Token expired"


def test_it_reads_only(staff_client):
    response = staff_client.post(URL, {}, format="json")
    assert error_of(response, 405)["code"] == 405


def test_the_schema_documents_the_overview_its_parts_and_its_errors():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"][URL]["get"]
    assert set(schema["paths"][URL]) == {"get"}
    assert operation["operationId"] == "ops_overview"
    assert operation["security"] == [{"jwtAuth": []}]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    component = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[1]]
    assert list(component["properties"]) == PARTS
    assert set(component["required"]) == set(PARTS)
    assert all(p["type"] == "object" for p in component["properties"].values())
    assert {"401", "403", "429"} <= set(operation["responses"])


@pytest.mark.parametrize(
    "query",
    ["?now=%00", "?x=%ED%A0%80", "?" + "a[" * 500 + "=1", "?page_size=1e999", "?%C0%AF=1"],
)
def test_a_crafted_query_string_is_ignored_not_a_500(staff_client, query):
    # The overview takes no parameters: whatever is sent, the answer is the overview.
    response = staff_client.get(URL + query)
    assert response.status_code == 200
    assert list(response.json()) == PARTS


@pytest.mark.parametrize(
    "body",
    [b'{"a":' * 5000 + b"1" + b"}" * 5000, b'{"x": "\\ud800"}', b"\x00", b'{"truncated": '],
)
def test_a_hostile_body_is_a_4xx_envelope(staff_client, body):
    response = staff_client.generic("POST", URL, body, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert response["Content-Type"].startswith("application/json")
    assert "error" in response.json()
