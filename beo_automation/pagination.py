"""What every list endpoint takes, one rule each: a cursor from a previous page, a page size,
and filters whose multi-valued ones are comma lists.

List query serializers derive from ListQuerySerializer (a blank parameter is a 400) and declare
`cursor = cursor_field()` and `page_size = page_size_field()`, so an out-of-range or non-
numeric page size is a 400 (`details.page_size`) on every list, and the schema documents both.
A filter on a set of values is a ChoiceListField: `?status=failed,cancelled` means either,
each value must be one of the choices (else a 400 naming them), and the schema says so
(an array parameter with `style: form, explode: false`, beo_automation.schema).
Lists served by DRF's CursorPagination use NewestFirst, which takes the validated page size and
answers a tampered cursor as the events list does: 400 with `details.cursor`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from beo_automation.errors import ValidationError

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 500
INVALID_CURSOR = "Invalid cursor: use the `next` or `previous` link of a previous response."
# Ids are PostgreSQL bigints: a position beyond them cannot come from a link we wrote.
_MAX_ID = 2**63 - 1


def page_size_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=PAGE_SIZE_MAX,
        default=PAGE_SIZE_DEFAULT,
        help_text=f"Items per page, 1-{PAGE_SIZE_MAX} (default {PAGE_SIZE_DEFAULT}).",
    )


def cursor_field() -> serializers.CharField:
    return serializers.CharField(
        required=False, help_text="Opaque position from a `next` or `previous` link."
    )


BLANK_PARAMETER = "This parameter may not be blank: leave it out instead."


def _shown(values: Sequence[str], limit: int = 3, width: int = 30) -> str:
    # Echo a few of what was sent, cut short: a query string can be kilobytes long.
    shown = [v if len(v) <= width else v[: width - 1] + "…" for v in values[:limit]]
    return ", ".join(shown) + (", …" if len(values) > limit else "")


class ChoiceListField(serializers.Field):
    """A comma-separated list of allowed values, `?status=failed,cancelled`; validated to a
    list without repeats, in the order given. Spaces around a value are ignored; an empty item
    (`a,,b`, `a,`) is a 400 like a blank parameter."""

    default_error_messages = {
        "not_a_string": "Must be a string.",
        "empty_item": "Empty item: separate values with single commas.",
        "unknown": "Unknown {name} {values}: use one or more of {allowed}, comma-separated.",
    }

    def __init__(self, *, choices: Sequence[str], **kwargs: Any) -> None:
        self.choices = tuple(choices)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, str):
            self.fail("not_a_string")
        items = list(dict.fromkeys(item.strip() for item in data.split(",")))
        if "" in items:
            self.fail("empty_item")
        if unknown := [item for item in items if item not in self.choices]:
            self.fail(
                "unknown",
                name=self.field_name,
                values=_shown(unknown),
                allowed=", ".join(self.choices),
            )
        return items

    def to_representation(self, value: Any) -> Any:
        return ",".join(value)


class ChoiceListFieldSchema(OpenApiSerializerFieldExtension):
    """ChoiceListField in the schema: an array of its choices (serialised as a comma list)."""

    target_class = ChoiceListField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        field = self.target
        return {
            "type": "array",
            "items": {"type": "string", "enum": list(field.choices)},
            "minItems": 1,
        }


class ListQuerySerializer(serializers.Serializer):
    """Base of every list endpoint's query serializer: a parameter given with an empty value
    (`?type=`, `?page_size=`) is a 400 naming it. DRF reads query strings as HTML forms, where
    a blank optional field counts as absent — `?status=` would list every status."""

    def to_internal_value(self, data: Any) -> Any:
        blank = (
            sorted(str(k) for k in data if k in self.fields and data.get(k) == "")
            if isinstance(data, Mapping)
            else []
        )
        if blank:
            raise serializers.ValidationError({name: [BLANK_PARAMETER] for name in blank})
        return super().to_internal_value(data)


def invalid_cursor() -> ValidationError:
    return ValidationError(details={"cursor": [INVALID_CURSOR]})


class NewestFirst(CursorPagination):
    """DRF's cursor pagination by descending id, with the page size the view validated
    (page_size_field) and cursors checked: DRF does not check the position it decodes, and
    a non-numeric or out-of-range one fails in the query (a 500)."""

    ordering = "-id"
    page_size_query_param = None

    def __init__(self, *, page_size: int = PAGE_SIZE_DEFAULT) -> None:
        self.page_size = page_size

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        try:
            if encoded is not None:
                # DRF's decoder skips what is not base64 (`!!!` would be the first page).
                base64.b64decode(encoded.encode("ascii"), validate=True)
            cursor = super().decode_cursor(request)
        # binascii.Error and UnicodeEncodeError are ValueErrors; NotFound: DRF's "Invalid cursor"
        except (NotFound, ValueError, TypeError):
            raise invalid_cursor() from None
        if cursor is not None and cursor.position is not None:
            try:
                position = int(cursor.position)
            except ValueError:
                raise invalid_cursor() from None
            if not 0 <= position <= _MAX_ID:
                raise invalid_cursor()
        return cursor


def newest_first_response(
    request: Request,
    *,
    view: Any,
    query: type[serializers.Serializer],
    select: Callable[..., QuerySet[Any]],
    serializer: type[serializers.BaseSerializer],
) -> Response:
    """A list endpoint's GET: the query string validated by `query` (a ListQuerySerializer),
    its filters passed to `select` by name, one NewestFirst page of `serializer` rows."""
    params = query(data=request.query_params)
    params.is_valid(raise_exception=True)
    filters = dict(params.validated_data)
    paginator = NewestFirst(page_size=filters.pop("page_size"))
    filters.pop("cursor", None)  # NewestFirst reads it
    page = paginator.paginate_queryset(select(**filters), request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)
