"""Archival bench: the project's batched archival against the operations guide's single
transaction, on identical copies of one database, in the same run.

    .venv/bin/python bench/archive.py [--events 1000000] [--eligible 0.6] [--rounds 5]
                                      [--batch-size 5000] [--insert-rate 100]

On this machine's PostgreSQL (DATABASE_URL's server, or 127.0.0.1:5432), with databases of its
own (bench_archive_*, dropped at the end whatever happens):

1. migrates a template database and fills it with --events events, --eligible of them
   completed and older than 90 days (interleaved with failed ones, ids growing with time);
2. per round, in an order rotated each round (bench/common.py), copies the template
   (CREATE DATABASE … TEMPLATE) for each side and archives:
   - guide: the operations guide's SQL — BEGIN; INSERT INTO archive SELECT … ; DELETE … ;
     COMMIT — on one copy;
   - project: maintenance.services.archive.events_archive (what `manage.py archive_events`
     and the scheduled task run) on the other, in this process;
   while a second connection inserts new events at --insert-rate per second (latency of each
   recorded) and a monitor samples pg_stat_activity every 20 ms for the age of the archiving
   session's open transaction (its row locks live exactly that long);
3. checks both copies end with exactly the eligible rows moved and every insert present;
4. writes bench/results/archive-<time>.json; prints each side's median and min-max rows/s and
   the per-round ratios project/guide.

Targets (issue 5): project rows/s >= 0.5 times the guide's (median ratio); no lock held longer
than 1 s; p99 of the concurrent inserts during the project's run < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    add_rounds_argument,
    compare,
    interleave,
    machine_load,
    print_comparison,
    write_result,
)
from bench.maintenance_data import (
    ROOT,
    create_database,
    drop_database,
    fill_events,
    migrate,
    new_name,
    percentile,
    server_url,
    setup_django,
)

TARGET_RATIO = 0.5
TARGET_LOCK_SECONDS = 1.0
TARGET_INSERT_P99_MS = 100.0
PROJECT_APP = "beo-automation"  # the Django connections' application_name


@dataclass
class SideResult:
    side: str
    moved: int
    seconds: float
    insert_latencies_ms: list[float] = field(default_factory=list)
    longest_transaction_s: float = 0.0
    slowest_batch_s: float | None = None
    batches: int | None = None

    @property
    def rows_per_second(self) -> float:
        return self.moved / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "moved": self.moved,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second),
            "batches": self.batches,
            "slowest_batch_s": None
            if self.slowest_batch_s is None
            else round(self.slowest_batch_s, 3),
            "longest_transaction_s": round(self.longest_transaction_s, 3),
            "inserts": len(self.insert_latencies_ms),
            "insert_p50_ms": round(percentile(self.insert_latencies_ms, 0.5), 2),
            "insert_p99_ms": round(percentile(self.insert_latencies_ms, 0.99), 2),
            "insert_max_ms": round(max(self.insert_latencies_ms, default=0.0), 2),
        }


class Inserter(threading.Thread):
    """New events at a steady rate on a connection of its own, each one timed."""

    def __init__(self, dbname: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.dbname, self.interval = dbname, 1.0 / rate
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        with psycopg.connect(
            server_url(self.dbname), autocommit=True, application_name="bench-inserter"
        ) as conn:
            owner = conn.execute("SELECT min(id) FROM auth_user").fetchone()[0]  # type: ignore[index]
            next_at = time.perf_counter()
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    conn.execute(
                        "INSERT INTO events_event (type, payload, priority, status, created_at, "
                        "updated_at, available_at, attempts, max_attempts, last_error, "
                        "request_hash, request_id, owner_id) VALUES ('beo.created', "
                        "'{\"live\": true}', 1, 'pending', now(), now(), now(), 0, 5, '', '', "
                        "'', %s)",
                        [owner],
                    )
                    self.latencies.append((time.perf_counter() - started) * 1000)
                except psycopg.Error as exc:
                    self.errors.append(str(exc))
                next_at += self.interval
                time.sleep(max(0.0, next_at - time.perf_counter()))


class TransactionMonitor(threading.Thread):
    """The age of the archiving session's open transaction, sampled every 20 ms."""

    def __init__(self, dbname: str, application_name: str) -> None:
        super().__init__(daemon=True)
        self.dbname, self.application_name = dbname, application_name
        self.stop = threading.Event()
        self.longest = 0.0

    def run(self) -> None:
        with psycopg.connect(
            server_url(self.dbname), autocommit=True, application_name="bench-monitor"
        ) as conn:
            while not self.stop.is_set():
                row = conn.execute(
                    "SELECT max(extract(epoch FROM clock_timestamp() - xact_start)) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = %s AND xact_start IS NOT NULL",
                    [self.application_name],
                ).fetchone()
                if row and row[0] is not None:
                    self.longest = max(self.longest, float(row[0]))
                time.sleep(0.02)


