"""The same hostile event fields through single create and bulk: the serializer, the fast path
(event_already_valid) and event_input_validate all refuse them, and nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from events.services import event_input_validate
from events.submission import event_already_valid
from tests.hostile.conftest import error_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]

# Raw JSON for the value of one field (big numbers spelled out, as a client would send them).
NOT_STRINGS = ["123", str(2**80), "1e400", "-0.0", "true", "false", "null", "[]", '["beo"]', "{}"]
BAD_TYPES = [
    *NOT_STRINGS,
    '""',
    '"beo created"',
    '"beo.x\\n"',
    '"\\u0000"',
    '"\\ud800"',
    json.dumps("x" * 101),
]
BAD_PRIORITIES = [
    "1",
    "0",
    str(2**64),
    "1e400",
    "true",
    "null",
    "[]",
    '"URGENT"',
    '"\\u0000"',
    '"\\ud800"',
]
BAD_PAYLOADS = [
    "[]",
    '"text"',
    "1",
    "null",
    "true",
    '{"x": 1e400}',
    '{"x": "\\u0000"}',
    '{"\\ud800": 1}',
]


def single(field: str, raw: str) -> str:
    fields = {"type": '"beo.created"', "payload": "{}", "priority": '"normal"', field: raw}
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


CASES = [
    *[("type", raw) for raw in BAD_TYPES],
    *[("priority", raw) for raw in BAD_PRIORITIES],
    *[("payload", raw) for raw in BAD_PAYLOADS],
]


@pytest.mark.parametrize(("field", "raw"), CASES)
def test_single_create_refuses_the_field(auth_client, unchanged, field, raw):
    response = auth_client.post(
        "/api/events/", data=single(field, raw), content_type="application/json"
    )

    assert list(error_of(response, 400)["details"]) == [field]
    unchanged()


@pytest.mark.parametrize(("field", "raw"), CASES)
def test_bulk_refuses_the_field_by_index(auth_client, unchanged, field, raw):
    body = f"[{single('type', json.dumps('ok'))}, {single(field, raw)}]"

    response = auth_client.post("/api/events/bulk/", data=body, content_type="application/json")

    details = error_of(response, 400)["details"]
    assert list(details) == ["1"]
    assert list(details["1"]) == [field]
    unchanged()


@pytest.mark.parametrize("raw", NOT_STRINGS)
def test_every_copy_of_the_rule_refuses_a_type_that_is_not_a_string(raw):
    value: Any = json.loads(raw) if raw != "1e400" else float("inf")
    item = {"type": value, "payload": {}, "priority": "normal"}

    assert event_already_valid(item) is None
    from beo_automation.errors import ValidationError

    with pytest.raises(ValidationError) as raised:
        event_input_validate(type=value, payload={}, priority="normal")
    assert raised.value.details is not None
    assert list(raised.value.details) == ["type"]


def test_the_message_says_a_string_is_needed(auth_client):
    response = auth_client.post(
        "/api/events/", data=single("type", "123"), content_type="application/json"
    )

    assert error_of(response, 400)["details"]["type"] == ["Must be a string."]


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        "{}",
        "null",
        "0",
        '"x"',
        "[1]",
        "[[]]",
        "[null]",
        json.dumps([{"type": "a", "payload": {}}] * 1001),
    ],
    ids=[
        "empty list",
        "object",
        "null",
        "number",
        "string",
        "number item",
        "list item",
        "null item",
        "1001 items",
    ],
)
def test_a_bulk_body_that_is_not_a_list_of_1_to_1000_objects_is_a_400(auth_client, unchanged, body):
    response = auth_client.post("/api/events/bulk/", data=body, content_type="application/json")

    error_of(response, 400)
    unchanged()


@pytest.mark.parametrize("body", ["[]", "null", "0", '"x"', "true"])
def test_a_single_create_body_that_is_not_an_object_is_a_400(auth_client, unchanged, body):
    response = auth_client.post("/api/events/", data=body, content_type="application/json")

    error_of(response, 400)
    unchanged()


@pytest.mark.parametrize(
    "number", [str(2**80), str(-(2**80)), "1e308", "-0.0", "5e-324", "123456789.123456789e-300"]
)
def test_huge_and_tiny_payload_numbers_are_stored_and_returned(auth_client, number):
    body = f'{{"type": "a", "payload": {{"x": {number}}}}}'

    response = auth_client.post("/api/events/", data=body, content_type="application/json")

    assert response.status_code == 201, response.content
    assert response.json()["payload"]["x"] == json.loads(number)


def test_a_number_too_long_for_python_to_read_is_malformed(auth_client, unchanged):
    # Python refuses integers of over 4,300 digits (CVE-2020-10735): a ValueError, a 400.
    body = f'{{"type": "a", "payload": {{"x": {"9" * 5000}}}}}'

    response = auth_client.post("/api/events/", data=body, content_type="application/json")

    assert error_of(response, 400)["message"] == "Malformed JSON request body"
    unchanged()
