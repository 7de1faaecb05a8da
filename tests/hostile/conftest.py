"""The hostile-input corpus: shared fixtures and the one assertion every test makes.

Every hostile request must get exactly the expected 4xx, as `application/json` that a strict
parser (orjson: UTF-8 only, no lone surrogates) reads, in the error envelope — and change
nothing that was stored.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.db.models import Model
from rest_framework.test import APIClient

from alerts.models import Alert, Incident, TimelineEntry
from events.models import Event, Status
from tests.alerts.conftest import alerts_isolated  # noqa: F401 - autouse: own Redis keys
from tests.alerts.helpers import fire
from tests.events.conftest import isolated_cache  # noqa: F401 - own list-cache keys


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The envelope's `error` of a `status` response, after checking all of its form."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].split(";")[0] == "application/json", response["Content-Type"]
    body = orjson.loads(response.content)  # strict: valid UTF-8, no unpaired surrogates
    assert body["success"] is False
    error = body["error"]
    assert error["code"] == status
    assert isinstance(error["message"], str)
    assert error["message"]
    assert set(error) <= {"code", "message", "details", "request_id"}
    return dict(error)


STORED: tuple[type[Model], ...] = (Event, Alert, Incident, TimelineEntry)


def stored_state() -> dict[str, list[dict[str, Any]]]:
    """Every row of the models a request could change."""
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in STORED}


@pytest.fixture
def unchanged():
    """Call the fixture's value after the request: it asserts that no row changed."""
    before = stored_state()

    def check() -> None:
        assert stored_state() == before

    return check


@pytest.fixture
def failed_event(user: Any) -> Event:
    from tests.factories import EventFactory

    return EventFactory.create(owner=user, status=Status.FAILED, last_error="boom")


@pytest.fixture
def alert() -> Alert:
    return fire("Hostile", severity="medium", message="m")


@pytest.fixture
def incident() -> Incident:
    incident = fire("Hostile incident", severity="critical", message="m").incident
    assert incident is not None  # a critical alert opens one
    return incident


@pytest.fixture
def clients(api_client: APIClient, auth_client: APIClient, staff_client: APIClient) -> Any:
    return {"anonymous": api_client, "user": auth_client, "staff": staff_client}
