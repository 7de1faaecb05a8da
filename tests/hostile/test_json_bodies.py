"""Hostile JSON bodies on every endpoint that parses one: always a 4xx envelope, nothing
stored. The public token endpoints are included: an anonymous 500 would also page staff
through the "High Error Rate" alert."""

from __future__ import annotations

from typing import Any

import pytest

from beo_automation.parsers import JSON_MAX_DEPTH
from events.models import Event
from tests.hostile.conftest import error_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]

# (name, who calls, path; {event}/{alert}/{incident} are the fixtures' ids)
JSON_ENDPOINTS = [
    ("token", "anonymous", "/api/auth/token/"),
    ("token-refresh", "anonymous", "/api/auth/token/refresh/"),
    ("events-create", "user", "/api/events/"),
    ("events-bulk", "user", "/api/events/bulk/"),
    ("alerts-resolve", "staff", "/api/alerts/{alert}/resolve/"),
    ("incidents-create", "staff", "/api/incidents/"),
    ("incidents-transition", "staff", "/api/incidents/{incident}/transition/"),
]


def deep(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


MALFORMED: list[tuple[str, bytes]] = [
    ("arrays 5,000 deep", deep(5000).encode()),
    ("objects 2,000 deep", ('{"a":' * 2000 + "1" + "}" * 2000).encode()),
    ("one level over the limit", deep(JSON_MAX_DEPTH + 1 - 1, "[]").encode()),
    ("deep inside a valid event", f'{{"type": "a", "payload": {{"x": {deep(3000)}}}}}'.encode()),
    ("deep inside a bulk item", f'[{{"type": "a", "payload": {{"x": {deep(100)}}}}}]'.encode()),
    ("brackets hidden in strings", ('["]",' * 70 + '["["]' + "]" * 70).encode()),
    ("not UTF-8", b'{"type": "caf\xe9", "payload": {}}'),
    ("a UTF-16 byte order mark", b"\xff\xfe{\x00}\x00"),
    ("NaN", b'{"type": "a", "payload": {"x": NaN}}'),
    ("Infinity", b'{"type": "a", "payload": {"x": -Infinity}}'),
    ("truncated", b'{"type": "a", "payl'),
    ("a lone backslash escape", b'{"type": "\\x"}'),
    ("trailing garbage", b'{"type": "a", "payload": {}} x'),
    ("a NUL byte outside strings", b'{"type": "a",\x00 "payload": {}}'),
]


def _url(path: str, ids: dict[str, int]) -> str:
    return path.format(**ids)


@pytest.fixture
def ids(failed_event: Any, alert: Any, incident: Any) -> dict[str, int]:
    return {"event": failed_event.pk, "alert": alert.pk, "incident": incident.pk}


@pytest.mark.parametrize("case", MALFORMED, ids=[m[0] for m in MALFORMED])
@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=[e[0] for e in JSON_ENDPOINTS])
def test_a_malformed_or_too_deep_body_is_a_400(clients, ids, unchanged, endpoint, case):
    _, who, path = endpoint
    _, body = case

    response = clients[who].post(_url(path, ids), data=body, content_type="application/json")

    assert error_of(response, 400)["message"] == "Malformed JSON request body"
    unchanged()


def test_nesting_up_to_the_limit_is_accepted(auth_client):
    # The body is the outermost level, the payload the second.
    payload = deep(JSON_MAX_DEPTH - 2, "")
    body = f'{{"type": "beo.deep", "payload": {{"x": {payload}}}}}'

    response = auth_client.post("/api/events/", data=body, content_type="application/json")

    assert response.status_code == 201, response.content
    assert Event.objects.get().type == "beo.deep"


@pytest.mark.parametrize("charset", ["bogus", "utf-7-nonsense", "no such codec"])
def test_an_unknown_charset_is_ignored_and_the_body_read_as_utf8(auth_client, charset):
    # Django ignores a charset it does not know (HttpRequest.encoding stays UTF-8).
    response = auth_client.post(
        "/api/events/",
        data='{"type": "a", "payload": {"x": "café"}}'.encode(),
        content_type=f"application/json; charset={charset}",
    )

    assert response.status_code == 201, response.content
    assert response.json()["payload"] == {"x": "café"}


def test_a_declared_charset_is_honoured(auth_client, unchanged):
    response = auth_client.post(
        "/api/events/",
        data='{"type": "café", "payload": {}}'.encode("latin-1"),
        content_type="application/json; charset=latin-1",
    )

    assert error_of(response, 400)["details"]["type"]
    unchanged()


WRONG_TYPES = [
    ("text/plain", b'{"type": "a", "payload": {}}'),
    ("application/x-www-form-urlencoded", b"type=a&payload=%7B%7D"),
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="type"\r\n\r\na\r\n--x--\r\n',
    ),
    ("application/xml", b"<event/>"),
    ("application/json-seq", b'\x1e{"type": "a"}\n'),
]


@pytest.mark.parametrize("case", WRONG_TYPES, ids=[w[0] for w in WRONG_TYPES])
@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=[e[0] for e in JSON_ENDPOINTS])
def test_a_body_that_is_not_json_is_a_415(clients, ids, unchanged, endpoint, case):
    _, who, path = endpoint
    content_type, body = case

    response = clients[who].post(_url(path, ids), data=body, content_type=content_type)

    error_of(response, 415)
    unchanged()
