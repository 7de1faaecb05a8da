"""Inserting events fast: PostgreSQL's COPY instead of a 1,000-row INSERT, and one event
without the ORM rebuilding the same INSERT statement on every API create.

`Event.objects.bulk_create` spends most of a 1,000-event request in Python: Django prepares
every field of every row (~19,000 calls) and psycopg quotes the resulting arrays client-side.
COPY streams the rows as text and PostgreSQL applies the same constraints, defaults and
indexes. COPY cannot return generated ids, so the ids are taken from the table's identity
sequence first (one query) and written explicitly.

Every event of one call shares the template's values except its id, type, payload and
priority; new columns are picked up from the model, with the template's value, formatted once
per call by psycopg's dumpers (see `_copy`). A test compares the rows with the ORM's.
Other databases (the embedded SQLite) use bulk_create.

`event_insert` is `event.save(force_insert=True)` for one new event: the statement is composed
once per process, and each value is prepared by its field's own pre_save/get_db_prep_save, as
the ORM prepares it, and bound server-side, because under load the ORM rebuilding the same
query on every save was a large share of an API worker's time. Neither path calls save() or
sends model signals: the system check in events/checks.py fails if Event gains a save()
override or a save/init signal receiver. A test compares the rows both write.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]  # psycopg 3 only
    ServerBindingCursor,
)
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, JSONField
from psycopg import sql
from psycopg.adapt import PyFormat
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


def _copy_escape(text: str) -> str:
    """Text for COPY's text format: backslash, tab, newline and carriage return escaped."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _copy_text(value: Any, *, is_json: bool, cursor: Any) -> str:
    """One value in COPY's text format, as psycopg's own dumper writes it (write_row's way)."""
    value = _db_value(value, is_json=is_json)
    if value is None:
        return "\\N"
    dumper = cursor.adapters.get_dumper(type(value), PyFormat.TEXT)(type(value), cursor)
    # A dispatcher (int: int2/int4/int8/numeric) hands over to the dumper for this value.
    dumper = dumper.upgrade(value, PyFormat.TEXT)
    return _copy_escape(bytes(dumper.dump(value)).decode())


def _copy(attnames: list[str], base: list[Any], items: Sequence[Any], ids: list[int]) -> None:
    """COPY one row per item: its id and VARYING columns, then the template's other columns.

    The rows are written as COPY text by hand rather than by write_row: the template's columns
    (owner, status, three timestamps…) are the same on every row, so they are formatted once,
    by psycopg's dumpers, and each row only adds four values, where write_row would format
    every column of every row again.
    """
    fields = {field.attname: field for field in Event._meta.concrete_fields}
    position = {name: i for i, name in enumerate(attnames)}
    constant = [name for name in attnames if name != "id" and name not in VARYING]
    columns = ["id", *VARYING, *constant]
    statement = sql.SQL("COPY {table} ({columns}) FROM STDIN").format(
        table=sql.Identifier(Event._meta.db_table),
        columns=sql.SQL(", ").join(sql.Identifier(str(fields[name].column)) for name in columns),
    )
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(statement) as copy,
    ):
        tail = "".join(
            "\t"
            + _copy_text(
                base[position[name]],
                is_json=isinstance(fields[name], JSONField),
                cursor=cursor.cursor,
            )
            for name in constant
        )
        lines = []
        for new_id, item in zip(ids, items, strict=True):
            text = getattr(item, "payload_json", None)
            if text is None:
                text = json.dumps(item.payload, ensure_ascii=False)
            lines.append(
                f"{int(new_id)}\t{_copy_escape(item.type)}\t{_copy_escape(text)}"
                f"\t{int(item.priority)}{tail}\n"
            )
        copy.write("".join(lines))


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
    base = [getattr(template, name) for name in attnames]

    if connection.vendor != "postgresql":
        position = {name: i for i, name in enumerate(attnames)}
        rows: list[list[Any]] = []
        for item in items:
            values = list(base)
            values[position["type"]] = item.type
            values[position["payload"]] = item.payload
            values[position["priority"]] = int(item.priority)
            rows.append(values)
        unsaved = [Event(*values) for values in rows]  # type: ignore[misc]
        saved = Event.objects.bulk_create(unsaved, batch_size=1000)
        return [{name: getattr(event, name) for name in returning} for event in saved]

    ids = _allocate_ids(len(items))
    _copy(attnames, base, items, ids)
    shared = {name: base[attnames.index(name)] for name in returning}
    created = []
    for new_id, item in zip(ids, items, strict=True):
        own = {"id": new_id, "type": item.type, "payload": item.payload}
        own["priority"] = int(item.priority)
        created.append({name: own.get(name, value) for name, value in shared.items()})
    return created


