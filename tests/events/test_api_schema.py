"""The OpenAPI schema (/api/schema/) and the interactive docs (/api/docs/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from events.api.serializers import EventSerializer, event_representation, event_row
from events.models import Event
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "/api/auth/token/": {"post"},
    "/api/auth/token/refresh/": {"post"},
    "/api/events/": {"get", "post"},
    "/api/events/bulk/": {"post"},
    "/api/events/{event_id}/": {"get"},
    "/api/events/{event_id}/retry/": {"post"},
    "/api/events/{event_id}/cancel/": {"post"},
    "/api/health/": {"get"},
    "/api/health/live/": {"get"},
}
ENVELOPE = "#/components/schemas/ErrorEnvelope"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def envelope_codes(operation: dict) -> set[str]:
    return {
        code
        for code, response in operation["responses"].items()
        if response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
        == ENVELOPE
    }


def test_the_schema_validates_without_warnings(tmp_path: Path):
    # drf-spectacular's own validation against the OpenAPI 3 JSON schema; any warning fails.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))
    assert yaml.safe_load((tmp_path / "s.yml").read_text())["openapi"].startswith("3.")


def test_the_schema_lists_every_endpoint(schema):
    api_paths = {
        path: {m for m in operations if m in {"get", "post", "put", "patch", "delete"}}
        for path, operations in schema["paths"].items()
        if path.startswith("/api/")
    }
    for path, methods in ENDPOINTS.items():
        assert api_paths.get(path, set()) >= methods, path


def test_authenticated_endpoints_document_bearer_auth_and_401(schema):
    for path, methods in ENDPOINTS.items():
        if not path.startswith("/api/events/"):
            continue
        for method in methods:
            operation = schema["paths"][path][method]
            assert operation["security"] == [{"jwtAuth": []}], (path, method)
            assert "401" in envelope_codes(operation), (path, method)
    assert schema["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"


def test_the_public_endpoints_need_no_token(schema):
    for path in ("/api/auth/token/", "/api/auth/token/refresh/", "/api/health/"):
        for operation in schema["paths"][path].values():
            assert operation.get("security", [{}]) in ([{}], []), path


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/api/events/", "post", {"400", "401", "409", "413", "415", "429"}),
        ("/api/events/", "get", {"400", "401", "429"}),
        ("/api/events/bulk/", "post", {"400", "401", "413", "429"}),
        ("/api/events/{event_id}/", "get", {"401", "404", "429"}),
        ("/api/events/{event_id}/retry/", "post", {"401", "404", "409", "429"}),
        ("/api/events/{event_id}/cancel/", "post", {"401", "404", "409", "429"}),
        ("/api/auth/token/", "post", {"400", "401", "429"}),
        ("/api/auth/token/refresh/", "post", {"400", "401", "429"}),
    ],
)
def test_error_responses_are_documented_as_the_envelope(schema, path, method, codes):
    assert envelope_codes(schema["paths"][path][method]) >= codes


def test_a_429_documents_retry_after(schema):
    response = schema["paths"]["/api/events/"]["post"]["responses"]["429"]
    assert response["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_health_is_not_documented_as_rate_limited(schema):
    assert "429" not in schema["paths"]["/api/health/"]["get"]["responses"]


def test_the_envelope_component_matches_what_errors_look_like(schema):
    components = schema["components"]["schemas"]
    assert set(components["ErrorEnvelope"]["properties"]) == {"success", "error"}
    assert set(components["Error"]["properties"]) == {"code", "message", "details", "request_id"}


def test_request_bodies_are_documented(schema):
    create = schema["paths"]["/api/events/"]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"]["$ref"] == "#/components/schemas/EventInputRequest"
    bulk = schema["paths"]["/api/events/bulk/"]["post"]["requestBody"]["content"]
    assert bulk["application/json"]["schema"]["items"]["$ref"].endswith("/EventInputRequest")
    event_input = schema["components"]["schemas"]["EventInputRequest"]
    assert set(event_input["properties"]) == {"type", "payload", "priority"}
    assert set(event_input["required"]) == {"type", "payload"}
    assert event_input["properties"]["payload"]["type"] == "object"
    token = schema["paths"]["/api/auth/token/"]["post"]["requestBody"]["content"]
    token_ref = token["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][token_ref]["properties"]) == {
        "username",
        "password",
    }


@pytest.mark.parametrize(
    ("component", "unknown_field_body", "path"),
    [
        ("EventInputRequest", {"type": "a", "payload": {}, "x": 1}, "/api/events/"),
        ("AlertResolveRequest", {"x": 1}, "/api/alerts/1/resolve/"),
        ("IncidentCreateRequest", {"title": "t", "severity": "low", "x": 1}, "/api/incidents/"),
        (
            "IncidentTransitionRequest",
            {"stage": "resolved", "x": 1},
            "/api/incidents/1/transition/",
        ),
    ],
)
def test_bodies_that_refuse_unknown_fields_are_documented_as_closed(
    schema, staff_client, component, unknown_field_body, path
):
    # What the schema says (a generated "valid" body never carries an extra key)...
    assert schema["components"]["schemas"][component]["additionalProperties"] is False
    # ...is what the API does.
    response = staff_client.post(path, unknown_field_body, format="json")
    assert response.status_code in {400, 404}
    if response.status_code == 400:
        assert response.json()["error"]["details"]["x"] == ["Unknown field."]


def test_the_bulk_body_documents_its_size_limits(schema, auth_client):
    body = schema["paths"]["/api/events/bulk/"]["post"]["requestBody"]["content"]
    array = body["application/json"]["schema"]
    assert (array["minItems"], array["maxItems"]) == (1, 1000)
    item = {"type": "a", "payload": {}}
    assert auth_client.post("/api/events/bulk/", [], format="json").status_code == 400
    assert auth_client.post("/api/events/bulk/", [item] * 1001, format="json").status_code == 400
    assert auth_client.post("/api/events/bulk/", [item] * 1000, format="json").status_code == 201


def test_the_idempotency_key_documents_its_pattern(schema, auth_client):
    (header,) = [
        p
        for p in schema["paths"]["/api/events/"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    ]
    pattern = re.compile(header["schema"]["pattern"])
    event = {"type": "a", "payload": {}}
    for key, matches in [
        ("k-1", True),
        ("k" * 255, True),
        ("", False),
        ("k" * 256, False),
        ("a b", False),
        ("é", False),
    ]:
        assert bool(pattern.fullmatch(key)) is matches, key
        if key.isascii():  # the test client cannot send a non-Latin-1 header
            response = auth_client.post(
                "/api/events/", event, format="json", HTTP_IDEMPOTENCY_KEY=key
            )
            assert (response.status_code == 201) is matches, (key, response.content)


def test_the_documented_event_is_what_the_api_returns(user):
    # The representation is rendered by a plain function for speed; the serializer documents
    # it. Both must name the same fields.
    event: Event = EventFactory(owner=user)  # type: ignore[assignment]
    rendered = EventSerializer().to_representation(event)
    assert set(rendered) == set(EventSerializer().fields)
    assert rendered == event_representation(event_row(event))


def test_the_schema_is_served_publicly(api_client):
    response = api_client.get("/api/schema/")
    assert response.status_code == 200
    assert "/api/events/{event_id}/retry/" in yaml.safe_load(response.content)["paths"]
    assert api_client.get("/api/schema/?format=json").json()["openapi"].startswith("3.")


def test_the_interactive_docs_are_served_publicly_from_our_own_static_files(api_client, client):
    response = api_client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    # The init script is a file of its own (the Content-Security-Policy allows no inline one).
    assert 'src="/api/docs/?script="' in html
    init = api_client.get("/api/docs/?script=").content.decode()
    assert "SwaggerUIBundle" in init
    assert "/api/schema/" in init
    scripts = re.findall(r'src="([^"]+\.js)"', html)
    assert scripts
    assert all(src.startswith("/static/") for src in scripts), scripts
    bundle = next(src for src in scripts if "swagger-ui-bundle" in src)
    asset = client.get(bundle)
    assert asset.status_code == 200
    assert int(asset["Content-Length"]) > 100_000
