"""index_hints: columns that look like missing indexes, and tables read by sequential scans.

Two sources, both statistics PostgreSQL already keeps:
- the guide's pg_stats query: many distinct values (n_distinct > 100) and little physical
  order (|correlation| < 0.1), on a column that no index starts with — a filter on it reads
  the whole table;
- pg_stat_user_tables: tables scanned sequentially more often than through an index, reading
  many rows each time.
Each hint carries a `CREATE INDEX CONCURRENTLY` statement (built with quoted identifiers) that
an operator can review and run; nothing is created here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db import connection
from psycopg import sql

from maintenance.errors import MaintenanceError
from maintenance.services.database import MAX_IDENTIFIER, require_postgres
from maintenance.services.run_records import RunContext, run_recorded

# Columns whose values an ordinary b-tree index does not help to search.
UNINDEXABLE_TYPES = ("json", "jsonb", "bytea", "xml", "tsvector", "boolean")

COLUMN_CANDIDATES = """
SELECT s.schemaname, s.tablename, s.attname,
       CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * c.reltuples ELSE s.n_distinct END,
       s.correlation, c.reltuples::bigint
FROM pg_stats s
JOIN pg_namespace n ON n.nspname = s.schemaname
JOIN pg_class c ON c.relname = s.tablename AND c.relnamespace = n.oid AND c.relkind = 'r'
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname
WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
  AND (CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * c.reltuples ELSE s.n_distinct END)
      > %(min_distinct)s
  AND abs(coalesce(s.correlation, 0)) < 0.1
  AND c.reltuples >= %(min_rows)s
  AND format_type(a.atttypid, NULL) <> ALL(%(unindexable)s)
  AND NOT EXISTS (
      SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum
  )
ORDER BY c.reltuples DESC, s.tablename, s.attname
"""

SEQ_SCANNED_TABLES = """
SELECT schemaname, relname, seq_scan, coalesce(idx_scan, 0), seq_tup_read, n_live_tup
FROM pg_stat_user_tables
WHERE seq_scan > coalesce(idx_scan, 0)
  AND n_live_tup >= %(min_rows)s
  AND seq_tup_read / greatest(seq_scan, 1) >= %(min_rows)s / 2
ORDER BY seq_tup_read DESC
"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class IndexHint:
    kind: str  # "column" (pg_stats) or "seq_scans" (pg_stat_user_tables)
    schema: str
    table: str
    column: str | None
    reason: str
    statement: str | None

    def as_dict(self) -> dict[str, str | None]:
        return dataclasses.asdict(self)


def index_statement(schema: str, table: str, column: str) -> str:
    name = f"{table}_{column}_idx"[:MAX_IDENTIFIER]
    return (
        sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} ({});")
        .format(sql.Identifier(name), sql.Identifier(schema, table), sql.Identifier(column))
        .as_string(None)
    )


def index_hints_report(
    *, min_rows: int = 10_000, min_distinct: int = 100, context: RunContext
) -> list[IndexHint]:
    """Missing-index candidates from the planner's statistics (see the module docstring)."""
    if min_rows < 0 or min_distinct < 0:
        raise MaintenanceError("--min-rows and --min-distinct must be 0 or more")
    arguments = {"min_rows": min_rows, "min_distinct": min_distinct}
    with run_recorded(operation="index_hints", arguments=arguments, context=context) as run:
        require_postgres("index_hints")
        params: dict[str, Any] = {
            "min_rows": min_rows,
            "min_distinct": min_distinct,
            "unindexable": list(UNINDEXABLE_TYPES),
        }
        with connection.cursor() as cursor:
            cursor.execute(COLUMN_CANDIDATES, params)
            columns = cursor.fetchall()
            cursor.execute(SEQ_SCANNED_TABLES, params)
            scanned = cursor.fetchall()
        hints: list[IndexHint] = []
        by_table: dict[tuple[str, str], list[str]] = {}
        for schema, table, column, distinct, correlation, rows in columns:
            by_table.setdefault((schema, table), []).append(column)
            hints.append(
                IndexHint(
                    kind="column",
                    schema=schema,
                    table=table,
                    column=column,
                    reason=(
                        f"~{int(distinct):,} distinct values, correlation "
                        f"{(correlation or 0):.2f}, ~{int(rows):,} rows, no index starts with it"
                    ),
                    statement=index_statement(schema, table, column),
                )
            )
        for schema, table, seq_scans, idx_scans, tuples_read, live in scanned:
            candidates = by_table.get((schema, table), [])
            per_scan = int(tuples_read) // max(int(seq_scans), 1)
            reason = (
                f"{int(seq_scans):,} sequential scans against {int(idx_scans):,} index scans, "
                f"~{per_scan:,} rows read per scan, {int(live):,} live rows"
            )
            if candidates:
                reason += f"; unindexed high-cardinality columns: {', '.join(candidates)}"
            else:
                reason += "; find the filtering columns of its queries with slow_queries or EXPLAIN"
            hints.append(
                IndexHint(
                    kind="seq_scans",
                    schema=schema,
                    table=table,
                    column=candidates[0] if candidates else None,
                    reason=reason,
                    statement=index_statement(schema, table, candidates[0]) if candidates else None,
                )
            )
        run.summary = {
            "column_hints": sum(1 for h in hints if h.kind == "column"),
            "seq_scan_hints": sum(1 for h in hints if h.kind == "seq_scans"),
        }
        return hints
