"""The API's JSON renderer: DRF's JSONRenderer output, byte for byte, written by orjson where
the two agree, because a 1,000-event bulk response is about 300 KB of JSON and orjson writes
it far faster than the standard library's encoder.

Everything orjson would write differently goes to DRF's renderer unchanged:
- indented output (`Accept: application/json; indent=2`);
- values DRF's encoder converts its own way (datetimes, dataclasses, Decimals, lazy
  translations, sets, integers beyond 64 bits, non-string keys);
- text holding U+2028/U+2029, which DRF escapes so the output stays a JavaScript subset;
- a float below 1e-4 in magnitude, which Python's repr writes `2.5e-05` or `1e-07` and orjson
  `0.000025` or `1e-7` (the same digits otherwise, see _FLOAT_SPELLED_DIFFERENTLY).

Where DRF writes nothing but raises, this renderer still answers, the stated exceptions:
- a non-finite float (DRF's strict mode refuses it) is written as null — the API stores none,
  jsonb cannot hold one;
- text UTF-8 cannot encode — a lone surrogate, which a request can smuggle in with a `"\\ud800"`
  escape and an error message then echoes — is written with U+FFFD in place of each unpaired
  surrogate, so every response is valid UTF-8 JSON.
tests/beo_automation/test_renderers.py holds the renderer to this with hypothesis.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework import renderers

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_LINE_SEPARATORS = ("\u2028".encode(), "\u2029".encode())
# orjson and repr() write the same shortest digits; they spell a float differently only below
# 1e-4, where orjson writes `0.0000…` (1e-5 to 1e-4) or an unpadded exponent `e-6` … `e-9`
# (repr: `e-06`). Output with either mark goes through DRF; a string that merely contains one
# costs only the slower path. Two literal-prefix regexes are the fastest scan the standard
# library offers for this (bytes `in` is slower on short needles).
_FLOAT_SPELLED_DIFFERENTLY = (re.compile(rb"0\.0000"), re.compile(rb"e-[6-9]"))


def text_repaired(value: str) -> str:
    """`value` with each unpaired surrogate replaced by U+FFFD (paired ones joined)."""
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def json_repaired(data: Any) -> Any:
    """A JSON-able value with every string (keys included) through text_repaired and every
    non-finite float as None: what orjson writes for one."""
    if isinstance(data, str):
        return text_repaired(data)
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, Mapping):
        return {
            text_repaired(k) if isinstance(k, str) else k: json_repaired(v) for k, v in data.items()
        }
    if isinstance(data, list | tuple):
        return [json_repaired(v) for v in data]
    return data


def _not_ours(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is rendered by DRF's encoder")


class JSONRenderer(renderers.JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is not None and self.compact and not self.ensure_ascii:
            indent = self.get_indent(accepted_media_type or "", renderer_context or {})
            if indent is None:
                try:
                    rendered = orjson.dumps(data, default=_not_ours, option=_OPTIONS)
                except TypeError:  # orjson.JSONEncodeError included
                    pass
                else:
                    if not any(mark in rendered for mark in _LINE_SEPARATORS) and not any(
                        mark.search(rendered) for mark in _FLOAT_SPELLED_DIFFERENTLY
                    ):
                        return rendered
        try:
            return super().render(data, accepted_media_type, renderer_context)
        # UnicodeEncodeError: a lone surrogate; ValueError: a non-finite float (strict mode).
        except ValueError:
            return super().render(json_repaired(data), accepted_media_type, renderer_context)
