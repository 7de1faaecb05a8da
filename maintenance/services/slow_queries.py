"""slow_queries: the guide's pg_stat_statements query, for the current database.

pg_stat_statements needs two steps by a database administrator: the library loaded at server
start (shared_preload_libraries, then a restart) and the extension created in the database.
When either is missing the report says which, and how, and the command exits with code 2.
"""

from __future__ import annotations

import dataclasses

from django.db import DatabaseError, connection
from psycopg import sql

from maintenance.errors import MaintenanceError, PrerequisiteMissingError
from maintenance.services.database import database_name, require_postgres
from maintenance.services.run_records import RunContext, run_recorded

ORDERINGS = {
    "mean": "mean_exec_time",
    "total": "total_exec_time",
    "max": "max_exec_time",
    "calls": "calls",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlowQuery:
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    max_ms: float
    rows: int


def _enable_instructions(*, library_loaded: bool) -> str:
    steps = []
    if not library_loaded:
        steps.append(
            "add pg_stat_statements to shared_preload_libraries in postgresql.conf "
            "(ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; keep any "
            "libraries already listed) and restart PostgreSQL"
        )
    steps.append(
        f"run CREATE EXTENSION IF NOT EXISTS pg_stat_statements; in database {database_name()!r}"
        " as a superuser"
    )
    numbered = "; ".join(f"{i}) {step}" for i, step in enumerate(steps, start=1))
    return f"To enable it: {numbered}. Then run slow_queries again."


def slow_queries_report(
    *, limit: int, order_by: str = "mean", context: RunContext
) -> list[SlowQuery]:
    """The slowest statements recorded by pg_stat_statements in this database."""
    if not 1 <= limit <= 1000:
        raise MaintenanceError(f"--limit must be between 1 and 1000 (got {limit})")
    if order_by not in ORDERINGS:
        raise MaintenanceError(
            f"--order-by must be one of {', '.join(ORDERINGS)} (got {order_by!r})"
        )
    arguments = {"limit": limit, "order_by": order_by}
    with run_recorded(operation="slow_queries", arguments=arguments, context=context) as run:
        require_postgres("slow_queries")
        with connection.cursor() as cursor:
            cursor.execute("SHOW shared_preload_libraries")
            loaded = "pg_stat_statements" in cursor.fetchone()[0]
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
            installed = cursor.fetchone() is not None
        if not (loaded and installed):
            problem = (
                "pg_stat_statements is not loaded by the server"
                if not loaded
                else f"the pg_stat_statements extension is not installed in {database_name()!r}"
            )
            raise PrerequisiteMissingError(
                f"{problem}. {_enable_instructions(library_loaded=loaded)}"
            )
        column = ORDERINGS[order_by]
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    sql.SQL(
                        "SELECT query, calls, total_exec_time, mean_exec_time, max_exec_time, "
                        "rows FROM pg_stat_statements WHERE dbid = "
                        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                        "ORDER BY {} DESC LIMIT %s"
                    )
                    .format(sql.Identifier(column))
                    .as_string(None),
                    [limit],
                )
                rows = [
                    SlowQuery(
                        query=" ".join(query.split()),
                        calls=int(calls),
                        total_ms=float(total),
                        mean_ms=float(mean),
                        max_ms=float(maximum),
                        rows=int(count),
                    )
                    for query, calls, total, mean, maximum, count in cursor.fetchall()
                ]
        except DatabaseError as exc:
            raise PrerequisiteMissingError(
                f"pg_stat_statements could not be read: {str(exc).splitlines()[0]}. "
                f"{_enable_instructions(library_loaded=False)}"
            ) from exc
        run.summary = {"queries": len(rows), "order_by": order_by}
        return rows
