"""Tables with rows, total and index size, dead tuples and bloat ratio, largest first."""

from __future__ import annotations

import dataclasses
from typing import Any

from beo_automation.command_arguments import bounded_int
from maintenance.management.base import MaintenanceCommand
from maintenance.services.sizes import human_bytes, table_sizes_report


class Command(MaintenanceCommand):
    help = "Table sizes (PostgreSQL): rows (estimate), total size, index size, dead tuples, bloat."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--limit",
            type=bounded_int(0, 1_000_000),
            default=0,
            help="Show only the N largest (0: all).",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> str | None:
        rows = table_sizes_report(context=self.run_context(options))
        total = sum(r.total_bytes for r in rows)
        if options["limit"] > 0:
            rows = rows[: options["limit"]]
        if options["json"]:
            self.print_json(
                [{**dataclasses.asdict(r), "bloat_ratio": round(r.bloat_ratio, 4)} for r in rows]
            )
            return None
        name_width = max([len("table"), *(len(r.table) for r in rows)])
        header = (
            f"{'table':<{name_width}}  {'rows (est.)':>12}  {'total':>10}  {'indexes':>10}  "
            f"{'dead tuples':>11}  {'bloat':>6}"
        )
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for r in rows:
            self.stdout.write(
                f"{r.table:<{name_width}}  {r.rows_estimate:>12,}  {human_bytes(r.total_bytes):>10}"
                f"  {human_bytes(r.index_bytes):>10}  {r.dead_tuples:>11,}  "
                f"{r.bloat_ratio:>6.1%}"
            )
        return f"{len(rows)} tables, {human_bytes(total)} in total."
