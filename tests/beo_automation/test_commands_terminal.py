"""Operator commands on a terminal: the command's own progress lines, not the same lines again
as JSON on stderr. Run in a child process whose stdout and stderr are real pseudo-terminals."""

from __future__ import annotations

import os
import select
import subprocess

import pytest

from tests.maintenance.helpers import database_url
from tests.subprocess_env import PYTHON, ROOT, child_env

pytestmark = pytest.mark.django_db(transaction=True)

PROGRESS = "completed events created before"


def run_on(stdout_tty: bool, stderr_tty: bool, *args: str) -> tuple[int, str, str]:
    """Run manage.py with stdout/stderr on a pty (True) or a pipe; return (code, out, err)."""
    ends: list[tuple[int, int]] = []
    for tty in (stdout_tty, stderr_tty):
        ends.append(os.openpty() if tty else os.pipe())
    proc = subprocess.Popen(
        [PYTHON, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=child_env(DATABASE_URL=database_url(), LOG_DIR="", LOG_FORMAT="json", TERM="dumb"),
        stdin=subprocess.DEVNULL,
        stdout=ends[0][1],
        stderr=ends[1][1],
    )
    for _, writer in ends:
        os.close(writer)
    readers = {reader: b"" for reader, _ in ends}
    open_readers = set(readers)
    while open_readers:
        ready, _, _ = select.select(list(open_readers), [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError("the command wrote nothing for 60 s")
        for reader in ready:
            try:
                chunk = os.read(reader, 65536)
            except OSError:  # a pty's reader reports EIO once the child closed it
                chunk = b""
            if chunk:
                readers[reader] += chunk
            else:
                open_readers.discard(reader)
                os.close(reader)
    code = proc.wait(timeout=60)
    out, err = (readers[reader].decode(errors="replace") for reader, _ in ends)
    return code, out, err


def test_on_a_terminal_progress_is_printed_once_without_json():
    code, out, err = run_on(True, True, "archive_events", "--days", "30")

    assert code == 0, err
    assert PROGRESS in out
    assert PROGRESS not in err
    assert '{"timestamp"' not in err


def test_in_a_pipe_the_log_keeps_its_json_lines():
    # cron, systemd, CI: the log collector wants every line, as JSON.
    code, out, err = run_on(False, False, "archive_events", "--days", "30")

    assert code == 0, err
    assert PROGRESS in out
    assert '{"timestamp"' in err
    assert PROGRESS in err
