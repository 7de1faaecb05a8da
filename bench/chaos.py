"""The fault run: events submitted through crashes, restarts and outages; none may be lost.

    .venv/bin/python bench/chaos.py                  # 20,000 events, every fault (make chaos)
    .venv/bin/python bench/chaos.py --small          # 300 events, one worker kill, one Redis
                                                     # restart (CI)

What it does, on this machine's PostgreSQL (DATABASE_URL, or the local default) and a Redis of
its own:

1. creates a scratch database (dropped at the end) and starts its own throwaway redis-server
   (`--save "" --appendonly no`: a restart loses everything, as a crashed cache would), never
   touching the shared one;
2. starts the Procfile's processes as real processes, each in its own process group: web
   (gunicorn, `--no-control-socket`), the worker twice (two Celery workers), beat, and any
   other entry the Procfile gains (PROCESS_COUNTS says how many of each; `release` is run
   once as the migration step);
3. records every webhook delivery in a receiver of its own (one subscription, `chaos.*`);
4. submits --events events at mixed priorities from --clients threads at about --rate per
   second, each with its own Idempotency-Key, retrying connection errors, 5xx and 429 with
   the same key until the event is accepted (201, or 200 for a replay);
5. meanwhile injects the faults of the schedule at fixed points of the submission: worker
   SIGKILLs (the whole process group; the worker is started again, as a supervisor would),
   a Redis restart that loses its data, a graceful (SIGTERM) and an abrupt (SIGKILL) web
   restart, and `pg_terminate_backend` on every connection to the scratch database;
6. waits until every accepted event is completed (or the deadline), then prints accepted,
   stored, completed, lost, concurrently double-processed (two deliveries of one claim: the
   same attempt number, or overlapping in time) and sequential duplicates (a redelivery after
   a reclaim: allowed, at-least-once), each fault's recovery time and the worst.

Recovery time of a fault: from the fault until the last event that was created by then (up to
FAULT_WINDOW seconds after it) and not yet completed at the fault was completed. The bound it
is held to is events.recovery.recovery_bound_seconds() for the run's settings.

Exit status: 0 when nothing was lost, nothing was processed twice at once and the worst
recovery was within the bound; 1 otherwise; 2 when the hard deadline (--deadline, 30 minutes)
stopped the run. Everything it started is stopped whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import BIN, HOST, child_env, log, manage, scratch_database  # noqa: E402

# How many of each Procfile process run; entries not named here run once, `release` never
# (it is the migration step).
PROCESS_COUNTS = {"worker": 2, "release": 0}
# Settings of the run: recovery waits scaled down from production's (the bound follows them).
CHAOS_SETTINGS = {
    "EVENT_PROCESSING_TIMEOUT": "30",
    "EVENT_REQUEUE_AFTER": "30",
    "JWT_ACCESS_TOKEN_LIFETIME": "3600",
    "RATELIMIT_ENABLE": "false",
    # The receiver is on 127.0.0.1: allow private webhook targets for this run.
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOK_TIMEOUT": "5",
}
PRIORITIES = ["low", "normal", "normal", "high", "urgent"]
FAULT_WINDOW = 5.0
# --- Processes ----------------------------------------------------------------------------------


def procfile_entries(path: Path = ROOT / "Procfile") -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not line.lstrip().startswith("#"):
            entries[name.strip()] = command.strip()
    return entries


def expand(command: str, env: dict[str, str]) -> list[str]:
    """`${VAR:-default}` and `$VAR` as the shell would, then split like it."""

    def value(match: re.Match[str]) -> str:
        return env.get(match.group(1) or match.group(3), match.group(2) or "")

    return shlex.split(re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", value, command))


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a kill takes its children
            )

    def signal_group(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal_group(signal.SIGKILL)
        if self.proc:
            self.proc.wait()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        if not self.proc or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout)
        self.signal_group(signal.SIGKILL)
        self.proc.wait()


def build_processes(env: dict[str, str], run_dir: Path, web_port: int) -> dict[str, Process]:
    processes: dict[str, Process] = {}
    for name, command in procfile_entries().items():
        for index in range(1, PROCESS_COUNTS.get(name, 1) + 1):
            label = name if PROCESS_COUNTS.get(name, 1) == 1 else f"{name}{index}"
            argv = expand(command, env)
            if argv[0] in {"celery", "gunicorn", "python"}:
                argv[0] = str(BIN / argv[0])
            if Path(argv[0]).name == "gunicorn":
                argv += ["--bind", f"{HOST}:{web_port}", "--no-control-socket"]
            if Path(argv[0]).name == "celery" and "worker" in argv:
                argv += ["-n", f"chaos-{label}@%h"]
            processes[label] = Process(label, argv, env, run_dir / f"{label}.log")
    return processes


@dataclass
class RedisServer:
    port: int
    run_dir: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.run_dir / "redis.log").open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    HOST,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.run_dir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        client = redis.Redis(host=HOST, port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"redis-server did not start:\n{(self.run_dir / 'redis.log').read_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# --- Webhook receiver ---------------------------------------------------------------------------


@dataclass
class Deliveries:
    lock: threading.Lock = field(default_factory=threading.Lock)
    # event id → [(attempt, started, finished)]
    by_event: dict[int, list[tuple[int, float, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    in_flight: Counter[int] = field(default_factory=Counter)
    overlapping: set[int] = field(default_factory=set)


def receiver(deliveries: Deliveries, port: int, hold: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            started = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            data = json.loads(body)["data"]
            event_id, attempt = int(data["id"]), int(data["attempt"])
            with deliveries.lock:
                if deliveries.in_flight[event_id]:
                    deliveries.overlapping.add(event_id)
                deliveries.in_flight[event_id] += 1
            time.sleep(hold)  # a receiver's work: lets two concurrent deliveries overlap
            with deliveries.lock:
                deliveries.in_flight[event_id] -= 1
                deliveries.by_event[event_id].append((attempt, started, time.time()))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- Client -------------------------------------------------------------------------------------


@dataclass
class Client:
    base: str
    token: str
    run_id: str
    rate: float
    deadline: float
    accepted: dict[int, int] = field(default_factory=dict)  # seq → event id
    retries: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_slot: float = field(default_factory=time.monotonic)

    def _pace(self) -> None:
        with self.lock:
            slot = max(self.next_slot, time.monotonic())
            self.next_slot = slot + 1.0 / self.rate
        time.sleep(max(0.0, slot - time.monotonic()))

    def submit(self, seq: int) -> None:
        self._pace()
        body = {
            "type": "chaos.event",
            "payload": {"seq": seq, "run": self.run_id},
            "priority": PRIORITIES[seq % len(PRIORITIES)],
        }
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Idempotency-Key": f"chaos-{self.run_id}-{seq}",
        }
        session = _session()
        delay = 0.2
        while time.monotonic() < self.deadline:
            try:
                response = session.post(
                    f"{self.base}/api/events/", json=body, headers=headers, timeout=30
                )
            except requests.RequestException as exc:
                self.retries[type(exc).__name__] += 1
                _local.session = None
                session = _session()
            else:
                if response.status_code in {200, 201}:
                    with self.lock:
                        self.accepted[seq] = int(response.json()["id"])
                    return
                self.retries[f"HTTP {response.status_code}"] += 1
                if response.status_code < 500 and response.status_code != 429:
                    log(f"event {seq} refused: {response.status_code} {response.text[:200]}")
                    return
            time.sleep(delay + random.random() * delay)
            delay = min(delay * 2, 2.0)


_local = threading.local()


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


# --- Faults -------------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    at_fraction: float
    action: Callable[[], None]
    started: float = 0.0
    recovery: float | None = None


def terminate_backends(database_url: str, database: str) -> int:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchall()
    return len(rows)


def wait_for_web(base: str, proc: Process, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{base}/api/health/live/", timeout=2).status_code == 200:
                return
        if proc.proc and proc.proc.poll() is not None:
            sys.exit(f"{proc.name} exited:\n{proc.log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    sys.exit(f"{proc.name} did not answer in time")


# --- The run ------------------------------------------------------------------------------------


class DeadlineError(Exception):
    pass


def main() -> int:  # noqa: PLR0912
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--small", action="store_true", help="300 events, 1 kill, 1 Redis restart")
    parser.add_argument("--rate", type=float, default=120.0, help="events submitted per second")
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--deadline", type=float, default=1800.0, help="hard stop, seconds")
    parser.add_argument("--hold", type=float, default=0.005, help="receiver's time per delivery")
    parser.add_argument("--bound", type=float, default=None, help="override the stated bound")
    parser.add_argument("--port-base", type=int, default=18620, help="web, redis, receiver")
    args = parser.parse_args()
    if args.small:
        args.events = min(args.events, 300)
        args.rate = min(args.rate, 20.0)
        # Slower deliveries keep both workers busy with claimed events, so that the one kill
        # strands some (a kill between batches would prove nothing).
        args.hold = max(args.hold, 0.1)

    started = time.monotonic()
    hard_deadline = started + args.deadline

    def on_alarm(signum: int, frame: Any) -> None:
        raise DeadlineError

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(args.deadline))

    run_id = uuid.uuid4().hex[:8]
    run_dir = Path(tempfile.mkdtemp(prefix=f"beo-chaos-{run_id}-"))
    web_port, redis_port, hook_port = args.port_base, args.port_base + 1, args.port_base + 2
    database = f"beo_chaos_{run_id}"
    base = f"http://{HOST}:{web_port}"
    redis_server = RedisServer(redis_port, run_dir)
    processes: dict[str, Process] = {}
    deliveries = Deliveries()
    hook_server: ThreadingHTTPServer | None = None
    result = 2
    log(f"chaos run {run_id}: {args.events:,} events at ~{args.rate:g}/s; logs in {run_dir}")
    try:
        with scratch_database(database) as database_url:
            libpq_url = database_url.replace("postgres://", "postgresql://", 1)
            redis_server.start()
            env = child_env(
                {},
                **CHAOS_SETTINGS,
                DATABASE_URL=database_url,
                REDIS_URL=f"redis://{HOST}:{redis_port}/0",
                SECRET_KEY=secrets.token_urlsafe(48),
                DEBUG="false",
                ENVIRONMENT="chaos",
                SECURE_SSL_REDIRECT="false",
                LOG_DIR=str(run_dir / "logs"),
                LOG_LEVEL="info",
                ENV_FILE=os.devnull,
                CELERY_BEAT_SCHEDULE_FILENAME=str(run_dir / "celerybeat-schedule"),
                STATIC_ROOT=str(run_dir / "static"),
                PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            )
            settings = json.loads(
                manage(
                    env,
                    "shell",
                    "-c",
                    "import json; from django.conf import settings as s; "
                    "from events.recovery import recovery_bound_seconds as b; print(json.dumps({"
                    "**{k: float(getattr(s, k)) for k in ('EVENT_PROCESSING_TIMEOUT', "
                    "'EVENT_REQUEUE_AFTER')}, 'bound': b()}))",
                )
                .strip()
                .splitlines()[-1]
            )
            # The bound the README states, computed by the product for this run's settings.
            bound = args.bound if args.bound is not None else settings.pop("bound")
            log(f"recovery bound {bound:g} s for {settings}")
            manage(env, "migrate", "--no-input", "-v", "0")
            # The web process refuses to start without the static files' manifest.
            manage(env, "collectstatic", "--no-input", "-v", "0")
            password = secrets.token_urlsafe(16)
            manage(
                env,
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model; "
                "from events.models import Subscription; "
                f"get_user_model().objects.create_user('chaos', password={password!r}); "
                "Subscription.objects.create(name='chaos', type_pattern='chaos.*', "
                f"target_url='http://{HOST}:{hook_port}/hook')",
            )
            try:
                hook_server = receiver(deliveries, hook_port, args.hold)
                processes = build_processes(env, run_dir, web_port)
                log(
                    "processes: "
                    + ", ".join(f"{p.name}={' '.join(p.argv)}" for p in processes.values())
                )
                for process in processes.values():
                    process.start()
                web = processes["web"]
                wait_for_web(base, web, time.monotonic() + 60)
                token = requests.post(
                    f"{base}/api/auth/token/",
                    json={"username": "chaos", "password": password},
                    timeout=10,
                ).json()["access"]
                workers = [p for p in processes.values() if p.name.startswith("worker")]

                def kill_worker(index: int) -> Callable[[], None]:
                    def run() -> None:
                        worker = workers[index % len(workers)]
                        worker.kill()
                        time.sleep(1)
                        worker.start()

                    return run

                def restart_redis() -> None:
                    redis_server.kill()
                    time.sleep(1)
                    redis_server.start()

                def restart_web(graceful: bool) -> Callable[[], None]:
                    def run() -> None:
                        if graceful:
                            web.stop()
                        else:
                            web.kill()
                        web.start()
                        wait_for_web(base, web, time.monotonic() + 60)

                    return run

                def terminate() -> None:
                    log(f"  terminated {terminate_backends(libpq_url, database)} backends")

                if args.small:
                    faults = [
                        Fault("worker SIGKILL", 0.3, kill_worker(0)),
                        Fault("Redis restart (data lost)", 0.6, restart_redis),
                    ]
                else:
                    faults = [
                        Fault("worker SIGKILL 1", 0.10, kill_worker(0)),
                        Fault("Redis restart (data lost)", 0.22, restart_redis),
                        Fault("database backends terminated 1", 0.34, terminate),
                        Fault("worker SIGKILL 2", 0.46, kill_worker(1)),
                        Fault("web graceful restart (SIGTERM)", 0.58, restart_web(True)),
                        Fault("web abrupt restart (SIGKILL)", 0.68, restart_web(False)),
                        Fault("worker SIGKILL 3", 0.78, kill_worker(0)),
                        Fault("database backends terminated 2", 0.88, terminate),
                    ]
                client = Client(base, token, run_id, args.rate, hard_deadline)
                seqs = iter(range(args.events))
                seq_lock = threading.Lock()

                def client_loop() -> None:
                    while True:
                        with seq_lock:
                            seq = next(seqs, None)
                        if seq is None:
                            return
                        client.submit(seq)

                threads = [
                    threading.Thread(target=client_loop, daemon=True) for _ in range(args.clients)
                ]
                for thread in threads:
                    thread.start()
                pending_faults = list(faults)
                last_report = time.monotonic()
                while any(t.is_alive() for t in threads):
                    done = len(client.accepted)
                    if pending_faults and done >= pending_faults[0].at_fraction * args.events:
                        fault = pending_faults.pop(0)
                        log(f"FAULT {fault.name} after {done:,} accepted events")
                        fault.started = time.time()
                        fault.action()
                    if time.monotonic() - last_report > 10:
                        log(f"  {done:,} accepted")
                        last_report = time.monotonic()
                    time.sleep(0.05)
                for fault in pending_faults:  # a schedule point the client never reached
                    log(f"FAULT {fault.name} (late)")
                    fault.started = time.time()
                    fault.action()
                log(f"all {len(client.accepted):,} accepted; waiting for them to complete")
                accepted_ids = set(client.accepted.values())
                while time.monotonic() < hard_deadline:
                    with psycopg.connect(libpq_url, connect_timeout=5) as conn:
                        (unfinished,) = conn.execute(
                            "SELECT count(*) FROM events_event WHERE id = ANY(%s) "
                            "AND status <> 'completed'",
                            [list(accepted_ids)],
                        ).fetchone() or (0,)
                    if not unfinished:
                        break
                    if time.monotonic() - last_report > 10:
                        log(f"  {unfinished:,} not completed yet")
                        last_report = time.monotonic()
                    time.sleep(1)
                time.sleep(1)  # the last deliveries' bookkeeping
                result = report(
                    args=args,
                    client=client,
                    deliveries=deliveries,
                    faults=faults,
                    libpq_url=libpq_url,
                    bound=bound,
                    elapsed=time.monotonic() - started,
                )
            finally:
                for process in processes.values():
                    process.stop(timeout=10)
    except DeadlineError:
        log(f"HARD DEADLINE: {args.deadline:g} s passed; stopping everything")
        result = 2
    finally:
        signal.alarm(0)
        for process in processes.values():  # already stopped unless start-up failed
            process.stop(timeout=10)
        redis_server.kill()
        if hook_server:
            hook_server.shutdown()
        log(f"stopped; logs in {run_dir}")
    return result


def report(
    *,
    args: argparse.Namespace,
    client: Client,
    deliveries: Deliveries,
    faults: list[Fault],
    libpq_url: str,
    bound: float,
    elapsed: float,
) -> int:
    with psycopg.connect(libpq_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT id, status, (payload->>'seq')::int, extract(epoch FROM created_at), "
            "extract(epoch FROM completed_at) FROM events_event WHERE type = 'chaos.event'"
        ).fetchall()
    by_seq: dict[int, list[int]] = defaultdict(list)
    status: dict[int, str] = {}
    created: dict[int, float] = {}
    completed_at: dict[int, float | None] = {}
    for event_id, event_status, seq, created_epoch, completed_epoch in rows:
        by_seq[seq].append(event_id)
        status[event_id] = event_status
        created[event_id] = float(created_epoch)
        completed_at[event_id] = float(completed_epoch) if completed_epoch is not None else None
    accepted = len(client.accepted)
    stored = len(by_seq)
    stored_twice = sum(1 for ids in by_seq.values() if len(ids) > 1)
    completed = sum(1 for s in status.values() if s == "completed")
    lost = [
        seq
        for seq, event_id in client.accepted.items()
        if status.get(event_id) != "completed" or event_id not in deliveries.by_event
    ]
    concurrent: set[int] = set(deliveries.overlapping)
    sequential = 0
    for event_id, seen in deliveries.by_event.items():
        attempts = Counter(attempt for attempt, _, _ in seen)
        if any(n > 1 for n in attempts.values()):
            concurrent.add(event_id)
        sequential += max(0, len(attempts) - 1)
    for fault in faults:
        affected = [
            done
            for e in status
            if created[e] <= fault.started + FAULT_WINDOW
            and ((done := completed_at[e]) is None or done > fault.started)
        ]
        if any(c is None for c in affected):
            fault.recovery = float("inf")
        else:
            fault.recovery = max(
                (c - fault.started for c in affected if c is not None), default=0.0
            )
    worst = max((f.recovery or 0.0 for f in faults), default=0.0)

    print()
    print(f"Chaos summary ({'small' if args.small else 'full'} run, {elapsed:.0f} s)")
    print(f"  accepted                     {accepted:>8,} of {args.events:,} submitted")
    print(
        f"  stored                       {stored:>8,} (seqs stored more than once: {stored_twice})"
    )
    print(f"  completed                    {completed:>8,}")
    print(f"  lost                         {len(lost):>8,}")
    print(f"  concurrently double-processed{len(concurrent):>8,}")
    print(f"  sequential duplicates        {sequential:>8,} (redeliveries after a reclaim)")
    print(
        f"  client retries               {sum(client.retries.values()):>8,} {dict(client.retries)}"
    )
    for fault in faults:
        print(f"  recovery {fault.name:<32} {fault.recovery:>7.1f} s")
    print(f"  worst recovery               {worst:>8.1f} s (bound {bound:g} s)")
    if lost:
        print(f"  lost seqs (first 20): {sorted(lost)[:20]}")
    failed = bool(lost) or bool(concurrent) or stored_twice > 0 or worst > bound
    failed = failed or accepted < args.events
    print("FAILED" if failed else "PASSED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
