"""slow_queries on a server that loads pg_stat_statements.

The shared test server has the extension available but not preloaded (changing that needs a
restart of a server other runs use), so this test starts a private PostgreSQL 15 cluster of its
own — initdb into a temporary directory, on a free port, with
shared_preload_libraries=pg_stat_statements — and stops and removes it afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.subprocess_env import free_port, manage

pytestmark = pytest.mark.postgres

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*args: str) -> list[str]:
    # initdb and postgres refuse to run as root: run them as the postgres system user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return list(args)


@pytest.fixture(scope="module")
def server_with_pg_stat_statements() -> Iterator[str]:
    if not (PG_BIN / "initdb").exists() or (os.geteuid() == 0 and not shutil.which("runuser")):
        pytest.skip("needs PostgreSQL 15 server binaries (initdb) to start a private cluster")
    directory = Path(tempfile.mkdtemp(prefix="beo-pgss-"))
    data = directory / "data"
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 "
        "-c shared_preload_libraries=pg_stat_statements -c fsync=off"
    )
    subprocess.run(
        _as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(directory / "log"),
            "start",
        ),
        check=True,
        capture_output=True,
    )
    try:
        url = f"postgres://postgres@127.0.0.1:{port}/beo"
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE beo")
        yield url
    finally:
        subprocess.run(
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(directory, ignore_errors=True)


def test_slow_queries_lists_the_slowest_statements_once_enabled(server_with_pg_stat_statements):
    url = server_with_pg_stat_statements
    assert manage("migrate", "-v", "0", DATABASE_URL=url, timeout=300).returncode == 0
    missing_extension = manage("slow_queries", DATABASE_URL=url)
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("SELECT pg_sleep(0.2)")
        for _ in range(3):
            conn.execute("SELECT count(*) FROM events_event WHERE type = 'x'")

    listed = manage("slow_queries", "--limit", "5", "--json", DATABASE_URL=url)
    table = manage("slow_queries", "--order-by", "calls", DATABASE_URL=url)

    assert missing_extension.returncode == 2
    assert "the pg_stat_statements extension is not installed in 'beo'" in missing_extension.stderr
    assert "shared_preload_libraries" not in missing_extension.stderr  # already loaded
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) <= 5
    assert rows[0]["query"] == "SELECT pg_sleep($1)"
    assert rows[0]["mean_ms"] >= 200
    assert {"calls", "total_ms", "mean_ms", "max_ms", "rows"} <= set(rows[0])
    assert table.returncode == 0, table.stderr
    assert "statements, slowest calls first." in table.stdout
