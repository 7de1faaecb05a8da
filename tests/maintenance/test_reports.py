"""table_sizes, slow_queries and index_hints against real PostgreSQL statistics."""

from __future__ import annotations

import json
import re
import secrets
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from maintenance.models import MaintenanceRun, Outcome
from tests.maintenance.helpers import current_database_name, make_events, pg

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_table_sizes_lists_tables_largest_first_with_rows_and_bloat(capsys):
    make_events(20)
    with pg() as conn:
        conn.execute("ANALYZE events_event")

    call_command("table_sizes", "--json")

    rows = json.loads(capsys.readouterr().out)
    sizes = [r["total_bytes"] for r in rows]
    assert sizes == sorted(sizes, reverse=True)
    events = next(r for r in rows if r["table"] == "events_event")
    assert events["rows_estimate"] == 20
    assert events["index_bytes"] > 0
    assert events["total_bytes"] > events["index_bytes"]
    assert 0.0 <= events["bloat_ratio"] <= 1.0
    assert {"dead_tuples", "live_tuples", "schema"} <= set(events)


def test_table_sizes_prints_a_table_and_a_total(capsys):
    call_command("table_sizes", "--limit", "3")

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "table",
        "rows",
        "(est.)",
        "total",
        "indexes",
        "dead",
        "tuples",
        "bloat",
    ]
    assert len(lines) == 2 + 3 + 1
    assert lines[-1].startswith("3 tables, ")


def test_dead_tuples_show_up_as_bloat(capsys):
    events = make_events(30)
    from events.models import Event

    Event.objects.filter(id__in=[e.id for e in events[:15]]).delete()
    with pg() as conn:
        conn.execute("ANALYZE events_event")
    deadline = time.monotonic() + 10
    while True:
        call_command("table_sizes", "--json")
        events_row = next(
            r for r in json.loads(capsys.readouterr().out) if r["table"] == "events_event"
        )
        if events_row["dead_tuples"] >= 15 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert events_row["dead_tuples"] >= 15
    assert events_row["bloat_ratio"] >= 0.4


def pg_stat_statements_loaded() -> bool:
    with pg() as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
    assert row is not None
    return "pg_stat_statements" in row[0]


def test_slow_queries_without_pg_stat_statements_exits_2_with_instructions():
    if pg_stat_statements_loaded():
        pytest.skip("this server preloads pg_stat_statements")

    with pytest.raises(CommandError) as excinfo:
        call_command("slow_queries", verbosity=0)

    assert excinfo.value.returncode == 2
    message = str(excinfo.value)
    assert "pg_stat_statements is not loaded by the server" in message
    assert "shared_preload_libraries" in message
    assert "restart PostgreSQL" in message
    database = current_database_name()
    assert f"CREATE EXTENSION IF NOT EXISTS pg_stat_statements; in database '{database}'" in message
    assert MaintenanceRun.objects.get().outcome == Outcome.FAILED


@pytest.mark.parametrize("limit", ["0", "1001"])
def test_slow_queries_limit_out_of_range_is_refused(limit):
    with pytest.raises(CommandError, match="--limit must be between 1 and 1000"):
        call_command("slow_queries", "--limit", limit, verbosity=0)


@pytest.fixture
def probe_table():
    """A 20,000-row table with an unindexed, high-cardinality, unordered column."""
    name = f"maint_probe_{secrets.token_hex(3)}"
    with pg() as conn:
        conn.execute(
            f"CREATE TABLE {name} (id bigint PRIMARY KEY, code text NOT NULL, flag boolean)"
        )
        conn.execute(
            f"INSERT INTO {name} SELECT g, md5(g::text), g % 2 = 0 "  # noqa: S608
            "FROM generate_series(1, 20000) g"
        )
        conn.execute(f"ANALYZE {name}")
    yield name
    with pg() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def test_index_hints_suggest_an_index_for_a_seq_scanned_unindexed_column(probe_table, capsys):
    # Sequential scans from another session; its statistics reach the server when it ends.
    with pg() as conn:
        for _ in range(3):
            conn.execute(f"SELECT count(*) FROM {probe_table} WHERE code = 'x'")  # noqa: S608
    deadline = time.monotonic() + 10
    while True:
        call_command("index_hints", "--json")
        hints = [h for h in json.loads(capsys.readouterr().out) if h["table"] == probe_table]
        if any(h["kind"] == "seq_scans" for h in hints) or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    statement = (
        f'CREATE INDEX CONCURRENTLY "{probe_table}_code_idx" ON "public"."{probe_table}" ("code");'
    )
    column = next(h for h in hints if h["kind"] == "column")
    assert column["column"] == "code"
    assert column["statement"] == statement
    assert "no index starts with it" in column["reason"]
    scans = next(h for h in hints if h["kind"] == "seq_scans")
    seq_scans = re.search(r"^(\d+) sequential scans against 0 index scans", scans["reason"])
    assert seq_scans is not None
    assert int(seq_scans[1]) >= 3
    assert scans["statement"] == statement
    # The primary key is indexed and booleans are not worth a b-tree: neither is suggested.
    assert {h["column"] for h in hints} == {"code"}


def test_index_hints_prints_each_statement(probe_table, capsys):
    call_command("index_hints")

    out = capsys.readouterr().out
    assert f"[column] {probe_table}.code:" in out
    assert f'    CREATE INDEX CONCURRENTLY "{probe_table}_code_idx"' in out
    assert out.rstrip().endswith("before running it.")