def run_guide(dbname: str, insert_rate: float) -> SideResult:
    """The operations guide's archival: one transaction, copy then delete."""
    from maintenance.services.archive import archive_columns

    columns = ", ".join(archive_columns())
    inserter = Inserter(dbname, insert_rate)
    monitor = TransactionMonitor(dbname, "bench-guide")
    with psycopg.connect(server_url(dbname), application_name="bench-guide") as conn:
        inserter.start()
        monitor.start()
        time.sleep(0.5)
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(
                f"INSERT INTO events_eventarchive ({columns}, archived_at) "  # noqa: S608
                f"SELECT {columns}, now() FROM events_event "
                "WHERE status = 'completed' AND created_at < now() - interval '90 days'"
            )
            moved = conn.execute(
                "DELETE FROM events_event "
                "WHERE status = 'completed' AND created_at < now() - interval '90 days'"
            ).rowcount
        seconds = time.perf_counter() - started
        time.sleep(0.5)
    for thread in (inserter, monitor):
        thread.stop.set()
        thread.join()
    if inserter.errors:
        raise SystemExit(f"guide: inserts failed: {inserter.errors[:3]}")
    return SideResult(
        side="guide",
        moved=moved,
        seconds=seconds,
        insert_latencies_ms=inserter.latencies,
        longest_transaction_s=monitor.longest,
    )


def run_project(dbname: str, insert_rate: float, batch_size: int) -> SideResult:
    """The project's archival service, exactly as the command and the task call it."""
    from django.db import connection

    from maintenance.models import Trigger
    from maintenance.services.archive import events_archive
    from maintenance.services.run_records import RunContext

    connection.settings_dict["NAME"] = dbname
    inserter = Inserter(dbname, insert_rate)
    monitor = TransactionMonitor(dbname, PROJECT_APP)
    inserter.start()
    monitor.start()
    time.sleep(0.5)
    try:
        result = events_archive(
            days=90,
            batch_size=batch_size,
            context=RunContext(trigger=Trigger.COMMAND, triggered_by="bench/archive.py"),
        )
        time.sleep(0.5)
    finally:
        for thread in (inserter, monitor):
            thread.stop.set()
            thread.join()
        connection.close()
        connection.close_pool()
    if inserter.errors:
        raise SystemExit(f"project: inserts failed: {inserter.errors[:3]}")
    return SideResult(
        side="project",
        moved=result.moved,
        seconds=result.seconds,
        insert_latencies_ms=inserter.latencies,
        longest_transaction_s=monitor.longest,
        slowest_batch_s=result.slowest_batch_seconds,
        batches=result.batches,
    )


