"""POST /api/events/: validation, the representation, Location, idempotency."""

from __future__ import annotations

import json

import pytest

from events.models import Event, Priority, Status
from tests.conftest import bearer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]

URL = "/api/events/"
REPRESENTATION = {
    "id",
    "type",
    "payload",
    "priority",
    "status",
    "created_at",
    "started_at",
    "completed_at",
    "attempts",
    "last_error",
    "duration_ms",
    "result",
}
BEO = {"type": "beo.created", "payload": {"beo": "BEO-2041", "guests": 120}, "priority": "high"}


def post(client, body, **headers):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == status
    return body["error"]


def test_create_answers_201_with_the_event_and_its_location(auth_client):
    response = post(auth_client, BEO)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == REPRESENTATION
    assert body["type"] == "beo.created"
    assert body["payload"] == BEO["payload"]
    assert body["priority"] == "high"
    assert body["status"] == "pending"
    assert body["attempts"] == 0
    assert body["started_at"] is None
    assert body["completed_at"] is None
    assert body["last_error"] is None
    assert body["result"] is None
    assert body["created_at"].endswith("Z")
    assert response["Location"] == f"http://testserver/api/events/{body['id']}/"


def test_create_stores_a_pending_event_owned_by_the_caller(auth_client, user):
    response = post(auth_client, BEO, HTTP_X_REQUEST_ID="req-abc-123")
    event = Event.objects.get(pk=response.json()["id"])
    assert event.owner == user
    assert event.status == Status.PENDING
    assert event.priority == Priority.HIGH
    assert event.request_id == "req-abc-123"


def test_priority_defaults_to_normal(auth_client):
    response = post(auth_client, {"type": "beo.created", "payload": {}})
    assert response.status_code == 201
    assert response.json()["priority"] == "normal"


def test_unknown_fields_are_refused(auth_client):
    error = error_of(post(auth_client, {**BEO, "priorty": "urgent", "owner": 7}), 400)
    assert error["message"] == "Validation failed"
    assert error["details"] == {"priorty": ["Unknown field."], "owner": ["Unknown field."]}
    assert Event.objects.count() == 0


def test_every_bad_field_is_named(auth_client):
    error = error_of(
        post(auth_client, {"type": "has space", "payload": [1, 2], "priority": "asap"}), 400
    )
    assert set(error["details"]) == {"type", "payload", "priority"}
    assert error["details"]["payload"] == ["Must be a JSON object."]
    assert "letters, digits" in error["details"]["type"][0]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"payload": {}}, "type", "This field is required."),
        ({"type": "beo.created"}, "payload", "This field is required."),
        ({"type": "", "payload": {}}, "type", "This field may not be blank."),
        ({"type": "x" * 101, "payload": {}}, "type", "no more than 100 characters"),
        ({"type": " beo.created", "payload": {}}, "type", "letters, digits"),
        ({"type": "beo.created", "payload": "text"}, "payload", "Must be a JSON object."),
        ({"type": "beo.created", "payload": None}, "payload", "This field may not be null."),
        ({"type": "beo.created", "payload": {}, "priority": 3}, "priority", "not a valid choice"),
    ],
)
def test_validation_messages_per_field(auth_client, body, field, message):
    error = error_of(post(auth_client, body), 400)
    assert list(error["details"]) == [field]
    assert message in " ".join(error["details"][field])


def test_a_body_that_is_not_an_object_is_refused(auth_client):
    error = error_of(post(auth_client, [BEO]), 400)
    assert "Expected a dictionary" in error["details"]["non_field_errors"][0]


def test_malformed_json_is_refused(auth_client):
    response = auth_client.post(URL, data='{"type": "x",', content_type="application/json")
    assert error_of(response, 400)["message"] == "Malformed JSON request body"


def test_a_payload_over_the_limit_is_a_413(auth_client, settings):
    settings.EVENT_PAYLOAD_MAX_BYTES = 1000
    error = error_of(post(auth_client, {"type": "beo.created", "payload": {"x": "y" * 2000}}), 413)
    assert "limit is 1000 bytes" in error["message"]
    assert Event.objects.count() == 0


def test_a_payload_at_the_limit_is_accepted(auth_client, settings):
    payload = {"x": "y" * 100}
    settings.EVENT_PAYLOAD_MAX_BYTES = len(json.dumps(payload, separators=(",", ":")))
    assert post(auth_client, {"type": "beo.created", "payload": payload}).status_code == 201


def test_creating_needs_a_token(api_client):
    error = error_of(post(api_client, BEO), 401)
    assert error["message"] == "Missing or invalid authorization header"
    assert Event.objects.count() == 0


