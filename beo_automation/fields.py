"""Serializer fields for JSON input that DRF's own fields take too loosely."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StringField(serializers.CharField):
    """A CharField that takes only a JSON string: DRF's turns `123`, `2**80`, `1e400` or
    `true`... into text. (CharField itself refuses NUL and surrogate characters, which no
    PostgreSQL text column can hold.)"""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return str(super().to_internal_value(data))
