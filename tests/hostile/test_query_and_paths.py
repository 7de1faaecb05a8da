"""Hostile query strings and paths on every list and detail endpoint: crafted cursors, page
sizes, huge numbers, NUL characters, ids beyond any column — a 4xx envelope, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from rest_framework.pagination import CursorPagination

from tests.hostile.conftest import error_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]

LISTS = [
    ("events", "user", "/api/events/"),
    ("events as staff", "staff", "/api/events/"),
    ("alerts", "staff", "/api/alerts/"),
    ("incidents", "staff", "/api/incidents/"),
]
BAD_PAGE_SIZES = [
    "0",
    "-1",
    "501",
    "ten",
    "1.5",
    "1e3",
    "1e400",
    str(2**64),
    str(2**80),
    "%00",
    "NaN",
    "Infinity",
    "9" * 5000,
]


def b64(raw: str | bytes) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def events_cursor(value: Any) -> str:
    return b64(json.dumps(value))


EVENTS_CURSORS = [
    ("not base64", "!!!"),
    ("not JSON", b64("nope")),
    ("infinity as id", b64('["o", "2026-01-01T00:00:00+00:00", Infinity]')),
    ("1e400 as id", b64('["o", "2026-01-01T00:00:00+00:00", 1e400]')),
    ("NaN as id", b64('["o", "2026-01-01T00:00:00+00:00", NaN]')),
    ("float id", events_cursor(["o", "2026-01-01T00:00:00+00:00", 1.5])),
    ("bool id", events_cursor(["o", "2026-01-01T00:00:00+00:00", True])),
    ("id beyond bigint", events_cursor(["o", "2026-01-01T00:00:00+00:00", 2**63])),
    ("id 2**80", events_cursor(["o", "2026-01-01T00:00:00+00:00", 2**80])),
    ("negative id", events_cursor(["o", "2026-01-01T00:00:00+00:00", -1])),
    ("naive time", events_cursor(["o", "2026-01-01T00:00:00", 1])),
    ("end of time, ahead of UTC", events_cursor(["n", "0001-01-01T00:00:00+23:59", 1])),
    ("end of time, behind UTC", events_cursor(["o", "9999-12-31T23:59:59-23:59", 1])),
    (
        "first moment, offset with seconds",
        events_cursor(["o", "0001-01-01T00:00:00+05:30:15.123456", 1]),
    ),
    ("time not a string", events_cursor(["o", 20260101, 1])),
    ("direction a list", events_cursor([["o"], "2026-01-01T00:00:00+00:00", 1])),
    ("direction unknown", events_cursor(["x", "2026-01-01T00:00:00+00:00", 1])),
    ("two items", events_cursor(["o", "2026-01-01T00:00:00+00:00"])),
    ("an object", events_cursor({"o": 1})),
    ("nested 5,000 deep", b64("[" * 5000 + "]" * 5000)),
    ("nested over the limit", b64("[" * 70 + "]" * 70)),
    ("surrogate", b64('["\\ud800", "2026-01-01T00:00:00+00:00", 1]')),
    ("not UTF-8", b64(b'["o", "\xff", 1]')),
    ("non-ASCII token", "é"),
]


def staff_cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


STAFF_CURSORS = [
    ("position not a number", staff_cursor("p=abc")),
    ("position 1e400", staff_cursor("p=1e400")),
    ("position beyond bigint", staff_cursor(f"p={2**63}")),
    ("position 2**80", staff_cursor(f"p={2**80}")),
    ("position negative", staff_cursor("p=-5")),
    ("position NUL", staff_cursor("p=%00")),
    ("position surrogate-ish", staff_cursor("p=%ED%A0%80")),
    ("reverse not a number", staff_cursor("r=x")),
    ("offset not a number", staff_cursor("o=x")),
    ("not base64", "!!!"),
    ("non-ASCII token", "é"),
]


@pytest.mark.parametrize("page_size", BAD_PAGE_SIZES)
@pytest.mark.parametrize("target", LISTS, ids=[t[0] for t in LISTS])
def test_an_invalid_page_size_is_a_400_on_every_list(clients, target, page_size):
    _, who, path = target

    response = clients[who].get(f"{path}?page_size={quote(page_size, safe='%')}")

    assert list(error_of(response, 400)["details"]) == ["page_size"]


BLANK_PARAMETERS = {
    "/api/events/": ["page_size", "cursor", "type", "status", "priority", "created_after"],
    "/api/alerts/": ["page_size", "cursor", "status", "severity"],
    "/api/incidents/": ["page_size", "cursor", "stage", "severity", "active"],
}


@pytest.mark.parametrize("target", LISTS, ids=[t[0] for t in LISTS])
def test_a_blank_parameter_is_a_400_on_every_list(clients, target):
    # DRF reads query strings as HTML forms, where `?status=` would mean "no filter" and list
    # every status: one rule for every list refuses it instead.
    _, who, path = target

    for name in BLANK_PARAMETERS[path]:
        response = clients[who].get(f"{path}?{name}=")

        assert list(error_of(response, 400)["details"]) == [name], name


@pytest.mark.parametrize("target", LISTS, ids=[t[0] for t in LISTS])
def test_page_size_500_is_the_most_on_every_list(clients, target):
    _, who, path = target

    assert clients[who].get(f"{path}?page_size=500").status_code == 200


@pytest.mark.parametrize("case", EVENTS_CURSORS, ids=[c[0] for c in EVENTS_CURSORS])
def test_a_crafted_events_cursor_is_a_400(auth_client, case):
    _, cursor = case

    response = auth_client.get(f"/api/events/?cursor={quote(cursor)}")

    assert list(error_of(response, 400)["details"]) == ["cursor"]


@pytest.mark.parametrize("case", STAFF_CURSORS, ids=[c[0] for c in STAFF_CURSORS])
@pytest.mark.parametrize("path", ["/api/alerts/", "/api/incidents/"])
def test_a_crafted_alerts_or_incidents_cursor_is_a_400(staff_client, alert, path, case):
    _, cursor = case

    response = staff_client.get(f"{path}?cursor={quote(cursor)}")

    assert list(error_of(response, 400)["details"]) == ["cursor"]


def test_a_real_alerts_cursor_still_pages(staff_client):
    from tests.alerts.helpers import fire

    for i in range(3):
        fire(f"A{i}", severity="low", message="m")
    first = staff_client.get("/api/alerts/?page_size=2").json()

    second = staff_client.get(first["next"]).json()

    assert [a["name"] for a in second["results"]] == ["A0"]
    assert CursorPagination.cursor_query_param in first["next"]


HUGE_IDS = [str(2**63), str(2**64), "9" * 30, "9" * 5000]
DETAIL_PATHS = [
    ("get", "user", "/api/events/{id}/"),
    ("post", "user", "/api/events/{id}/retry/"),
    ("post", "user", "/api/events/{id}/cancel/"),
    ("get", "staff", "/api/alerts/{id}/"),
    ("post", "staff", "/api/alerts/{id}/acknowledge/"),
    ("post", "staff", "/api/alerts/{id}/resolve/"),
    ("get", "staff", "/api/incidents/{id}/"),
    ("post", "staff", "/api/incidents/{id}/acknowledge/"),
    ("post", "staff", "/api/incidents/{id}/transition/"),
]


@pytest.mark.parametrize("huge", HUGE_IDS, ids=lambda h: f"{len(h)} digits")
@pytest.mark.parametrize("target", DETAIL_PATHS, ids=[f"{m} {p}" for m, _, p in DETAIL_PATHS])
def test_an_id_beyond_any_column_is_a_404(clients, unchanged, target, huge):
    method, who, path = target
    client = clients[who]
    url = path.format(id=huge)

    body = {"stage": "assessed"} if url.endswith("/transition/") else {}
    response = client.get(url) if method == "get" else client.post(url, body, format="json")

    error_of(response, 404)
    unchanged()


# Query parameters of each list with values a user could type (or an attacker craft).
QUERY_CASES = [
    ("events", "user", "/api/events/", {"status": "\x00"}),
    ("events", "user", "/api/events/", {"type": "a\x00b"}),
    ("events", "user", "/api/events/", {"priority": "\x00"}),
    ("events", "user", "/api/events/", {"created_after": "\x00"}),
    ("events", "user", "/api/events/", {"created_after": "99999-01-01T00:00:00Z"}),
    ("events", "user", "/api/events/", {"created_before": "2026-01-01T00:00:00+99:00"}),
    ("events", "user", "/api/events/", {"cursor": "\x00"}),
    ("events", "user", "/api/events/", {"\x00": "1"}),
    ("events", "user", "/api/events/", {"type": "x" * 101}),
    ("alerts", "staff", "/api/alerts/", {"status": "\x00"}),
    ("alerts", "staff", "/api/alerts/", {"status": "firing,\x00"}),
    ("alerts", "staff", "/api/alerts/", {"severity": "\x00"}),
    ("alerts", "staff", "/api/alerts/", {"severity": "x" * 10000}),
    ("alerts", "staff", "/api/alerts/", {"cursor": "\x00"}),
    ("incidents", "staff", "/api/incidents/", {"stage": "\x00"}),
    ("incidents", "staff", "/api/incidents/", {"severity": "\x00"}),
    ("incidents", "staff", "/api/incidents/", {"active": "\x00"}),
    ("incidents", "staff", "/api/incidents/", {"active": "maybe"}),
]


@pytest.mark.parametrize(
    "case", QUERY_CASES, ids=[f"{c[0]} {next(iter(c[3]))!r}" for c in QUERY_CASES]
)
def test_hostile_query_parameters_are_a_400(clients, case):
    _, who, path, params = case

    response = clients[who].get(path, params)

    assert error_of(response, 400)["details"]


@pytest.mark.parametrize("raw", ["%ff%fe", "type=%ED%A0%80", "status=%C0%80", "type=%ff"])
def test_undecodable_query_strings_never_fail(auth_client, raw):
    # Django decodes query strings with replacement characters: a filter that matches nothing,
    # or a validation error; never a 500.
    response = auth_client.get(f"/api/events/?{raw}")

    assert response.status_code in {200, 400}, response.content
    if response.status_code == 400:
        error_of(response, 400)


@pytest.mark.parametrize("alert_id", [2**63, 2**80, "1e400", 0, -1, True, None, "x"])
def test_incident_alert_ids_outside_a_bigint_are_a_400(staff_client, unchanged, alert_id):
    body = {"title": "t", "severity": "low", "alert_ids": [alert_id]}

    response = staff_client.post("/api/incidents/", body, format="json")

    assert list(error_of(response, 400)["details"]) == ["alert_ids"]
    unchanged()
