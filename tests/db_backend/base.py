"""The test run's PostgreSQL backend: Django's, with a flush that deletes instead of truncating.

A transactional test ends with a flush of every table. On PostgreSQL that is one TRUNCATE,
which gives each table and index new files (slow: docs/testing.md has the figures); DELETE on
the few rows a test leaves is cheap. Django's foreign keys are deferred, so one DELETE per table
in the flush's transaction empties them in any order; sequences are not reset either way.
Content types and permissions stay (post_migrate would recreate the same rows). tests/conftest.py
selects this backend for the run; children the tests start (gunicorn, celery) keep Django's.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base, operations

# What a flush would empty and post_migrate then fill again with the same rows.
FLUSH_KEEPS = frozenset({"django_content_type", "auth_permission"})


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(
        self,
        style: Any,
        tables: Any,
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if reset_sequences or allow_cascade:
            return super().sql_flush(
                style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        # Table names from Django's introspection, quoted.
        return [f"DELETE FROM {self.quote_name(t)};" for t in tables if t not in FLUSH_KEEPS]  # noqa: S608


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