_insert_statement: tuple[str, list[Field[Any, Any]]] | None = None
_audited_statement: str | None = None


def _audited_insert() -> str:
    """The event's INSERT with its audit record (django-auditlog's table) in the same
    statement: a CTE, so the API create keeps one round trip and the two commit together."""
    global _audited_statement  # noqa: PLW0603 - composed once per process, then read-only
    if _audited_statement is None:
        from auditlog.models import LogEntry

        from maintenance.services.audit import AUDIT_CREATE_COLUMNS

        insert, _ = _single_insert()
        pk = sql.Identifier(str(Event._meta.pk.column))
        statement = sql.SQL(
            "WITH e AS ({insert}), a AS (INSERT INTO {log} (object_pk, object_id, object_repr, "
            "changes_text, {columns}) SELECT e.{pk}::text, e.{pk}, 'Event #' || e.{pk}, '', "
            "{values} FROM e) SELECT {pk} FROM e"
        ).format(
            insert=sql.SQL(insert),
            log=sql.Identifier(LogEntry._meta.db_table),
            columns=sql.SQL(", ").join(sql.Identifier(c) for c in AUDIT_CREATE_COLUMNS),
            values=sql.SQL(", ").join(sql.Placeholder() * len(AUDIT_CREATE_COLUMNS)),
            pk=pk,
        )
        _audited_statement = statement.as_string(connection.connection)
    return _audited_statement


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


def _server_binding_cursor(db: BaseDatabaseWrapper) -> CursorWrapper:
    """A cursor on `db` whose parameters PostgreSQL binds.

    Django's psycopg cursors bind client-side: psycopg quotes every value into the SQL text in
    Python, for every one of the INSERT's 18 values on every API create. Here the values travel
    beside the statement (unnamed, unprepared: connection poolers keep working), dumped by
    psycopg's C adapters. Wrapped as connection.cursor() wraps its cursors (query logging,
    error translation), after the same connection checks.
    """
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    raw = ServerBindingCursor(db.connection)
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


def event_insert(event: Event, *, audit: list[Any] | None = None) -> None:
    """Save a new (unsaved, id-less) event; as `event.save(force_insert=True)`. With `audit`
    (maintenance.services.audit.audit_create_params), its audit record in the same statement."""
    # The connection itself, not the django.db.connection proxy, which looks it up again on
    # every attribute read (a few percent of an API create).
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or event.pk is not None:
        event.save(force_insert=True)
        if audit is not None:
            from maintenance.services.audit import audit_record

            audit_record(
                model=Event,
                object_id=event.pk,
                object_repr=f"Event #{event.pk}",
                action="create",
                actor=event.owner,
            )
        return
    statement, fields = _single_insert()
    params = [field.get_db_prep_save(field.pre_save(event, add=True), db) for field in fields]
    if audit is not None:
        statement = _audited_insert()
        params += audit
    with _server_binding_cursor(db) as cursor:
        cursor.execute(statement, params)
        (event.pk,) = cursor.fetchone()
    event._state.adding = False
    event._state.db = DEFAULT_DB_ALIAS
