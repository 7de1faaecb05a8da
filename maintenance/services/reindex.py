"""REINDEX … CONCURRENTLY: rebuild bloated indexes without blocking reads or writes.

CONCURRENTLY builds each new index beside the old one and swaps them, so the API keeps
working. If it is interrupted it leaves an invalid index named `…_ccnew` behind; the result
lists invalid indexes so the operator can drop them (DROP INDEX CONCURRENTLY).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from django.db import connection
from django.db.backends.utils import CursorWrapper
from psycopg import sql

from maintenance.errors import MaintenanceError
from maintenance.services.database import (
    database_name,
    django_table_names,
    is_postgres,
    quote_table,
    resolve_tables,
)
from maintenance.services.run_records import RunContext, run_recorded


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReindexResult:
    targets: list[str]
    whole_database: bool
    indexes: int
    seconds: float
    invalid_indexes: list[str]

    def summary_line(self) -> str:
        what = (
            f"database {self.targets[0]}"
            if self.whole_database
            else f"{len(self.targets)} table{'s' if len(self.targets) != 1 else ''}"
        )
        line = f"Reindexed {what} ({self.indexes} indexes) in {self.seconds:.1f} s."
        if self.invalid_indexes:
            line += (
                f" Invalid indexes left by an interrupted run: {', '.join(self.invalid_indexes)}"
                " — drop them with DROP INDEX CONCURRENTLY."
            )
        return line


def database_reindex(
    *,
    tables: Sequence[str] = (),
    whole_database: bool = False,
    context: RunContext,
) -> ReindexResult:
    """REINDEX the project's tables (or the named ones, or the whole database) concurrently."""
    if tables and whole_database:
        raise MaintenanceError("Name tables or pass --database, not both")
    arguments = {"tables": list(tables), "database": whole_database}
    with run_recorded(operation="reindex_db", arguments=arguments, context=context) as run:
        if connection.in_atomic_block:
            raise MaintenanceError("REINDEX cannot run inside a transaction block")
        started = time.perf_counter()
        if whole_database:
            targets = [database_name()]
        else:
            targets = resolve_tables(tables) if tables else django_table_names()
        indexes = 0
        with connection.cursor() as cursor:
            if is_postgres():
                if whole_database:
                    indexes = _index_count(cursor, None)
                    cursor.execute(
                        sql.SQL("REINDEX DATABASE CONCURRENTLY {}")
                        .format(sql.Identifier(targets[0]))
                        .as_string(None)
                    )
                    run.progress(f"REINDEX DATABASE CONCURRENTLY {targets[0]}: {indexes} indexes")
                else:
                    for index, table in enumerate(targets, start=1):
                        count = _index_count(cursor, table)
                        table_started = time.perf_counter()
                        cursor.execute(
                            sql.SQL("REINDEX TABLE CONCURRENTLY {}")
                            .format(sql.Identifier(table))
                            .as_string(None)
                        )
                        indexes += count
                        run.progress(
                            f"[{index}/{len(targets)}] {table}: {count} indexes in "
                            f"{time.perf_counter() - table_started:.2f} s"
                        )
                invalid = _invalid_indexes(cursor)
            else:
                if whole_database:
                    cursor.execute("REINDEX")
                else:
                    for table in targets:
                        cursor.execute(f"REINDEX {quote_table(table)}")
                run.progress(f"REINDEX of {len(targets)} target(s)")
                invalid = []
        result = ReindexResult(
            targets=targets,
            whole_database=whole_database,
            indexes=indexes,
            seconds=time.perf_counter() - started,
            invalid_indexes=invalid,
        )
        run.summary = {
            "targets": len(targets),
            "indexes": indexes,
            "seconds": round(result.seconds, 3),
            "invalid_indexes": invalid,
        }
        return result


def _index_count(cursor: CursorWrapper, table: str | None) -> int:
    if table is None:
        cursor.execute(
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%%'"
        )
    else:
        cursor.execute(
            "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass",
            [sql.Identifier(table).as_string(None)],
        )
    return int(cursor.fetchone()[0])


def _invalid_indexes(cursor: CursorWrapper) -> list[str]:
    cursor.execute(
        "SELECT i.indexrelid::regclass::text FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT i.indisvalid AND n.nspname NOT LIKE 'pg_toast%%' ORDER BY 1"
    )
    return [row[0] for row in cursor.fetchall()]