def test_same_idempotency_key_and_body_returns_the_original_with_200(auth_client):
    first = post(auth_client, BEO, HTTP_IDEMPOTENCY_KEY="order-2041-v1")
    again = post(auth_client, BEO, HTTP_IDEMPOTENCY_KEY="order-2041-v1")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert Event.objects.count() == 1


def test_a_replay_that_spells_out_the_default_priority_is_the_same_request(auth_client):
    body = {"type": "beo.created", "payload": {"n": 1}}
    first = post(auth_client, body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = post(auth_client, {**body, "priority": "normal"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


def test_same_idempotency_key_with_another_body_is_a_409(auth_client):
    post(auth_client, BEO, HTTP_IDEMPOTENCY_KEY="order-2041-v1")
    other = {**BEO, "payload": {"beo": "BEO-2041", "guests": 150}}
    error = error_of(post(auth_client, other, HTTP_IDEMPOTENCY_KEY="order-2041-v1"), 409)
    assert "different request body" in error["message"]
    assert Event.objects.count() == 1


def test_idempotency_keys_belong_to_one_user(auth_client, api_client, other_user):
    post(auth_client, BEO, HTTP_IDEMPOTENCY_KEY="shared-key")
    api_client.credentials(HTTP_AUTHORIZATION=bearer(other_user))
    response = post(api_client, {**BEO, "priority": "low"}, HTTP_IDEMPOTENCY_KEY="shared-key")
    assert response.status_code == 201
    assert Event.objects.count() == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "caf\u00e9"])
def test_a_malformed_idempotency_key_is_refused(auth_client, key):
    response = post(auth_client, BEO, HTTP_IDEMPOTENCY_KEY=key)
    error = error_of(response, 400)
    assert list(error["details"]) == ["Idempotency-Key"]
    assert Event.objects.count() == 0


@pytest.mark.redis
@pytest.mark.postgres
def test_a_submitted_event_is_processed_by_a_worker(celery_worker, user):
    from rest_framework.test import APIClient

    from tests.logs import wait_for_line

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    response = post(client, {"type": "api.smoke.unhandled", "payload": {}})
    event_id = response.json()["id"]
    wait_for_line(
        lambda line: (
            line.get("event") == "Event processed successfully" and line.get("event_id") == event_id
        ),
        timeout=30,
    )
    detail = client.get(f"{URL}{event_id}/").json()
    assert detail["status"] == "completed"
    assert detail["attempts"] == 1
    assert detail["started_at"] is not None
    assert detail["completed_at"] is not None


UNSTORABLE = [
    ('{"x": "before\\u0000after"}', "NUL character"),
    ('{"key\\u0000": 1}', "NUL character"),
    ('{"x": 1e400}', "finite"),
    ('{"x": [1, -1e999]}', "finite"),
    ('{"x": "\\ud800"}', "valid Unicode"),
]


@pytest.mark.parametrize(("payload", "message"), UNSTORABLE)
def test_a_payload_the_database_cannot_store_is_a_400_not_a_500(auth_client, payload, message):
    raw = f'{{"type": "beo.created", "payload": {payload}}}'
    response = auth_client.post(URL, data=raw, content_type="application/json")
    error = error_of(response, 400)
    assert message in error["details"]["payload"][0]
    assert Event.objects.count() == 0


@pytest.mark.parametrize(("payload", "message"), UNSTORABLE)
def test_an_unstorable_payload_in_a_bulk_is_named_by_index(auth_client, payload, message):
    raw = f'[{{"type": "a", "payload": {{}}}}, {{"type": "b", "payload": {payload}}}]'
    response = auth_client.post("/api/events/bulk/", data=raw, content_type="application/json")
    error = error_of(response, 400)
    assert list(error["details"]) == ["1"]
    assert message in error["details"]["1"]["payload"][0]
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "payload", ['{"x": "a backslash then u0000: \\\\u0000"}', '{"x": "caf\\u00e9 \\ud83c\\udf89"}']
)
def test_look_alikes_of_unstorable_payloads_are_accepted(auth_client, payload):
    raw = f'{{"type": "beo.created", "payload": {payload}}}'
    response = auth_client.post(URL, data=raw, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["payload"] == json.loads(payload)


def test_location_follows_the_mount_point(auth_client):
    from django.test.utils import override_script_prefix

    with override_script_prefix("/beo/"):
        response = post(auth_client, BEO)
    assert response.status_code == 201
    assert response["Location"] == f"http://testserver/beo/api/events/{response.json()['id']}/"
    again = post(auth_client, BEO)
    assert again["Location"] == f"http://testserver/api/events/{again.json()['id']}/"
