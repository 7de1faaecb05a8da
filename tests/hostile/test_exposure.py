"""What a response may show: every null a response holds is declared nullable in the OpenAPI
schema, the public health endpoint shows no filesystem path, and a hostile request that is
refused never counts as a server error in the request metrics that fire "High Error Rate"."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from beo_automation.metrics.requests import request_window
from tests.alerts.helpers import fire
from tests.hostile.conftest import error_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        else:
            return node


def nulls_not_declared(
    value: Any, node: dict[str, Any], schema: dict[str, Any], at: str = ""
) -> list[str]:
    """The paths in `value` that are null where the schema does not say `nullable`."""
    nullable = node.get("nullable", False)
    node = _resolve(node, schema)
    if value is None:
        return [] if nullable or node.get("nullable") else [at or "<root>"]
    found: list[str] = []
    if isinstance(value, dict):
        properties = node.get("properties", {})
        for key, item in value.items():
            if key in properties:
                found += nulls_not_declared(item, properties[key], schema, f"{at}.{key}")
    elif isinstance(value, list) and "items" in node:
        for index, item in enumerate(value):
            found += nulls_not_declared(item, node["items"], schema, f"{at}[{index}]")
    return found


def response_schema(schema: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    operation = schema["paths"][path][method]
    return operation["responses"][status]["content"]["application/json"]["schema"]


def test_every_null_in_alert_and_incident_responses_is_declared(staff_client, schema):
    incident = fire("Down", severity="critical", message="m").incident  # no commander, not acked
    assert incident is not None
    alert = fire("Slow", severity="low", message="m")  # no incident, not acknowledged

    cases = [
        (f"/api/alerts/{alert.pk}/", "/api/alerts/{id}/", "200"),
        ("/api/alerts/", "/api/alerts/", "200"),
        (f"/api/incidents/{incident.pk}/", "/api/incidents/{id}/", "200"),
        ("/api/incidents/", "/api/incidents/", "200"),
    ]
    for url, path, status in cases:
        body = staff_client.get(url).json()
        assert (
            nulls_not_declared(body, response_schema(schema, path, "get", status), schema) == []
        ), url


def test_every_null_in_event_responses_is_declared(auth_client, schema):
    created = auth_client.post("/api/events/", {"type": "a", "payload": {}}, format="json").json()
    listed = auth_client.get("/api/events/").json()

    assert (
        nulls_not_declared(created, response_schema(schema, "/api/events/", "post", "201"), schema)
        == []
    )
    assert (
        nulls_not_declared(listed, response_schema(schema, "/api/events/", "get", "200"), schema)
        == []
    )


def test_the_nullable_user_names_are_declared(schema):
    components = schema["components"]["schemas"]
    assert components["Alert"]["properties"]["acknowledged_by"]["nullable"] is True
    assert components["Alert"]["properties"]["resolved_by"]["nullable"] is True
    assert components["Incident"]["properties"]["commander"]["nullable"] is True


def test_page_size_and_cursor_are_documented_on_every_list(schema):
    for path in ["/api/events/", "/api/alerts/", "/api/incidents/"]:
        parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert parameters["page_size"]["schema"]["minimum"] == 1, path
        assert parameters["page_size"]["schema"]["maximum"] == 500, path
        assert "cursor" in parameters, path


def _paths() -> list[str]:
    return [str(settings.BASE_DIR), *map(str, settings.HEALTH_DISK_PATHS)]


def test_the_public_health_endpoint_shows_no_filesystem_path(client):
    body = client.get("/api/health/").content.decode()

    for path in _paths():
        assert path not in body
        assert json.dumps(path)[1:-1] not in body


def test_an_unreadable_disk_path_is_reported_without_the_path(client, settings, tmp_path):
    missing = tmp_path / "gone" / "secret-install-dir"
    settings.HEALTH_DISK_PATHS = [str(missing)]

    response = client.get("/api/health/")

    assert response.status_code == 503
    check = response.json()["checks"]["diskSpace"]
    assert check["status"] == "error"
    assert "secret-install-dir" not in response.content.decode()
    assert check["message"].endswith("cannot stat a directory of HEALTH_DISK_PATHS")


def test_the_operators_health_command_still_names_the_path(capsys):
    call_command("health_check", "--json")

    report = json.loads(capsys.readouterr().out)  # the JSON alone
    assert report["checks"]["diskSpace"]["path"] in map(str, settings.HEALTH_DISK_PATHS)


@pytest.mark.redis
def test_refused_hostile_requests_never_count_as_server_errors(api_client, auth_client):
    deep = "[" * 5000 + "]" * 5000
    before = request_window(minutes=1)
    assert before is not None
    for path in ["/api/auth/token/", "/api/auth/token/refresh/"]:
        error_of(api_client.post(path, data=deep, content_type="application/json"), 400)
    error_of(auth_client.post("/api/events/", data=deep, content_type="application/json"), 400)
    error_of(
        auth_client.post("/api/events/", data='{"x\\ud800": 1}', content_type="application/json"),
        400,
    )
    error_of(auth_client.post("/api/events", data="{}", content_type="application/json"), 404)

    after = request_window(minutes=1)

    assert after is not None
    assert after.requests - before.requests == 5
    assert after.errors == before.errors
