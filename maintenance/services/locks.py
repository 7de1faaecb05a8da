"""One run per operation at a time: a PostgreSQL advisory lock, or a file lock on SQLite.

Both are released by the operating system or the server when the process dies, so a crashed
run never leaves a lock behind. The advisory lock lives on a connection of its own (not one
from Django's pool, which a long operation may close or hand back) and is scoped to the
current database, so parallel test runs on other databases do not see each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from django.db import connection

from maintenance.services.database import direct_connection, is_postgres

# The first key of the two-key advisory lock: this application's namespace.
LOCK_NAMESPACE = "beo-automation:maintenance"


@contextlib.contextmanager
def operation_lock(operation: str) -> Iterator[bool]:
    """Yields True when this process holds the operation's lock, False when another does."""
    if is_postgres():
        with _advisory_lock(operation) as held:
            yield held
    else:
        with _file_lock(operation) as held:
            yield held


@contextlib.contextmanager
def _advisory_lock(operation: str) -> Iterator[bool]:
    with direct_connection(application_name=f"beo-automation lock {operation}"[:63]) as conn:
        held = _try_lock(conn, operation)
        try:
            yield held
        finally:
            if held and not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(
                        "SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))",
                        [LOCK_NAMESPACE, operation],
                    )


def _try_lock(conn: psycopg.Connection[Any], operation: str) -> bool:
    row = conn.execute(
        "SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))", [LOCK_NAMESPACE, operation]
    ).fetchone()
    return bool(row and row[0])


def lock_path(operation: str, *, database: str | None = None) -> Path:
    """The lock file for an operation on a SQLite database file (default: the configured one)."""
    database = str(Path(database or str(connection.settings_dict["NAME"])).resolve())
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"beo-maintenance-{digest}-{operation}.lock"


@contextlib.contextmanager
def _file_lock(operation: str) -> Iterator[bool]:
    path = lock_path(operation)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
