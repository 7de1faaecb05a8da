"""Backup bench: the project's backup against the operations guide's `pg_dump | gzip` and
against `pg_dump | gzip -1`, on the same database, in the same run; the verification time
beside it.

    .venv/bin/python bench/backup.py [--events 1000000] [--rounds 5]

On this machine's PostgreSQL (DATABASE_URL's server, or 127.0.0.1:5432), with a database and a
directory of its own (bench_backup_*, removed at the end whatever happens):

1. migrates a database and fills it with --events events (plus an archive table's worth of
   rows from a real archival, so both big tables hold data);
2. one untimed `pg_dump > /dev/null` so both sides start with the same warm cache;
3. per round, three sides in an order rotated each round (bench/common.py):
   - guide: `pg_dump $DB | gzip > beo_automation_<stamp>.sql.gz` (the guide's backup.sh line,
     bash with pipefail; gzip's default level 6);
   - gzip1: the same line with `gzip -1`: the guide at the project's compression level, so
     the ratio project/gzip1 shows what the project's code buys beyond the gzip level;
   - project: maintenance.services.backup.database_backup (what `manage.py backup_db` and the
     scheduled task run: dump, gzip level BACKUP_COMPRESSION_LEVEL, SHA-256, row counts in the
     dump's snapshot, manifest), without upload;
4. verify_backup on the project's last file (restore into a scratch database, compare counts);
5. writes bench/results/backup-<time>.json; prints each side's median and min-max seconds and
   the per-round ratios project/guide and project/gzip1.

Target (issue 5): project backup time <= 0.8 times the guide's (median ratio).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
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
    server_url,
    setup_django,
)

TARGET_RATIO = 0.8


def libpq_env(dbname: str) -> dict[str, str]:
    info = psycopg.conninfo.conninfo_to_dict(server_url(dbname))
    env = dict(os.environ)
    for key, var in (
        ("host", "PGHOST"),
        ("port", "PGPORT"),
        ("user", "PGUSER"),
        ("password", "PGPASSWORD"),
    ):
        if info.get(key):
            env[var] = str(info[key])
    env["PGDATABASE"] = dbname
    return env


def run_guide(dbname: str, directory: Path, *, gzip: str = "gzip") -> dict[str, Any]:
    target = directory / f"guide_{time.time_ns()}.sql.gz"
    started = time.perf_counter()
    subprocess.run(
        ["bash", "-c", f'set -o pipefail; pg_dump "$PGDATABASE" | {gzip} > "{target}"'],
        env=libpq_env(dbname),
        check=True,
    )
    seconds = time.perf_counter() - started
    size = target.stat().st_size
    target.unlink()
    return {"seconds": round(seconds, 3), "bytes": size}


def run_project(directory: Path) -> tuple[dict[str, Any], Path]:
    from maintenance.models import Trigger
    from maintenance.services.backup import database_backup
    from maintenance.services.run_records import RunContext

    context = RunContext(trigger=Trigger.COMMAND, triggered_by="bench/backup.py")
    started = time.perf_counter()
    result = database_backup(output_dir=directory, upload=False, context=context)
    seconds = time.perf_counter() - started
    return (
        {
            "seconds": round(seconds, 3),
            "dump_seconds": round(result.database.seconds, 3),
            "bytes": result.database.size,
            "rows": sum(result.database.row_counts.values()),
        },
        result.database.path,
    )


@contextlib.contextmanager
def restore_role() -> Iterator[None]:
    """verify_backup restores as a role without superuser (docs/operations.md): a throwaway
    one for this run, as production provisions it."""
    from django.conf import settings
    from django.db import connection
    from psycopg import sql

    name = f"bench_restore_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB")
            .format(sql.Identifier(name))
            .as_string(cursor.connection)
        )
    settings.RESTORE_DATABASE_USER, settings.RESTORE_DATABASE_PASSWORD = name, ""
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP ROLE IF EXISTS {}")
                .format(sql.Identifier(name))
                .as_string(cursor.connection)
            )


def run_verify(path: Path) -> dict[str, Any]:
    from maintenance.models import Trigger
    from maintenance.services.run_records import RunContext
    from maintenance.services.verify import backup_verify

    context = RunContext(trigger=Trigger.COMMAND, triggered_by="bench/backup.py")
    with restore_role():
        started = time.perf_counter()
        result = backup_verify(file=str(path), context=context)
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "restore_seconds": round(result.restore_seconds, 3),
        "tables": result.tables,
        "rows": result.rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    add_rounds_argument(parser)
    options = parser.parse_args()

    dbname = new_name("backup")
    directory = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    started = time.monotonic()
    rounds: list[dict[str, dict[str, Any]]] = []
    try:
        print(f"Preparing {dbname} ({options.events:,} events)…", flush=True)
        create_database(dbname)
        migrate(dbname)
        fill_events(dbname, total=options.events, eligible_share=0.6)
        setup_django(dbname)
        from maintenance.models import Trigger
        from maintenance.services.archive import events_archive
        from maintenance.services.run_records import RunContext

        # Half of the data in each big table, as a database that archives daily has it.
        events_archive(
            days=90,
            batch_size=20_000,
            context=RunContext(trigger=Trigger.COMMAND, triggered_by="bench/backup.py"),
        )
        with psycopg.connect(server_url(dbname), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        print(f"  database: {size / 2**20:,.0f} MiB", flush=True)
        subprocess.run(
            ["bash", "-c", 'pg_dump "$PGDATABASE" > /dev/null'], env=libpq_env(dbname), check=True
        )
        backups: list[Path] = []

        def project() -> dict[str, Any]:
            result, path = run_project(directory)
            if backups:
                backups.pop().unlink(missing_ok=True)
            backups.append(path)
            return result

        rounds = interleave(
            {
                "guide": lambda: run_guide(dbname, directory),
                "gzip1": lambda: run_guide(dbname, directory, gzip="gzip -1"),
                "project": project,
            },
            rounds=options.rounds,
        )
        for number, r in enumerate(rounds, start=1):
            print(f"  round {number}: {json.dumps(r)}", flush=True)
        last_backup = backups[-1] if backups else None
        assert last_backup is not None
        print("Verifying the project's last backup…", flush=True)
        verify = run_verify(last_backup)
        print(f"  {json.dumps(verify)}", flush=True)
    finally:
        try:
            from django.db import connection

            connection.close()
            connection.close_pool()
        except Exception:  # noqa: BLE001, S110 - Django may not be set up yet
            pass
        drop_database(dbname)
        shutil.rmtree(directory, ignore_errors=True)

    comparison = compare(
        rounds, metric="seconds", ratios=[("project", "guide"), ("project", "gzip1")]
    )
    ratio = comparison["ratios"]["project/guide"]["median"]
    summary = {
        "bench": "backup",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine_load(), "python": platform.python_version()},
        "events": options.events,
        "database_bytes": size,
        "rounds": rounds,
        "comparison": comparison,
        "verify": verify,
        "ratio_backup_seconds": ratio,
        "target_ratio_max": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO,
        "duration_s": round(time.monotonic() - started, 1),
    }
    path = write_result("backup", summary)

    print(f"\nResults: {path.relative_to(ROOT)}")
    labels = {
        "guide": "guide pg_dump | gzip",
        "gzip1": "pg_dump | gzip -1",
        "project": "project backup_db",
    }
    print_comparison(comparison, unit="seconds, lower is better", labels=labels)
    sizes = {side: rounds[-1][side]["bytes"] / 2**20 for side in labels}
    print("  sizes (MiB): " + ", ".join(f"{labels[k]} {v:,.1f}" for k, v in sizes.items()))
    print(
        f"verify_backup: {verify['seconds']:.2f} s (restore {verify['restore_seconds']:.2f} s, "
        f"{verify['rows']:,} rows compared)"
    )
    print(f"ratio project/guide backup time: {ratio:.2f} (target <= {TARGET_RATIO})")
    return 0 if summary["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
