"""Inserting events fast: PostgreSQL's COPY instead of a 1,000-row INSERT, and one event
without the ORM rebuilding the same INSERT statement on every API create.

`Event.objects.bulk_create` spends most of a 1,000-event request in Python: Django prepares
every field of every row (~19,000 calls) and psycopg quotes the resulting arrays client-side.
COPY streams the rows through psycopg's C row formatter and PostgreSQL applies the same
constraints, defaults and indexes. COPY cannot return generated ids, so the ids are taken from
the table's identity sequence first (one query) and written explicitly.

Every event of one call shares the template's values except its id, type, payload and
priority; new columns are picked up from the model, with the template's value.
Other databases (the embedded SQLite) use bulk_create.

`event_insert` is `event.save(force_insert=True)` for one new event: the statement is composed
once per process, and each value is prepared by its field's own pre_save/get_db_prep_save, as
the ORM prepares it. Under load the ORM's per-save query building was a sixth of an API worker's
time. Event has no save() override and no model signals; a test compares the rows both write.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Field, JSONField
from psycopg import sql
from psycopg.types.json import Jsonb

from events.models import Event

# Per-event values; every other column comes from the template.
VARYING = ("type", "payload", "priority")


def _db_value(value: Any, *, is_json: bool) -> Any:
    if value is None:
        return None
    if is_json:
        return Jsonb(value)
    if isinstance(value, enum.Enum):
        # psycopg would write an Enum member's *name*; the column holds its value.
        return value.value
    return value


def _allocate_ids(count: int) -> list[int]:
    table = Event._meta.db_table
    column = Event._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, column, count],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _copy(attnames: list[str], rows: list[list[Any]], *, payload_texts: list[str | None]) -> None:
    fields = {field.attname: field for field in Event._meta.concrete_fields}
    columns = [str(fields[name].column) for name in attnames]
    json_columns = [isinstance(fields[name], JSONField) for name in attnames]
    statement = sql.SQL("COPY {table} ({columns}) FROM STDIN").format(
        table=sql.Identifier(Event._meta.db_table),
        columns=sql.SQL(", ").join(sql.Identifier(column) for column in columns),
    )
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(statement) as copy,
    ):
        payload_at = attnames.index("payload")
        for values, text in zip(rows, payload_texts, strict=True):
            row = [_db_value(v, is_json=j) for v, j in zip(values, json_columns, strict=True)]
            if text is not None:
                row[payload_at] = text  # jsonb parses the text form COPY sends
            copy.write_row(row)


def events_insert_like(
    *, template: Event, items: Sequence[Any], returning: Sequence[str]
) -> list[dict[str, Any]]:
    """Insert one event per item (anything with type, payload, priority) that is otherwise a
    copy of the unsaved `template`; returns, in item order, each new event's `returning`
    attributes (id included when asked) as a dict — not Event instances, whose construction
    was a seventh of a 1,000-event request. Call it inside a transaction: the rows become
    visible together or not at all."""
    if not items:
        return []
    attnames = [field.attname for field in Event._meta.concrete_fields]
    position = {name: i for i, name in enumerate(attnames)}
    base = [getattr(template, name) for name in attnames]
    rows: list[list[Any]] = []
    for item in items:
        values = list(base)
        values[position["type"]] = item.type
        values[position["payload"]] = item.payload
        values[position["priority"]] = int(item.priority)
        rows.append(values)
    # The payloads' JSON text, already produced by validation when the items carry it.
    texts = [getattr(item, "payload_json", None) for item in items]

    if connection.vendor != "postgresql":
        unsaved = [Event(*values) for values in rows]  # type: ignore[misc]
        saved = Event.objects.bulk_create(unsaved, batch_size=1000)
        return [{name: getattr(event, name) for name in returning} for event in saved]

    id_at = position["id"]
    for values, new_id in zip(rows, _allocate_ids(len(rows)), strict=True):
        values[id_at] = new_id
    _copy(attnames, rows, payload_texts=texts)
    wanted = [(name, position[name]) for name in returning]
    return [{name: values[at] for name, at in wanted} for values in rows]


_insert_statement: tuple[str, list[Field[Any, Any]]] | None = None


def _single_insert() -> tuple[str, list[Field[Any, Any]]]:
    global _insert_statement  # noqa: PLW0603 - composed once per process, then read-only
    if _insert_statement is None:
        fields = [field for field in Event._meta.concrete_fields if not field.primary_key]
        statement = sql.SQL(
            "INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {pk}"
        ).format(
            table=sql.Identifier(Event._meta.db_table),
            columns=sql.SQL(", ").join(sql.Identifier(str(field.column)) for field in fields),
            values=sql.SQL(", ").join(sql.Placeholder() * len(fields)),
            pk=sql.Identifier(str(Event._meta.pk.column)),
        )
        connection.ensure_connection()
        _insert_statement = (statement.as_string(connection.connection), fields)
    return _insert_statement


def event_insert(event: Event) -> None:
    """Save a new (unsaved, id-less) event; as `event.save(force_insert=True)`."""
    if connection.vendor != "postgresql" or event.pk is not None:
        event.save(force_insert=True)
        return
    statement, fields = _single_insert()
    params = [
        field.get_db_prep_save(field.pre_save(event, add=True), connection) for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        (event.pk,) = cursor.fetchone()
    event._state.adding = False
    event._state.db = DEFAULT_DB_ALIAS
