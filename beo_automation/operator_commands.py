"""The base of every operator command: a failure of the database ends in one line that says
what is wrong and what to do, never a traceback (--traceback still shows one).

The database cannot be reached or does not exist → where it is (never the password) and why;
a table is missing → run migrate; anything else it refuses → its first line. On a terminal,
the log shows only warnings and errors there, readably: the command's own lines say the rest
(beo_automation.logs.logging_for_terminal).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, InterfaceError, OperationalError, ProgrammingError

from beo_automation.logs import logging_for_terminal


def database_failure_message(exc: DatabaseError) -> str:
    from maintenance.services.database import unreachable_message

    if isinstance(exc, OperationalError | InterfaceError):
        return unreachable_message(exc)
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, ProgrammingError) and "does not exist" in first and "relation" in first:
        return (
            f"The database is missing this application's tables ({first}): run "
            "`manage.py migrate` first."
        )
    return f"The database refused the operation: {first}"


class OperatorCommand(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> str | None:
        logging_for_terminal(stdout=self.stdout)
        try:
            return super().execute(*args, **options)
        except DatabaseError as exc:
            if options.get("traceback"):
                raise
            raise CommandError(database_failure_message(exc)) from exc
