"""What the operations need to know about the configured database, and how to reach it.

The PostgreSQL client programs (pg_dump, psql) get the connection through libpq's
environment variables, never on the command line, so a password is not visible in `ps`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from django.db.utils import OperationalError
from psycopg import sql

from maintenance.errors import (
    DatabaseUnavailableError,
    MaintenanceError,
    PostgresRequiredError,
    PrerequisiteMissingError,
    UnsafeRestoreRoleError,
)

# PostgreSQL truncates identifiers longer than this; scratch names must fit.
MAX_IDENTIFIER = 63

# Tables of the current schema(s), as the app sees them: what a restore must bring back.
VISIBLE_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1
"""


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def is_sqlite() -> bool:
    return connection.vendor == "sqlite"


def require_postgres(what: str) -> None:
    if not is_postgres():
        raise PostgresRequiredError(
            f"{what} needs PostgreSQL; this deployment uses {connection.vendor} "
            "(the embedded default). Set DATABASE_URL=postgres://… to use it."
        )


def database_name() -> str:
    return str(connection.settings_dict["NAME"])


def ensure_reachable() -> None:
    """Fail with an actionable message when the database does not answer."""
    try:
        connection.ensure_connection()
    except OperationalError as exc:
        raise DatabaseUnavailableError(unreachable_message(exc)) from exc


def unreachable_message(exc: BaseException) -> str:
    where = describe_database()
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if is_postgres() and "couldn't get a connection" in first_line:
        # The pool only says it timed out; one direct attempt says why (no such database,
        # refused, authentication failed). libpq's messages never carry the password.
        first_line = _direct_failure() or first_line
    return (
        f"Cannot connect to the database {where}: {first_line}. Check DATABASE_URL and that "
        "the database server is running and accepts connections from this host."
    )


def _direct_failure() -> str | None:
    params = psycopg_params()
    params["connect_timeout"] = 3
    try:
        psycopg.connect(**params).close()
    except psycopg.Error as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        # "connection failed: connection to server at …, port … failed: FATAL: database … does
        # not exist": the last part is the reason.
        reason = lines[0].rsplit("failed: ", 1)[-1] if lines else type(exc).__name__
        return reason.removeprefix("FATAL:").strip()
    return None


def describe_database() -> str:
    """Where the database is, without its password (for messages and records)."""
    s = connection.settings_dict
    if is_sqlite():
        return f"sqlite:{s['NAME']}"
    host = s.get("HOST") or "local socket"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"{s.get('NAME')!r} on {host}{port}"


def psycopg_params(*, dbname: str | None = None) -> dict[str, Any]:
    """Connection parameters for a direct psycopg connection (outside Django's pool)."""
    params = dict(connection.get_connection_params())
    for django_only in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(django_only, None)
    if dbname is not None:
        params["dbname"] = dbname
    return params


@contextlib.contextmanager
def direct_connection(
    *, dbname: str | None = None, application_name: str | None = None
) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit psycopg connection of its own: for locks, snapshots and DDL on other
    databases, which must not borrow (or be returned to) the request pool."""
    params = psycopg_params(dbname=dbname)
    if application_name:
        params["application_name"] = application_name
    try:
        conn = psycopg.connect(**params, autocommit=True)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailableError(unreachable_message(exc)) from exc
    try:
        yield conn
    finally:
        conn.close()


def libpq_environment(*, dbname: str | None = None) -> dict[str, str]:
    """The environment for pg_dump/psql: this process's plus libpq's PG* variables."""
    s = connection.settings_dict
    options: Mapping[str, Any] = s.get("OPTIONS") or {}
    env = dict(os.environ)
    values = {
        "PGHOST": s.get("HOST"),
        "PGPORT": s.get("PORT"),
        "PGUSER": s.get("USER"),
        "PGPASSWORD": s.get("PASSWORD"),
        "PGDATABASE": dbname or s.get("NAME"),
        "PGSERVICE": options.get("service"),
        "PGPASSFILE": options.get("passfile"),
        "PGSSLMODE": options.get("sslmode"),
        "PGSSLROOTCERT": options.get("sslrootcert"),
        "PGSSLCERT": options.get("sslcert"),
        "PGSSLKEY": options.get("sslkey"),
        "PGCONNECT_TIMEOUT": options.get("connect_timeout"),
        "PGAPPNAME": "beo-automation maintenance",
    }
    for key, value in values.items():
        if value not in (None, ""):
            env[key] = str(value)
        else:
            env.pop(key, None)
    return env


def client_program(name: str) -> str:
    """The path of a PostgreSQL client program, or an error saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise PrerequisiteMissingError(
            f"{name} was not found on the PATH. Install the PostgreSQL client programs "
            "matching the server's major version (Debian/Ubuntu: apt-get install "
            "postgresql-client-15) and run the command again."
        )
    return path


def quote_table(name: str) -> str:
    """A table name quoted for this database (identifiers are never formatted in raw)."""
    if is_postgres():
        return sql.Identifier(name).as_string(None)
    return quote_identifier(name)


def table_names() -> list[str]:
    """Tables of the current schema(s), sorted (views excluded)."""
    with connection.cursor() as cursor:
        return sorted(connection.introspection.table_names(cursor, include_views=False))


def django_table_names() -> list[str]:
    """Tables of this project's models that exist in the database."""
    return sorted(connection.introspection.django_table_names(only_existing=True))


