"""Errors an operator can act on. Commands turn them into CommandError with the same message.

The message always says what went wrong and what to do about it; it never carries a
traceback. `exit_code` is the command's exit status (2: a missing prerequisite, as for
`slow_queries` without pg_stat_statements).
"""

from __future__ import annotations


class MaintenanceError(Exception):
    exit_code = 1


class OperationInProgressError(MaintenanceError):
    """Another run of the same operation holds its lock."""


class PostgresRequiredError(MaintenanceError):
    """A PostgreSQL-only report asked of another database."""


class PrerequisiteMissingError(MaintenanceError):
    """Something must be installed or enabled first (pg_stat_statements, pg_dump)."""

    exit_code = 2


class DatabaseUnavailableError(MaintenanceError):
    """The database could not be reached."""


class UnsafeRestoreRoleError(MaintenanceError):
    """The role a restore would run as could execute programs or touch files on the server."""
