"""JSON from clients: one parsing rule for the API, the admin's JSON fields and cursors.

`json_parse` is the rule: standard JSON (the stdlib parser: big integers stay exact), nested at
most JSON_MAX_DEPTH arrays/objects deep. A deeper document is refused like any malformed one
(a json.JSONDecodeError, which is a ValueError), instead of a RecursionError (a 500) from the
parser or, a little shallower, from whatever walks the value next (the payload encoder, the
renderer, a log line). The API's parser (settings.REST_FRAMEWORK), the admin's JSON form
fields (JSONFormField) and the events cursor all parse through it.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

# Arrays and objects inside each other, counting the outermost; a bulk body spends two levels
# (the list and the event) before the payload starts.
JSON_MAX_DEPTH = 64
TOO_DEEP = f"nested more than {JSON_MAX_DEPTH} levels deep"


def json_depth_within(value: Any, limit: int = JSON_MAX_DEPTH) -> bool:
    """Whether a parsed JSON value nests at most `limit` containers deep.

    Level by level, containers only: a 1,000-event bulk body costs well under its parse time.
    """
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return False
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) is dict or type(child) is list
        ]
    return True


class BoundedJSONDecoder(json.JSONDecoder):
    """The rule: json.JSONDecoder refusing documents nested deeper than JSON_MAX_DEPTH.

    Also usable on its own, e.g. as Django's forms.JSONField(decoder=BoundedJSONDecoder).
    """

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        try:
            value = super().decode(s, *args, **kwargs)
        except RecursionError:
            raise json.JSONDecodeError(TOO_DEEP, s, 0) from None
        # Fewer brackets than the limit cannot nest deeper than it: most bodies skip the walk.
        if s.count("[") + s.count("{") > JSON_MAX_DEPTH and not json_depth_within(value):
            raise json.JSONDecodeError(TOO_DEEP, s, 0)
        return value


def json_parse(text: str | bytes, **kwargs: Any) -> Any:
    """A JSON document from a client; json.JSONDecodeError (a ValueError) when malformed or
    too deeply nested. `kwargs` go to json.loads (parse_constant, ...)."""
    return json.loads(text, cls=BoundedJSONDecoder, **kwargs)


class JSONFormField(forms.JSONField):
    """Django's forms.JSONField with json_parse's depth rule, for the admin's JSON inputs.

    Redisplaying the form writes what was typed back as JSON text: a value holding a lone
    surrogate (typed as a `\\ud800` escape) is written with ASCII escapes, as typed,
    instead of a character the page's UTF-8 cannot encode (a 500).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs["decoder"] = BoundedJSONDecoder
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        text = super().prepare_value(value)
        if isinstance(text, str) and not isinstance(value, forms.fields.InvalidJSONInput):
            try:
                text.encode()
            except UnicodeEncodeError:
                return json.dumps(value, cls=self.encoder)  # ensure_ascii: escapes
        return text


def _refuse_constant(name: str) -> Any:
    # NaN, Infinity and -Infinity are not JSON (the stdlib parser accepts them).
    raise ValueError(f"{name} is not valid JSON")


class JSONParser(BaseParser):
    """The API's only parser: UTF-8 JSON through json_parse; anything else is a ParseError
    (400 "Malformed JSON request body" in the envelope)."""

    media_type = "application/json"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Any = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = stream.read().decode(encoding)
            return json_parse(text, parse_constant=_refuse_constant)
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; LookupError: an unknown
        # charset in the Content-Type.
        except (ValueError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