def check(dbname: str, *, total: int, eligible: int, inserted: int, side: str) -> None:
    with psycopg.connect(server_url(dbname)) as conn:
        live = conn.execute("SELECT count(*) FROM events_event").fetchone()[0]  # type: ignore[index]
        archived = conn.execute("SELECT count(*) FROM events_eventarchive").fetchone()[0]  # type: ignore[index]
        overlap = conn.execute(
            "SELECT count(*) FROM events_event e JOIN events_eventarchive a USING (id)"
        ).fetchone()[0]  # type: ignore[index]
    expected = (total - eligible + inserted, eligible, 0)
    if (live, archived, overlap) != expected:
        raise SystemExit(
            f"{side}: events/archive/overlap = {(live, archived, overlap)}, expected {expected}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--eligible", type=float, default=0.6)
    add_rounds_argument(parser)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--insert-rate", type=float, default=100.0, help="inserts per second")
    options = parser.parse_args()

    template, guide_db = new_name("archive_tpl"), new_name("archive_guide")
    project_db = new_name("archive_project")
    started = time.monotonic()
    rounds: list[dict[str, dict[str, Any]]] = []
    try:
        print(f"Preparing {template} ({options.events:,} events)…", flush=True)
        create_database(template)
        migrate(template)
        eligible = fill_events(template, total=options.events, eligible_share=options.eligible)
        setup_django(project_db)

        def side(name: str, side: str) -> dict[str, Any]:
            drop_database(name)
            create_database(name, template=template)
            with psycopg.connect(server_url(name), autocommit=True) as conn:
                conn.execute("CHECKPOINT")
            print(f"{side} archival on {name}…", flush=True)
            if side == "guide":
                result = run_guide(name, options.insert_rate)
            else:
                result = run_project(name, options.insert_rate, options.batch_size)
            check(
                name,
                total=options.events,
                eligible=eligible,
                inserted=len(result.insert_latencies_ms),
                side=side,
            )
            drop_database(name)
            print(f"  {json.dumps(result.as_dict())}", flush=True)
            return result.as_dict()

        rounds = interleave(
            {
                "guide": lambda: side(guide_db, "guide"),
                "project": lambda: side(project_db, "project"),
            },
            rounds=options.rounds,
        )
    finally:
        for name in (guide_db, project_db, template):
            drop_database(name)

    comparison = compare(rounds, metric="rows_per_second", ratios=[("project", "guide")])
    ratio = comparison["ratios"]["project/guide"]["median"]
    longest_lock = max(
        max(r["project"]["longest_transaction_s"], r["project"]["slowest_batch_s"] or 0)
        for r in rounds
    )
    p99 = max(r["project"]["insert_p99_ms"] for r in rounds)
    summary = {
        "bench": "archive",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine_load(), "python": platform.python_version()},
        "events": options.events,
        "eligible": eligible,
        "batch_size": options.batch_size,
        "insert_rate": options.insert_rate,
        "rounds": rounds,
        "comparison": comparison,
        "ratio_rows_per_second": round(ratio, 3),
        "project_longest_lock_s": round(longest_lock, 3),
        "project_insert_p99_ms": p99,
        "guide_longest_lock_s": round(max(r["guide"]["longest_transaction_s"] for r in rounds), 3),
        "targets": {
            "ratio_min": TARGET_RATIO,
            "lock_max_s": TARGET_LOCK_SECONDS,
            "insert_p99_max_ms": TARGET_INSERT_P99_MS,
        },
        "met": {
            "ratio": ratio >= TARGET_RATIO,
            "lock": longest_lock <= TARGET_LOCK_SECONDS,
            "insert_p99": p99 < TARGET_INSERT_P99_MS,
        },
        "duration_s": round(time.monotonic() - started, 1),
    }
    path = write_result("archive", summary)

    print(f"\nResults: {path.relative_to(ROOT)}")
    for number, r in enumerate(rounds, start=1):
        g, p = r["guide"], r["project"]
        print(
            f"round {number}: guide {g['rows_per_second']:,} rows/s (one transaction, "
            f"{g['longest_transaction_s']:.2f} s of locks, insert p99 {g['insert_p99_ms']} ms) | "
            f"project {p['rows_per_second']:,} rows/s ({p['batches']} batches, slowest "
            f"{p['slowest_batch_s']:.3f} s, insert p99 {p['insert_p99_ms']} ms)"
        )
    print_comparison(
        comparison,
        unit="rows/s",
        labels={"guide": "guide (one transaction)", "project": "project (batched)"},
    )
    print(
        f"ratio project/guide rows/s: {ratio:.2f} (target >= {TARGET_RATIO}) — "
        f"longest project lock: {longest_lock:.3f} s (target ≤ {TARGET_LOCK_SECONDS} s) — "
        f"concurrent insert p99: {p99:.1f} ms (target < {TARGET_INSERT_P99_MS:.0f} ms)"
    )
    return 0 if all(summary["met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
