"""Real Celery worker subprocesses on this run's test database, queue and Redis keys."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import psycopg
import redis
from django.conf import settings

from tests.subprocess_env import BIN, ROOT, child_env


def test_database_url() -> str:
    """This run's test database (valid inside a transactional_db test)."""
    db = settings.DATABASES["default"]
    user = quote(db["USER"] or "postgres")
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@dataclasses.dataclass
class WorkerProcess:
    proc: subprocess.Popen[str]
    log_path: Path

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9 the worker and its pool processes (its own process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self) -> None:
        """What a process manager does: SIGTERM to the worker's main process."""
        self.proc.send_signal(signal.SIGTERM)


def procfile_command(name: str) -> str:
    """The command of one process type of the Procfile."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        process, _, command = line.partition(":")
        if process.strip() == name:
            return command.strip()
    raise AssertionError(f"no {name!r} process in the Procfile")


@contextlib.contextmanager
def worker_process(
    env: Mapping[str, str] | None = None, *, concurrency: int = 2, procfile: str | None = None
) -> Iterator[WorkerProcess]:
    """A `celery worker` (prefork) as production runs it, plus the test handlers; with
    `procfile`, that Procfile line's own command (through the shell, as honcho runs it)."""
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in finally
        prefix="beo-worker-", suffix=".log", delete=False
    )
    test_options = [
        "-n",
        f"test-{uuid.uuid4().hex[:8]}@%h",
        # Start in a second, not three: no waiting for replies from other workers.
        "--without-mingle",
        "--without-gossip",
        "--include",
        "tests.events.worker_handlers",
    ]
    if procfile is not None:
        args = ["sh", "-c", f"exec {procfile_command(procfile)} {' '.join(test_options)}"]
    else:
        args = [
            str(BIN / "celery"),
            "-A",
            "beo_automation",
            "worker",
            "--loglevel=INFO",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            *test_options,
        ]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        # Procfile commands name their programs: those of this virtualenv.
        env=child_env(
            DATABASE_URL=test_database_url(),
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **(env or {}),
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    worker = WorkerProcess(proc=proc, log_path=Path(log.name))
    try:
        wait_for(
            lambda: " ready." in worker.output,
            timeout=60,
            what="the worker to start",
            worker=worker,
        )
        yield worker
    finally:
        if proc.poll() is None:
            worker.kill()
        log.close()
        Path(log.name).unlink(missing_ok=True)


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    worker: WorkerProcess | None = None,
    every: float = 0.1,
    tick: Callable[[], object] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if worker is not None and worker.proc.poll() is not None:
            raise AssertionError(f"the worker exited while waiting for {what}:\n{worker.output}")
        if time.monotonic() > deadline:
            tail = worker.output[-4000:] if worker is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tail}")
        if tick is not None:
            tick()
        time.sleep(every)


def flush_run_keys() -> int:
    """Delete every Redis key of this test run (broker and cache), and nobody else's."""
    celery_prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    cache_prefix = settings.CACHE_KEY_PREFIX
    if not celery_prefix or not cache_prefix:
        raise AssertionError("refusing to flush without this run's key prefixes")
    deleted = 0
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        for pattern in (f"{celery_prefix}*", f"{cache_prefix}:*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                deleted += int(client.delete(*keys))
    return deleted


def database_connections(application_name: str) -> int:
    """Connections to PostgreSQL opened under this application_name (any database)."""
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        ).fetchone()
    return int(row[0]) if row else 0
