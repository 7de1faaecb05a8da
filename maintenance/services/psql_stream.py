"""Streaming a PostgreSQL dump into psql, all or nothing.

The (decompressed) SQL is streamed into `psql --single-transaction -v ON_ERROR_STOP=1`. psql
commits only when its input ends cleanly, so before ending it we check that the stream was
complete: gzip's end-of-stream and CRC, and pg_dump's closing "PostgreSQL database dump
complete" line. Anything less (a truncated or corrupt file, an error in a statement) kills psql
instead, its transaction rolls back, and the database is exactly as it was.

A backup file is untrusted input: psql reads it in restricted mode under a key of this run
(no meta-command of the file runs), as a role that is refused when it is a superuser or can
reach server programs or files (no COPY … TO PROGRAM).
"""

from __future__ import annotations

import gzip
import re
import secrets
import subprocess
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from maintenance.errors import MaintenanceError
from maintenance.services.database import (
    client_program,
    libpq_environment,
    restore_credentials,
    restore_role_check,
)

CHUNK = 1024 * 1024
PROGRESS_EVERY_SECONDS = 2.0
DUMP_COMPLETE = b"-- PostgreSQL database dump complete"
TAIL_BYTES = 4096


def open_plain(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


RESTRICT_LINE = re.compile(rb"\\restrict ([A-Za-z0-9]+)\r?\n")


class MetaCommandGuard:
    """The dump's bytes as psql gets them: first `\\restrict <key>` with a key of this run, so psql
    refuses every meta-command of the file (`\\!`, `\\o |cmd`, `\\copy … program`, `\\gexec`,
    `\\include`…) and the file cannot leave restricted mode, not knowing the key.

    pg_dump (15.14+) writes its own `\\restrict <its key>` in the header and the matching
    `\\unrestrict <its key>` after the completion line. psql would refuse both (a meta-command,
    and the wrong key), so exactly these two lines are dropped: the `\\restrict` only among the
    header's comment lines, the `\\unrestrict` only with that same key. Anything else reaches psql
    unchanged (COPY data included: inside COPY psql reads rows, not commands).
    """

    def __init__(self) -> None:
        self.key = secrets.token_hex(32)
        self._started = False
        self._unrestrict: bytes | None = None
        self._pending = b""

    def prologue(self) -> bytes:
        return b"\\restrict " + self.key.encode() + b"\n"

    def feed(self, chunk: bytes) -> bytes:
        if not self._started:
            self._started = True
            chunk = self._drop_header_restrict(chunk)
        if self._unrestrict is None:
            return chunk
        data = (self._pending + chunk).replace(self._unrestrict, b"\n")
        keep = len(self._unrestrict) - 1
        self._pending = data[-keep:]
        return data[:-keep]

    def finish(self) -> bytes:
        pending, self._pending = self._pending, b""
        return pending

    def _drop_header_restrict(self, chunk: bytes) -> bytes:
        position = 0
        while position < len(chunk):
            end = chunk.find(b"\n", position)
            if end < 0:
                return chunk
            line = chunk[position : end + 1]
            if line.strip() == b"" or line.startswith(b"--"):
                position = end + 1
                continue
            match = RESTRICT_LINE.fullmatch(line)
            if match:
                self._unrestrict = b"\n\\unrestrict " + match[1] + b"\n"
                # The line's newline stays: the header keeps its shape, a line of its own.
                return chunk[:position] + chunk[end:]
            return chunk
        return chunk


def psql_restore(
    path: Path, *, dbname: str, progress: Callable[[str], None] | None = None
) -> float:
    """Stream a .sql(.gz) dump into `dbname` in one transaction; returns seconds taken.

    psql runs as the restore role (restore_role_check refuses one whose SQL could reach
    programs or files on the server) and in restricted mode (MetaCommandGuard: no psql
    meta-command of the file runs). Raises MaintenanceError (the database unchanged) on a
    truncated or corrupt file, on any meta-command, or on the first failing statement.
    """
    psql = client_program("psql")
    command = [psql, "--no-psqlrc", "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1"]
    env = _restore_environment(dbname)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed program and arguments
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, env=env
        )
        assert process.stdin is not None
        broken_pipe = False
        try:
            _feed(process.stdin, path, dbname=dbname, progress=progress, started=started)
            process.stdin.close()
        except BrokenPipeError:
            # psql stopped reading: it hit an error and exited; its stderr says which.
            broken_pipe = True
        except BaseException:
            # Never let psql see a clean end of input: killed, it commits nothing.
            process.kill()
            process.wait()
            raise
        returncode = process.wait()
        if returncode != 0 or broken_pipe:
            stderr.seek(0)
            raise MaintenanceError(_psql_failure(stderr.read().decode(errors="replace"), dbname))
    return time.perf_counter() - started


