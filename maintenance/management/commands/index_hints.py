"""Columns that look like missing indexes and tables read by sequential scans."""

from __future__ import annotations

from typing import Any

from maintenance.management.base import MaintenanceCommand
from maintenance.services.index_hints import index_hints_report


class Command(MaintenanceCommand):
    help = (
        "Suggest indexes from PostgreSQL's statistics: unindexed high-cardinality columns "
        "(the guide's pg_stats query) and tables with many sequential scans, each with a "
        "CREATE INDEX CONCURRENTLY statement to review. Creates nothing."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--min-rows",
            type=int,
            default=10_000,
            help="Ignore tables with fewer rows (default %(default)s).",
        )
        parser.add_argument(
            "--min-distinct",
            type=int,
            default=100,
            help="Columns with more distinct values than this (default %(default)s).",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> str | None:
        hints = index_hints_report(
            min_rows=options["min_rows"],
            min_distinct=options["min_distinct"],
            context=self.run_context(options),
        )
        if options["json"]:
            self.print_json([h.as_dict() for h in hints])
            return None
        for hint in hints:
            target = f"{hint.table}.{hint.column}" if hint.column else hint.table
            label = "column" if hint.kind == "column" else "seq scans"
            self.stdout.write(f"[{label}] {target}: {hint.reason}")
            if hint.statement:
                self.stdout.write(f"    {hint.statement}")
        if not hints:
            return "No index hints: no unindexed high-cardinality column or seq-scanned table."
        return (
            f"{len(hints)} hints. Review each statement (and EXPLAIN the queries) before "
            "running it."
        )
