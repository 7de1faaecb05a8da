"""The shared shape of the maintenance commands: a RunContext for the service, progress lines
on stdout, and every failure turned into a CommandError with an actionable message (exit code
1, or 2 for a missing prerequisite) instead of a traceback."""

from __future__ import annotations

import json
from typing import Any

import structlog
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from beo_automation.logs import logging_for_terminal
from beo_automation.operator_commands import database_failure_message
from maintenance.errors import MaintenanceError
from maintenance.services.run_records import RunContext, command_context

logger = structlog.get_logger("maintenance")


class MaintenanceCommand(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> str | None:
        logging_for_terminal(stdout=self.stdout)
        try:
            return super().execute(*args, **options)
        except CommandError:
            raise
        except MaintenanceError as exc:
            raise CommandError(str(exc), returncode=exc.exit_code) from exc
        except DatabaseError as exc:
            raise CommandError(database_failure_message(exc)) from exc
        except KeyboardInterrupt as exc:
            raise CommandError("Interrupted.", returncode=130) from exc
        except Exception as exc:
            if options.get("traceback"):
                raise
            logger.exception("Maintenance command failed", command=self.__module__)
            raise CommandError(
                f"Unexpected error: {type(exc).__name__}: {exc}. The log has the details; "
                "rerun with --traceback to see them here."
            ) from exc

    def run_context(self, options: dict[str, Any]) -> RunContext:
        """Progress lines on stdout at the default verbosity (not with -v 0 or --json)."""
        quiet = options.get("verbosity", 1) < 1 or options.get("json")
        return command_context(progress=None if quiet else self._progress)

    def _progress(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def print_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=str))