def _restore_environment(dbname: str) -> dict[str, str]:
    """libpq's environment for psql, as the (checked) restore role."""
    role = restore_role_check(dbname=dbname)
    _user, password = restore_credentials()
    env = libpq_environment(dbname=dbname)
    env["PGUSER"] = role
    if password:
        env["PGPASSWORD"] = password
    else:
        env.pop("PGPASSWORD", None)
    env["PGOPTIONS"] = "-c client_min_messages=warning"
    return env


def _feed(
    stdin: IO[bytes],
    path: Path,
    *,
    dbname: str,
    progress: Callable[[str], None] | None,
    started: float,
) -> None:
    """Write the guarded dump to psql; raise unless the file was read whole and complete."""
    guard = MetaCommandGuard()
    stdin.write(guard.prologue())
    tail = b""
    fed, last_report = 0, time.perf_counter()
    try:
        with open_plain(path) as source:
            while chunk := source.read(CHUNK):
                stdin.write(guard.feed(chunk))
                tail = (tail + chunk)[-TAIL_BYTES:]
                fed += len(chunk)
                now = time.perf_counter()
                if progress is not None and now - last_report >= PROGRESS_EVERY_SECONDS:
                    last_report = now
                    progress(
                        f"Restored {fed / 2**20:,.1f} MiB of SQL into {dbname} "
                        f"({fed / 2**20 / (now - started):,.1f} MiB/s)"
                    )
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise MaintenanceError(
            f"{path.name} is truncated or corrupt ({exc}). Nothing was restored: "
            f"database {dbname!r} is unchanged. Use another backup (`list_backups`)."
        ) from exc
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise MaintenanceError(
            f"Cannot read {path.name}: {exc.strerror or exc}. Nothing was restored: "
            f"database {dbname!r} is unchanged."
        ) from exc
    if DUMP_COMPLETE not in tail:
        raise MaintenanceError(
            f"{path.name} does not end with pg_dump's completion line, so it is "
            f"truncated. Nothing was restored: database {dbname!r} is unchanged. Use "
            "another backup (`list_backups`)."
        )
    stdin.write(guard.finish())


def _psql_failure(stderr: str, dbname: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if "invalid command \\restrict" in stderr:
        return (
            "This psql cannot restrict meta-commands (\\restrict needs psql 15.14, 16.10, 17.6 "
            "or newer): install a current postgresql-client and run the command again. Nothing "
            f"was restored: database {dbname!r} is unchanged."
        )
    if "backslash commands are restricted" in stderr or "\\unrestrict: wrong key" in stderr:
        return (
            "Restore refused and rolled back: the file contains a psql meta-command (a "
            "backslash command such as \\! or \\copy), which restore never runs; a dump made "
            f"by backup_db has none. Database {dbname!r} is unchanged."
        )
    errors = [line for line in lines if "ERROR" in line or "FATAL" in line] or lines
    detail = " ".join(errors[:2]) if errors else "psql exited with an error"
    # A restored line can be anything: keep the message one readable line.
    detail = detail[:500] + ("…" if len(detail) > 500 else "")
    hint = ""
    if "already exists" in stderr:
        hint = (
            " The dump has no DROP statements (it was not made with pg_dump --clean): restore "
            "it into an empty database with --database NEW_NAME --create."
        )
    elif "does not exist" in stderr and "role" in stderr:
        hint = " The dump refers to a role this server lacks: make it with pg_dump --no-owner."
    elif any(s in stderr for s in ("permission denied", "must be owner", "must be superuser")):
        hint = (
            " The restore role lacks a privilege the file needs: it must own the database's "
            "objects, and it never has superuser rights (COPY … PROGRAM, server files)."
        )
    return f"Restore failed and was rolled back: {detail}.{hint} Database {dbname!r} is unchanged."
