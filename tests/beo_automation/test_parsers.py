"""The one rule for JSON from clients (beo_automation.parsers): nesting depth, exactly."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError

from beo_automation.parsers import JSON_MAX_DEPTH, JSONFormField, JSONParser, json_parse


def nested(levels: int, kind: str = "array") -> str:
    if kind == "array":
        return "[" * levels + "]" * levels
    if kind == "object":
        return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)
    # alternating, objects outermost
    text = "0"
    for level in range(levels):
        text = f'{{"k": {text}}}' if level % 2 else f"[{text}]"
    return text


@pytest.mark.parametrize("kind", ["array", "object", "mixed"])
def test_the_limit_is_exact(kind):
    assert json_parse(nested(JSON_MAX_DEPTH, kind)) is not None
    with pytest.raises(json.JSONDecodeError, match="nested more than"):
        json_parse(nested(JSON_MAX_DEPTH + 1, kind))


def test_brackets_inside_strings_do_not_count():
    text = json.dumps(["[" * 500, {"k": "{" * 500}, "]]]]"])

    assert json_parse(text)[0] == "[" * 500


def test_many_shallow_containers_are_fine():
    # More brackets than the limit, none deep: the walk runs and accepts.
    text = json.dumps([{"type": "a", "payload": {"x": [1, 2]}} for _ in range(1000)])

    assert len(json_parse(text)) == 1000


@pytest.mark.parametrize("levels", [1000, 10_000, 100_000])
def test_deeper_than_python_can_parse_is_the_same_error(levels):
    with pytest.raises(json.JSONDecodeError, match="nested more than"):
        json_parse(nested(levels))


def test_bytes_are_parsed_like_text():
    assert json_parse(b'{"a": [1]}') == {"a": [1]}


def test_big_integers_stay_exact():
    assert json_parse(str(2**80)) == 2**80


@pytest.mark.parametrize(
    "body", [b"NaN", b"[Infinity]", b'{"x": -Infinity}', b"\xff", b"[" * 100 + b"]" * 100]
)
def test_the_api_parser_refuses_what_is_not_storable_json(body):
    with pytest.raises(ParseError):
        JSONParser().parse(io.BytesIO(body), "application/json", {})


def test_the_api_parser_honours_the_request_encoding():
    body = '{"x": "café"}'.encode("latin-1")

    assert JSONParser().parse(io.BytesIO(body), "application/json", {"encoding": "latin-1"}) == {
        "x": "café"
    }


def test_the_form_field_applies_the_same_rule():
    from django.core.exceptions import ValidationError

    field = JSONFormField()
    assert field.clean(nested(JSON_MAX_DEPTH)) == json.loads(nested(JSON_MAX_DEPTH))
    with pytest.raises(ValidationError):
        field.clean(nested(JSON_MAX_DEPTH + 1))


def test_the_form_field_redisplays_a_lone_surrogate_as_an_escape():
    field = JSONFormField()

    shown = field.prepare_value(field.bound_data('{"x": "\\ud800"}', None))

    assert shown == '{"x": "\\ud800"}'
    shown.encode()  # the page can be written as UTF-8
