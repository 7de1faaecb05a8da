"""The API's JSON renderer writes what DRF's JSONRenderer writes, faster where it can; where DRF
raises instead (a lone surrogate, a non-finite float) it writes the repaired value."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail
from rest_framework_simplejwt.tokens import AccessToken

from beo_automation.renderers import JSONRenderer, json_repaired

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


# Text with what encoders treat specially: controls, quotes, backslashes, DEL, the JavaScript
# line separators, non-BMP characters and lone surrogates.
_chars = st.one_of(
    st.characters(),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.sampled_from(["\u2028", "\u2029", "\x00", "\x1f", "\x7f", '"', "\\", "/", "🎉"]),
)
_text = st.text(_chars, max_size=10)
# Floats of every magnitude (1e-4 and below is where repr and orjson spell them differently).
_floats = st.one_of(
    st.floats(),
    st.builds(
        lambda m, e: m * 10.0**e, st.floats(-10, 10), st.integers(min_value=-12, max_value=20)
    ),
)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**80), 2**80), _floats, _text
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_text, inner, max_size=5),
        st.dictionaries(st.integers(0, 9), inner, max_size=2),
    ),
    max_leaves=20,
)


def drf_render(data, media=None):
    try:
        return renderers.JSONRenderer().render(data, media)
    except ValueError:  # UnicodeEncodeError (a lone surrogate) or a non-finite float
        return None


@settings(max_examples=1000, deadline=None)
@given(json_values)
@example(2.5e-05)
@example(1e-07)
@example([1e-05, 9.99e-05, 1e-06, 1.5e-09, 1e-10, 1e16, 1e-4])
@example({"ratio": 0.1, "tiny": -3.4e-08, "big": 1e300, "nan": float("nan")})
@example({"text": "e-7 0.00001", "\ud800": "\u2028"})
def test_every_json_value_renders_as_drf_does(data):
    expected = drf_render(data)
    rendered = JSONRenderer().render(data)

    if expected is not None:
        assert rendered == expected
    else:
        # The stated exceptions: what DRF refuses is written repaired, as valid UTF-8 JSON.
        assert rendered == renderers.JSONRenderer().render(json_repaired(data))
        json.loads(rendered.decode("utf-8"))


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_indented_output_is_drfs_too(data):
    media = "application/json; indent=2"
    expected = drf_render(data, media)
    rendered = JSONRenderer().render(data, media)

    if expected is not None:
        assert rendered == expected
    else:
        assert rendered == renderers.JSONRenderer().render(json_repaired(data), media)


def test_a_float_that_drf_spells_with_an_exponent_is_spelled_so():
    assert JSONRenderer().render({"a": 2.5e-05, "b": 1e-07}) == b'{"a":2.5e-05,"b":1e-07}'


def test_a_non_finite_float_is_null_where_drf_refuses_it():
    with pytest.raises(ValueError):
        renderers.JSONRenderer().render({"x": float("inf")})
    # Also when the rest of the value sends it through DRF's encoder (U+2028, a tiny float).
    for data in ({"x": float("inf")}, {"x": float("nan"), "t": "\u2028", "f": 1e-07}):
        assert json.loads(JSONRenderer().render(data))["x"] is None
