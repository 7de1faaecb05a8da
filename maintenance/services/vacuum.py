"""VACUUM (ANALYZE) of every table or the named ones, one table at a time with progress.

Plain VACUUM takes a SHARE UPDATE EXCLUSIVE lock: reads and writes go on. VACUUM FULL rewrites
the table under an ACCESS EXCLUSIVE lock (nothing reads or writes it meanwhile); the command
asks for confirmation before it. On SQLite, VACUUM rebuilds the whole database file (it cannot
target a table) and ANALYZE refreshes the planner's statistics.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from django.db import connection
from django.db.backends.utils import CursorWrapper
from psycopg import sql

from maintenance.errors import MaintenanceError
from maintenance.services.database import is_postgres, quote_table, resolve_tables, table_names
from maintenance.services.run_records import RunContext, RunRecorder, run_recorded


@dataclasses.dataclass(frozen=True, kw_only=True)
class TableVacuum:
    table: str
    seconds: float
    bytes_before: int | None = None
    bytes_after: int | None = None
    dead_tuples_before: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class VacuumResult:
    tables: list[TableVacuum]
    full: bool
    analyze: bool
    seconds: float
    note: str = ""

    @property
    def bytes_freed(self) -> int:
        return sum(
            (t.bytes_before or 0) - (t.bytes_after or 0)
            for t in self.tables
            if t.bytes_before is not None and t.bytes_after is not None
        )

    def summary_line(self) -> str:
        what = "VACUUM" + (" FULL" if self.full else "") + (" ANALYZE" if self.analyze else "")
        freed = f", {self.bytes_freed / 2**20:,.1f} MiB returned" if self.full else ""
        note = f" {self.note}" if self.note else ""
        return (
            f"{what} of {len(self.tables)} table{'s' if len(self.tables) != 1 else ''} "
            f"in {self.seconds:.1f} s{freed}.{note}"
        )


def _not_in_transaction(what: str) -> None:
    if connection.in_atomic_block:
        raise MaintenanceError(f"{what} cannot run inside a transaction block")


def database_vacuum(
    *,
    tables: Sequence[str] = (),
    full: bool = False,
    analyze: bool = True,
    context: RunContext,
) -> VacuumResult:
    """VACUUM [FULL] [ANALYZE] the named tables, or all of them."""
    arguments = {"tables": list(tables), "full": full, "analyze": analyze}
    with run_recorded(operation="vacuum_db", arguments=arguments, context=context) as run:
        _not_in_transaction("VACUUM")
        targets = resolve_tables(tables) if tables else table_names()
        if is_postgres():
            result = _vacuum_postgres(targets, full=full, analyze=analyze, progress=run.progress)
        else:
            result = _vacuum_sqlite(targets, named=bool(tables), analyze=analyze, run=run)
        run.summary = {
            "tables": len(result.tables),
            "seconds": round(result.seconds, 3),
            "bytes_freed": result.bytes_freed,
            "per_table": [
                {"table": t.table, "seconds": round(t.seconds, 3)} for t in result.tables
            ],
        }
        return result


def _relation_stats(cursor: CursorWrapper, table: str) -> tuple[int, int | None]:
    cursor.execute(
        "SELECT pg_total_relation_size(c.oid), s.n_dead_tup FROM pg_class c "
        "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = %s::regclass",
        [sql.Identifier(table).as_string(None)],
    )
    size, dead = cursor.fetchone()
    return int(size), (int(dead) if dead is not None else None)


def _vacuum_postgres(
    targets: list[str], *, full: bool, analyze: bool, progress: Callable[[str], None]
) -> VacuumResult:
    options = [sql.SQL(word) for word, on in (("FULL", full), ("ANALYZE", analyze)) if on]
    started = time.perf_counter()
    done: list[TableVacuum] = []
    with connection.cursor() as cursor:
        for index, table in enumerate(targets, start=1):
            before, dead = _relation_stats(cursor, table)
            statement = (
                sql.SQL("VACUUM ({}) {}").format(sql.SQL(", ").join(options), sql.Identifier(table))
                if options
                else sql.SQL("VACUUM {}").format(sql.Identifier(table))
            )
            table_started = time.perf_counter()
            cursor.execute(statement.as_string(None))
            seconds = time.perf_counter() - table_started
            after, _ = _relation_stats(cursor, table)
            done.append(
                TableVacuum(
                    table=table,
                    seconds=seconds,
                    bytes_before=before,
                    bytes_after=after,
                    dead_tuples_before=dead,
                )
            )
            progress(
                f"[{index}/{len(targets)}] {table}: {seconds:.2f} s, "
                f"{dead if dead is not None else '?'} dead tuples before, "
                f"{before / 2**20:,.1f} → {after / 2**20:,.1f} MiB"
            )
    return VacuumResult(
        tables=done, full=full, analyze=analyze, seconds=time.perf_counter() - started
    )


def _vacuum_sqlite(
    targets: list[str], *, named: bool, analyze: bool, run: RunRecorder
) -> VacuumResult:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")
        run.progress(f"VACUUM of the database file: {time.perf_counter() - started:.2f} s")
        if analyze:
            if named:
                for table in targets:
                    cursor.execute(f"ANALYZE {quote_table(table)}")
            else:
                cursor.execute("ANALYZE")
            run.progress("ANALYZE: planner statistics refreshed")
    seconds = time.perf_counter() - started
    note = (
        "SQLite vacuums the whole database file; the named tables were analyzed."
        if named
        else "SQLite vacuums the whole database file."
    )
    return VacuumResult(
        tables=[TableVacuum(table=t, seconds=seconds / max(len(targets), 1)) for t in targets],
        full=True,
        analyze=analyze,
        seconds=seconds,
        note=note,
    )
