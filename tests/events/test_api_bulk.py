"""POST /api/events/bulk/: up to 1,000 events, all or nothing, errors by index."""

from __future__ import annotations

import json

import pytest

from events.models import Event, Priority

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]

URL = "/api/events/bulk/"


def post(client, body, **headers):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


def events(n: int) -> list[dict]:
    return [{"type": "beo.imported", "payload": {"row": i}} for i in range(n)]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


def test_all_valid_events_are_created_and_returned_in_order(auth_client, user):
    body = [*events(3), {"type": "beo.urgent", "payload": {}, "priority": "urgent"}]
    response = post(auth_client, body)
    assert response.status_code == 201
    data = response.json()
    assert data["count"] == 4
    assert [e["payload"] for e in data["results"][:3]] == [{"row": 0}, {"row": 1}, {"row": 2}]
    assert data["results"][3]["priority"] == "urgent"
    assert all(e["status"] == "pending" for e in data["results"])
    stored = Event.objects.filter(owner=user)
    assert sorted(stored.values_list("id", flat=True)) == sorted(e["id"] for e in data["results"])
    assert stored.get(type="beo.urgent").priority == Priority.URGENT


def test_a_thousand_events_are_accepted(auth_client):
    response = post(auth_client, events(1000))
    assert response.status_code == 201
    assert response.json()["count"] == 1000
    assert Event.objects.count() == 1000


def test_one_invalid_event_creates_nothing_and_is_named_by_index(auth_client):
    body = events(5)
    body[1]["type"] = "bad type"
    body[3] = {"type": "beo.x", "payload": [], "colour": "red"}
    error = error_of(post(auth_client, body), 400)
    assert error["message"] == "Validation failed"
    assert set(error["details"]) == {"1", "3"}
    assert list(error["details"]["1"]) == ["type"]
    assert set(error["details"]["3"]) == {"payload", "colour"}
    assert Event.objects.count() == 0


def test_more_than_a_thousand_events_are_refused(auth_client):
    error = error_of(post(auth_client, events(1001)), 400)
    assert "no more than 1000" in error["details"]["non_field_errors"][0]
    assert Event.objects.count() == 0


def test_an_empty_array_is_refused(auth_client):
    error = error_of(post(auth_client, []), 400)
    assert "non_field_errors" in error["details"]


def test_a_body_that_is_not_an_array_is_refused(auth_client):
    error = error_of(post(auth_client, {"type": "beo.x", "payload": {}}), 400)
    assert "Expected a list" in error["details"]["non_field_errors"][0]


def test_an_oversized_payload_is_a_413_naming_the_item(auth_client, settings):
    settings.EVENT_PAYLOAD_MAX_BYTES = 500
    body = events(3)
    body[2]["payload"] = {"x": "y" * 1000}
    error = error_of(post(auth_client, body), 413)
    assert error["message"].startswith("Item 2: Payload is")
    assert list(error["details"]) == ["2"]
    assert Event.objects.count() == 0


def test_idempotency_keys_are_refused_on_bulk(auth_client):
    error = error_of(post(auth_client, events(2), HTTP_IDEMPOTENCY_KEY="k"), 400)
    assert "Not supported for bulk" in error["details"]["Idempotency-Key"][0]
    assert Event.objects.count() == 0


def test_bulk_needs_a_token(api_client):
    error = error_of(post(api_client, events(1)), 401)
    assert error["message"] == "Missing or invalid authorization header"


def test_every_invalid_item_is_reported_not_only_the_first(auth_client, settings):
    settings.EVENT_PAYLOAD_MAX_BYTES = 500
    body = events(4)
    body[0]["payload"] = {"x": "y" * 1000}
    body[2]["payload"] = {"x": "z" * 1000}
    error = error_of(post(auth_client, body), 413)
    assert set(error["details"]) == {"0", "2"}


def test_payloads_round_trip_exactly_through_the_bulk_insert(auth_client):
    tricky = {
        "tab\tand\nnewline": "back\\slash \"quotes\" and 'single'",
        "unicode": "café 🎉 日本",
        "nested": {"list": [1, 2.5, None, True, {"deep": []}], "empty": {}},
        "big": 123456789012345678901234567890,
        "copy-ish": "\\N \\. end",
    }
    body = [{"type": "beo.tricky", "payload": tricky, "priority": "low"}]
    response = post(auth_client, body)
    assert response.status_code == 201
    [created] = response.json()["results"]
    stored = Event.objects.get(pk=created["id"])
    assert stored.payload == tricky
    assert stored.priority == Priority.LOW
    assert created["payload"] == tricky
    detail = auth_client.get(f"/api/events/{created['id']}/").json()
    assert detail == created


def test_bulk_events_are_stored_like_single_ones(auth_client, user):
    single = auth_client.post(
        "/api/events/",
        data=json.dumps({"type": "beo.one", "payload": {"a": 1}}),
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-single",
    ).json()
    [bulk] = post(
        auth_client, [{"type": "beo.one", "payload": {"a": 1}}], HTTP_X_REQUEST_ID="req-bulk"
    ).json()["results"]
    one, many = Event.objects.get(pk=single["id"]), Event.objects.get(pk=bulk["id"])
    for field in (
        "owner_id",
        "status",
        "priority",
        "attempts",
        "max_attempts",
        "last_error",
        "result",
        "idempotency_key",
        "request_hash",
        "started_at",
        "completed_at",
    ):
        assert getattr(one, field) == getattr(many, field), field
    assert many.request_id == "req-bulk"
    assert many.created_at == many.updated_at == many.available_at
    assert bulk["id"] > single["id"]


@pytest.mark.parametrize(
    "item",
    [
        {"type": "beo.x", "payload": {"a": [1, {"b": None}]}},
        {"type": "beo.x", "payload": {}, "priority": "urgent"},
        {"type": 123, "payload": {}},  # DRF coerces a number to "123"
        {"type": "beo.x", "payload": {}, "priority": 2},
        {"type": "bad type", "payload": {}},
        {"type": "beo.x", "payload": [], "extra": 1},
        {"type": "beo.x"},
        "not an object",
    ],
)
def test_the_fast_path_agrees_with_the_serializer(item):
    from rest_framework.exceptions import ValidationError as DRFValidationError

    from events.api.serializers import EventInputSerializer
    from events.submission import events_already_valid

    serializer = EventInputSerializer(data=[item], many=True)
    try:
        serializer.is_valid(raise_exception=True)
        expected = [dict(d) for d in serializer.validated_data]
    except DRFValidationError:
        expected = None
    fast = events_already_valid([item])
    # The fast path may decline (None) what DRF accepts, never accept what DRF would change
    # or refuse.
    assert fast is None or fast == expected


def test_a_value_the_serializer_used_to_coerce_is_refused(auth_client):
    # `"type": 123` was stored as "123"; a type must be a JSON string (issue 10).
    response = post(auth_client, [{"type": 123, "payload": {}}])
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"0": {"type": ["Must be a string."]}}
