"""table_sizes: the guide's size query, extended with rows, index size, dead tuples and bloat."""

from __future__ import annotations

import dataclasses

from django.db import connection

from maintenance.services.database import require_postgres
from maintenance.services.run_records import RunContext, run_recorded

# pg_class.reltuples is -1 until the table is first vacuumed or analyzed (PostgreSQL 14+);
# then the statistics collector's live-tuple count is the better estimate.
SIZES_QUERY = """
SELECT n.nspname,
       c.relname,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE s.n_live_tup END,
       pg_total_relation_size(c.oid),
       pg_indexes_size(c.oid),
       coalesce(s.n_dead_tup, 0),
       coalesce(s.n_live_tup, 0)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%'
ORDER BY pg_total_relation_size(c.oid) DESC, c.relname
"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TableSize:
    schema: str
    table: str
    rows_estimate: int
    total_bytes: int
    index_bytes: int
    dead_tuples: int
    live_tuples: int

    @property
    def bloat_ratio(self) -> float:
        """Dead tuples as a share of all tuples: what VACUUM would reclaim."""
        total = self.live_tuples + self.dead_tuples
        return self.dead_tuples / total if total else 0.0


def table_sizes_report(*, context: RunContext) -> list[TableSize]:
    """Every table of the database with its size, largest first."""
    with run_recorded(operation="table_sizes", arguments={}, context=context) as run:
        require_postgres("table_sizes")
        with connection.cursor() as cursor:
            cursor.execute(SIZES_QUERY)
            rows = [
                TableSize(
                    schema=schema,
                    table=table,
                    rows_estimate=int(rows or 0),
                    total_bytes=int(total),
                    index_bytes=int(index),
                    dead_tuples=int(dead),
                    live_tuples=int(live),
                )
                for schema, table, rows, total, index, dead, live in cursor.fetchall()
            ]
        run.summary = {
            "tables": len(rows),
            "total_bytes": sum(r.total_bytes for r in rows),
            "largest": rows[0].table if rows else None,
        }
        return rows


def human_bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
