"""The slowest statements from pg_stat_statements (exit code 2 when it is not enabled)."""

from __future__ import annotations

import dataclasses
from typing import Any

from maintenance.management.base import MaintenanceCommand
from maintenance.services.slow_queries import ORDERINGS, slow_queries_report

QUERY_WIDTH = 100


class Command(MaintenanceCommand):
    help = (
        "The slowest queries of this database from pg_stat_statements: calls, total, mean and "
        "max time. Exits 2, saying how to enable it, when the extension is missing."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--limit", type=int, default=10, help="How many (default 10).")
        parser.add_argument(
            "--order-by",
            choices=sorted(ORDERINGS),
            default="mean",
            help="Sort by mean (default), total or max time, or calls.",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> str | None:
        rows = slow_queries_report(
            limit=options["limit"],
            order_by=options["order_by"],
            context=self.run_context(options),
        )
        if options["json"]:
            self.print_json([dataclasses.asdict(r) for r in rows])
            return None
        header = f"{'calls':>10}  {'total ms':>12}  {'mean ms':>10}  {'max ms':>10}  query"
        self.stdout.write(header)
        self.stdout.write("-" * (len(header) + QUERY_WIDTH - 5))
        for r in rows:
            query = r.query if len(r.query) <= QUERY_WIDTH else r.query[: QUERY_WIDTH - 1] + "…"
            self.stdout.write(
                f"{r.calls:>10,}  {r.total_ms:>12,.1f}  {r.mean_ms:>10,.2f}  {r.max_ms:>10,.2f}  "
                f"{query}"
            )
        return f"{len(rows)} statements, slowest {options['order_by']} first."
