"""One submission rule (events.submission), three ways in: the serializer, the fast path
(event_already_valid) and the service (event_input_validate) accept and refuse the same
submissions, and an accepted one is stored as the same row by single create and bulk."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from beo_automation.errors import AppError, PayloadTooLargeError
from events.api.serializers import EventInputSerializer, event_input_from
from events.models import Event, Priority
from events.services import EventInput, event_input_validate
from events.submission import (
    FIELDS,
    PRIORITIES,
    PRIORITY_DEFAULT,
    REQUIRED_FIELDS,
    event_already_valid,
    events_already_valid,
)

# Text with what breaks naive checks: newlines, NUL, lone surrogates, line separators.
hostile_chars = st.one_of(
    st.characters(),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.sampled_from(["\n", "\r", "\x00", "\u2028", " ", "."]),
)
hostile_text = st.text(hostile_chars, max_size=12)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_scalars = st.one_of(st.none(), st.booleans(), numbers, hostile_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=12,
)

good_types = st.from_regex(r"[A-Za-z0-9._:-]{1,100}", fullmatch=True)
types = st.one_of(
    good_types,
    good_types.map(lambda t: t + "\n"),
    good_types.map(lambda t: "\n" + t),
    good_types.map(lambda t: t + "\x00"),
    st.text(st.sampled_from("ab.:-_ \n"), max_size=101),
    st.just("x" * 101),
    json_values,
)
priorities = st.one_of(
    st.sampled_from(list(PRIORITIES)),
    st.sampled_from([p.upper() for p in PRIORITIES] + [" normal", "normal\n"]),
    st.sampled_from([int(p) for p in Priority]),
    json_values,
)
payloads = st.one_of(st.dictionaries(hostile_text, json_values, max_size=4), json_values)


@st.composite
def submissions(draw: st.DrawFn) -> Any:
    """Mostly objects shaped like a submission (fields missing, extra, or of any value), and
    sometimes any JSON value at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    item: dict[str, Any] = {}
    for name, values in (("type", types), ("payload", payloads), ("priority", priorities)):
        if draw(st.integers(0, 9)) > 0:  # now and then the field is left out
            item[name] = draw(values)
    if draw(st.integers(0, 9)) == 0:
        item[draw(hostile_text)] = draw(json_values)
    return item


Refused = tuple[str, frozenset[str]]  # ("400" or "413", the fields named)


def _refusal(exc: AppError) -> Refused:
    kind = "413" if isinstance(exc, PayloadTooLargeError) else "400"
    return kind, frozenset(exc.details or {}) if kind == "400" else frozenset({"payload"})


def from_validated(data: Any) -> EventInput | Refused:
    try:
        return event_input_from(data)
    except AppError as exc:
        return _refusal(exc)


def by_serializer(item: Any) -> EventInput | Refused:
    serializer = EventInputSerializer(data=item)
    if not serializer.is_valid():
        return "400", frozenset(serializer.errors)
    return from_validated(serializer.validated_data)


def by_service(item: Any) -> EventInput | Refused | None:
    """None: not an object with the submission's fields, which only the serializer can name."""
    if type(item) is not dict or not FIELDS.issuperset(item) or not set(item) >= REQUIRED_FIELDS:
        return None
    try:
        return event_input_validate(
            type=item["type"],
            payload=item["payload"],
            priority=item.get("priority", PRIORITY_DEFAULT),
        )
    except AppError as exc:
        return _refusal(exc)


def same(a: EventInput | Refused | None, b: EventInput | Refused | None) -> bool:
    # payload_json is what the row is written from; == on the dataclass ignores it.
    if isinstance(a, EventInput) and isinstance(b, EventInput):
        return a == b and a.payload_json == b.payload_json
    return a == b


def has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(has_nan(k) or has_nan(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nan(v) for v in value)
    return False


def test_the_serializer_declares_the_rules_fields():
    assert set(EventInputSerializer().fields) == FIELDS


@settings(max_examples=1000, deadline=None)
@given(submissions())
@example({"type": "beo.x\n", "payload": {}})
@example({"type": 123, "payload": {}})
@example({"type": "beo.x", "payload": {}, "priority": 2})
@example({"type": "beo.x", "payload": {}, "priority": True})
@example({"type": "beo.x", "payload": {"\ud800": 1}})
@example({"type": "beo.x", "payload": {"a": "\x00"}})
@example({"type": "beo.x", "payload": {"a": float("inf")}})
@example({"type": "beo.x", "payload": {"a": [[{"b": None}]]}, "priority": "urgent"})
def test_serializer_fast_path_and_service_agree(item):
    expected = by_serializer(item)
    fast = event_already_valid(item)
    service = by_service(item)

    serializer_valid = EventInputSerializer(data=item).is_valid()
    # The fast path takes exactly what the serializer takes, unchanged.
    assert (fast is not None) == serializer_valid
    if fast is not None:
        assert same(from_validated(fast), expected)
    if service is None:
        assert not isinstance(expected, EventInput)
    else:
        # Accepted as the same input, or refused for the same reason naming the same fields.
        assert same(service, expected)
    # Bulk's fast path is the single one, item by item.
    assert events_already_valid([item]) == (None if fast is None else [fast])


@pytest.fixture
def unlimited(settings: Any) -> None:
    settings.RATELIMIT_ENABLE = False  # a hundred requests in a few seconds, by design


@pytest.mark.django_db
@pytest.mark.usefixtures("isolated_cache", "unlimited")
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(item=submissions())
@example(item={"type": "beo.x\n", "payload": {}})
@example(item={"type": "beo.x", "payload": {"\ud800": "\udfff"}, "priority": "high"})
@example(item={"type": "beo.x", "payload": {"n": 2**70, "f": 2.5e-05, "g": [True, None]}})
def test_single_and_bulk_store_what_the_service_accepts(auth_client, item):
    body = json.dumps(item)  # ASCII escapes: a lone surrogate travels as \\ud800
    verdict = by_service(item)
    if has_nan(item):
        verdict = verdict if isinstance(verdict, tuple) else ("400", frozenset())

    single = auth_client.post("/api/events/", data=body, content_type="application/json")
    bulk = auth_client.post("/api/events/bulk/", data=f"[{body}]", content_type="application/json")

    if isinstance(verdict, EventInput):
        assert single.status_code == 201, single.content
        assert bulk.status_code == 201, bulk.content
        ids = [single.json()["id"], bulk.json()["results"][0]["id"]]
        rows = Event.objects.filter(pk__in=ids).values_list("type", "payload", "priority")
        expected = (verdict.type, json.loads(verdict.payload_json or ""), verdict.priority)
        assert list(rows) == [expected, expected]
    else:
        status = 413 if verdict is not None and verdict[0] == "413" else 400
        assert single.status_code == status, single.content
        assert bulk.status_code == status, bulk.content