def resolve_tables(requested: Sequence[str]) -> list[str]:
    """Check operator-given table names against the database; unknown names are an error."""
    if any(not name.strip() or "\x00" in name for name in requested):
        raise MaintenanceError(
            "A table name is empty or contains a NUL character: name existing tables "
            "(`manage.py table_sizes` lists them)."
        )
    known = table_names()
    unknown = [name for name in requested if name not in known]
    if unknown:
        listing = ", ".join(known) if len(known) <= 40 else ", ".join(known[:40]) + ", …"
        raise MaintenanceError(
            f"Unknown table{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
            f"Tables in {describe_database()}: {listing}. "
            "(`manage.py table_sizes` lists them with their sizes.)"
        )
    # Keep the operator's order, once each.
    return list(dict.fromkeys(requested))


def row_counts(cursor: Any, tables: Sequence[str], *, postgres: bool) -> dict[str, int]:
    """Exact row counts of these tables through `cursor` (a psycopg or sqlite3 cursor)."""
    counts: dict[str, int] = {}
    for table in tables:
        if postgres:
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        else:
            cursor.execute(f"SELECT count(*) FROM {quote_identifier(table)}")  # noqa: S608
        counts[table] = int(cursor.fetchone()[0])
    return counts


def quote_identifier(name: str) -> str:
    """SQLite/standard SQL identifier quoting, for connections outside Django (sqlite3)."""
    return '"' + name.replace('"', '""') + '"'


def scratch_database_name(purpose: str) -> str:
    """`<current database>_<purpose>_<random>`: a parallel run or test never collides."""
    suffix = f"_{purpose}_{secrets.token_hex(4)}"
    return database_name()[: MAX_IDENTIFIER - len(suffix)] + suffix


def database_create(name: str, *, owner: str | None = None) -> None:
    """CREATE DATABASE from template0 (empty: nothing from template1 collides with a dump),
    owned by `owner` when given (the restore role, which then owns what it restores)."""
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
    if owner:
        statement = statement + sql.SQL(" OWNER {}").format(sql.Identifier(owner))
    with direct_connection(application_name="beo-automation maintenance") as conn:
        conn.execute(statement)


def database_drop(name: str) -> None:
    """DROP DATABASE … WITH (FORCE): a scratch database must go even if a client lingers."""
    if name == database_name():
        raise MaintenanceError(f"Refusing to drop the configured database {name!r}")
    with direct_connection(application_name="beo-automation maintenance") as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def database_exists(name: str) -> bool:
    with direct_connection() as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        return row is not None


# --- The restore role ------------------------------------------------------------------------

# Server-side programs and files: what a dump's SQL must never reach (COPY ... PROGRAM,
# COPY ... FROM/TO a server file, pg_read_file).
SERVER_ACCESS_ROLES = ("pg_execute_server_program", "pg_read_server_files", "pg_write_server_files")

# Every role the session user could act as (itself, and roles it may SET ROLE to): a superuser
# or CREATEROLE among them (on PostgreSQL 15 CREATEROLE may grant itself the roles above) makes
# it unsafe, as does membership in SERVER_ACCESS_ROLES.
RESTORE_ROLE_PRIVILEGES = """
SELECT current_user,
       coalesce(array_agg(r.rolname ORDER BY r.rolname) FILTER (WHERE r.rolsuper), '{}'),
       coalesce(array_agg(r.rolname ORDER BY r.rolname) FILTER (WHERE r.rolcreaterole), '{}'),
       coalesce(array_agg(r.rolname ORDER BY r.rolname)
                FILTER (WHERE r.rolname = ANY(%(server_roles)s)), '{}')
FROM pg_roles r
WHERE pg_has_role(current_user, r.oid, 'MEMBER')
"""


def restore_credentials() -> tuple[str, str]:
    """(user, password) psql restores as: RESTORE_DATABASE_USER, or DATABASE_URL's user."""
    s = connection.settings_dict
    user = settings.RESTORE_DATABASE_USER or str(s.get("USER") or "")
    if settings.RESTORE_DATABASE_USER:
        password = settings.RESTORE_DATABASE_PASSWORD
    else:
        password = settings.RESTORE_DATABASE_PASSWORD or str(s.get("PASSWORD") or "")
    return user, password


def restore_role_check(*, dbname: str) -> str:
    """Connect to `dbname` as the restore role and refuse it when its SQL could run programs or
    reach files on the database host; returns the role's name."""
    user, password = restore_credentials()
    params = psycopg_params(dbname=dbname)
    if user:
        params["user"] = user
    params["password"] = password or None
    try:
        conn = psycopg.connect(**params, autocommit=True)
    except psycopg.OperationalError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseUnavailableError(
            f"Cannot connect to {dbname!r} as the restore role {user or '(default)'!r}: {first}. "
            "Check RESTORE_DATABASE_USER / RESTORE_DATABASE_PASSWORD (docs/operations.md)."
        ) from exc
    try:
        row = conn.execute(
            RESTORE_ROLE_PRIVILEGES, {"server_roles": list(SERVER_ACCESS_ROLES)}
        ).fetchone()
    finally:
        conn.close()
    assert row is not None
    role, superusers, createroles, server_roles = row
    reasons = []
    if superusers:
        reasons.append(f"superuser ({', '.join(superusers)})")
    if createroles:
        reasons.append(f"CREATEROLE ({', '.join(createroles)})")
    if server_roles:
        reasons.append(f"member of {', '.join(server_roles)}")
    if reasons:
        raise UnsafeRestoreRoleError(
            f"Refusing to restore as role {role!r}: it is {'; '.join(reasons)}, so SQL in a backup "
            "file could run programs or read and write files on the database host. Set "
            "RESTORE_DATABASE_USER (and RESTORE_DATABASE_PASSWORD) to a role without these "
            "privileges that owns the database (docs/operations.md). Nothing was restored."
        )
    return str(role)
