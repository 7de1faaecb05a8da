"""Fixtures for the maintenance tests: per-test backup/media/off-site directories, scratch
databases named after this run's test database (dropped afterwards), SQLite child processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def backup_dir(settings: Any, tmp_path: Path) -> Path:
    """Every maintenance test writes backups (and reads media) in its own directories."""
    path = tmp_path / "backups"
    settings.BACKUP_DIR = path
    settings.MEDIA_ROOT = tmp_path / "media"
    return path


@pytest.fixture
def media_root(settings: Any) -> Path:
    path = Path(settings.MEDIA_ROOT)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def offsite(settings: Any, tmp_path: Path) -> Path:
    """A real off-site storage: FileSystemStorage configured as STORAGES["backups"]."""
    location = tmp_path / "offsite"
    location.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    return location


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A database name of this run (`<test database>_restore_<random>`), dropped afterwards."""
    from maintenance.services.database import database_drop, scratch_database_name

    name = scratch_database_name("restore")
    yield name
    database_drop(name)


@pytest.fixture(scope="session")
def restore_role_name(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """A login role of this run as production provisions one for restores: no superuser, no
    CREATEROLE, no server-program or server-file roles (docs/operations.md)."""
    from psycopg import sql

    from tests.maintenance.helpers import pg
    from tests.plugin import SCOPE_ID

    name = f"beo_restore_{SCOPE_ID}"
    with django_db_blocker.unblock(), pg("postgres") as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB").format(
                sql.Identifier(name)
            )
        )
    yield name
    with django_db_blocker.unblock(), pg("postgres") as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def restore_role(restore_role_name: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """restore_db and verify_backup (here and in child processes) restore as that role."""
    settings.RESTORE_DATABASE_USER = restore_role_name
    settings.RESTORE_DATABASE_PASSWORD = ""
    monkeypatch.setenv("RESTORE_DATABASE_USER", restore_role_name)
    return restore_role_name
