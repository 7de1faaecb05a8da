"""The API's JSON renderer writes what DRF's JSONRenderer writes, faster where it can."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail
from rest_framework_simplejwt.tokens import AccessToken

from beo_automation.renderers import JSONRenderer

EVENT = {
    "id": 12,
    "type": "beo.created",
    "payload": {"guests": 120, "menu": ["soup", "fish"], "é": "ü 🎉", "ratio": 0.1, "big": 1e20},
    "priority": "high",
    "status": "pending",
    "created_at": "2026-11-27T14:00:00.123456Z",
    "started_at": None,
    "attempts": 0,
    "vip": True,
}


@pytest.mark.parametrize(
    "data",
    [
        EVENT,
        {"count": 2, "results": [EVENT, EVENT]},
        [EVENT],
        {"error": {"details": {"type": [ErrorDetail("Must be…", code="invalid")]}}},
        # Values DRF's encoder converts its own way: DRF renders them.
        {"at": datetime(2026, 11, 27, 14, 0, tzinfo=UTC), "day": date(2026, 11, 27)},
        {"id": uuid.UUID(int=7), "amount": Decimal("1.50"), "pair": (1, 2)},
        {"message": gettext_lazy("Not found.")},
        {"huge": 2**70, "tags": {"a"}, 1: "int key"},
        # DRF escapes the JavaScript line separators.
        {"text": "one\u2028two\u2029three"},
        "",
        0,
    ],
)
def test_the_output_is_drfs_byte_for_byte(data):
    assert JSONRenderer().render(data) == renderers.JSONRenderer().render(data)


def test_nothing_renders_as_nothing():
    assert JSONRenderer().render(None) == b""


def test_indented_output_when_the_client_asks_for_it():
    media = "application/json; indent=2"
    assert JSONRenderer().render(EVENT, media) == renderers.JSONRenderer().render(EVENT, media)
    assert b'\n  "id": 12' in JSONRenderer().render(EVENT, media)


@pytest.mark.django_db
def test_the_api_answers_through_it(api_client, user):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    response = api_client.post(
        "/api/events/", {"type": "beo.created", "payload": {"note": "é\u2028"}}, format="json"
    )
    assert response.status_code == 201
    assert isinstance(response.accepted_renderer, JSONRenderer)
    assert json.loads(response.content)["payload"] == {"note": "é\u2028"}
    assert b"\\u2028" in response.content
