"""One convention for every list's multi-valued filters (beo_automation.pagination): a comma
list of allowed values, any of which matches; blank or unknown values are a 400 naming the
parameter (and, for unknown ones, the allowed values); the schema declares them as arrays
sent `style: form, explode: false`."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from alerts.models import STAGE_ORDER, Severity
from events.models import Priority, Status
from tests.alerts.helpers import fire
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db

# (list, parameter, who, its allowed values)
FILTERS = [
    ("/api/events/", "status", "user", [str(s) for s in Status.values]),
    ("/api/events/", "priority", "user", [str(p.label) for p in Priority]),
    ("/api/alerts/", "status", "staff", ["firing", "acknowledged", "resolved", "open"]),
    ("/api/alerts/", "severity", "staff", list(Severity.values)),
    ("/api/incidents/", "stage", "staff", list(STAGE_ORDER)),
    ("/api/incidents/", "severity", "staff", list(Severity.values)),
]
IDS = [f"{path} {name}" for path, name, _, _ in FILTERS]


@pytest.fixture(autouse=True)
def no_list_cache(settings: Any) -> None:
    settings.EVENT_LIST_CACHE_TTL = 0  # every request reads this test's database


@pytest.fixture
def clients(auth_client: Any, staff_client: Any) -> dict[str, Any]:
    return {"user": auth_client, "staff": staff_client}


def error_details(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    return dict(response.json()["error"]["details"])


def titles(response: Any, key: str) -> list[Any]:
    assert response.status_code == 200, response.content
    return [item[key] for item in response.json()["results"]]


@pytest.mark.parametrize("target", FILTERS, ids=IDS)
@pytest.mark.parametrize(
    "value", ["", "a,,b", ",", "nope", "firing,nope", "x" * 5000, "\x00", "open,\x00", "\u202e"]
)
def test_a_blank_empty_or_unknown_value_is_a_400_naming_the_parameter(clients, target, value):
    path, name, who, _ = target

    details = error_details(clients[who].get(path, {name: value}))

    assert list(details) == [name]


@pytest.mark.parametrize("target", FILTERS, ids=IDS)
@pytest.mark.parametrize("raw", ["%ED%A0%80", "%FF", "%00", "a%2C%2Cb", "%2C" * 2000])
def test_undecodable_or_raw_hostile_bytes_are_a_400_not_a_500(clients, target, raw):
    path, name, who, _ = target

    response = clients[who].get(f"{path}?{name}={raw}")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"]


@pytest.mark.parametrize("target", FILTERS, ids=IDS)
def test_an_unknown_value_is_named_with_the_allowed_ones(clients, target):
    path, name, who, allowed = target

    message = error_details(clients[who].get(path, {name: f"{allowed[0]},bogus"}))[name][0]

    assert "bogus" in message
    assert all(value in message for value in allowed)


def test_events_take_comma_lists(auth_client, user):
    failed = EventFactory(owner=user, status=Status.FAILED, priority=Priority.URGENT)
    cancelled = EventFactory(owner=user, status=Status.CANCELLED, priority=Priority.LOW)
    EventFactory(owner=user, status=Status.COMPLETED, priority=Priority.HIGH)

    def ids(**params: str) -> set[int]:
        return set(titles(auth_client.get("/api/events/", params), "id"))

    assert ids(status="failed,cancelled") == {failed.pk, cancelled.pk}
    assert ids(status=" failed , cancelled,failed") == {failed.pk, cancelled.pk}
    assert ids(priority="urgent,low") == {failed.pk, cancelled.pk}
    assert ids(status="failed,completed", priority="urgent,normal") == {failed.pk}


def test_alerts_take_comma_lists(staff_client):
    fire("Low one", "low")
    fire("High one", "high")
    fire("Critical one", "critical")

    def names(**params: str) -> set[str]:
        return set(titles(staff_client.get("/api/alerts/", params), "name"))

    assert names(severity="high,critical") == {"High one", "Critical one"}
    assert names(status="open,resolved", severity="low") == {"Low one"}


def test_incidents_take_comma_lists(staff_client):
    for title, severity in (("A", "low"), ("B", "high"), ("C", "critical")):
        staff_client.post("/api/incidents/", {"title": title, "severity": severity}, format="json")

    def names(**params: str) -> list[str]:
        return titles(staff_client.get("/api/incidents/", params), "title")

    assert names(severity="low,critical") == ["C", "A"]
    assert names(stage="detected,resolved", severity="high") == ["B"]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize("target", FILTERS, ids=IDS)
def test_the_schema_declares_each_as_a_comma_list(schema, target):
    path, name, _, allowed = target
    (parameter,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]

    assert parameter["in"] == "query"
    assert (parameter["style"], parameter["explode"]) == ("form", False)
    assert parameter["schema"]["type"] == "array"
    assert parameter["schema"]["items"]["enum"] == allowed
