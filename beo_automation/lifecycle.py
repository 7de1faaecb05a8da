"""Clean shutdown: on SIGTERM every process returns its database connections and exits."""

from __future__ import annotations

import structlog
from django.db import connections

logger = structlog.get_logger(__name__)


def close_database_connections(*, reason: str) -> None:
    """Close this process's connections and, with pooling, the pool itself."""
    logger.info("Closing database connections", reason=reason)
    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
            close_pool = getattr(connection, "close_pool", None)
            if close_pool is not None:
                close_pool()
        except Exception:  # noqa: BLE001 - shutting down: log and keep closing the others
            logger.warning("Could not close database connection", alias=connection.alias)
