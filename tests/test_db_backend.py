"""The test run's own PostgreSQL backend (tests/db_backend): a flush that deletes."""

from __future__ import annotations

import pytest
from django.core.management.color import no_style
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_the_flush_deletes_rows_and_keeps_what_post_migrate_would_recreate():
    statements = connection.ops.sql_flush(
        no_style(), ["events_event", "django_content_type", "auth_permission"]
    )
    assert statements == ['DELETE FROM "events_event";']


def test_a_flush_that_resets_sequences_is_still_djangos_truncate():
    statements = connection.ops.sql_flush(no_style(), ["events_event"], reset_sequences=True)
    assert statements[0].startswith("TRUNCATE")
