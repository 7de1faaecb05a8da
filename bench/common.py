"""What the benches share: a scratch PostgreSQL database and Redis namespace that are removed
whatever happens, child-process environments, manage.py, gunicorn as the Procfile runs it, and
the one way every bench compares its sides: `interleave` (at least MIN_ROUNDS rounds, the order
rotated each round), then `compare` and `print_comparison` (median and min-max per side, the
ratio of every round).

Each bench uses DATABASE_URL / REDIS_URL (or the local defaults) only to reach the servers; its
data lives in a database and under a key prefix of its own.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg import sql

from bench.loadgen import fetch

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def write_result(name: str, data: Any) -> Path:
    """bench/results/<name>-<UTC time>.json (git-ignored): the run's figures, for comparison."""
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def free_port(*, exclude: Iterable[int] = ()) -> int:
    """A free port: any (the kernel's choice), or one of BENCH_PORTS ("26000-26999") when a
    shared machine gives each user a range of its own; never one of `exclude` (chosen but not
    bound yet)."""
    low, _, high = os.environ.get("BENCH_PORTS", "0-0").partition("-")
    candidates = range(int(low), int(high or low) + 1) if int(low) else [0]
    excluded = set(exclude)
    for port in candidates:
        if port in excluded:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            found = int(sock.getsockname()[1])
        if found in excluded:  # the kernel's choice, when candidates is [0]
            return free_port(exclude=excluded)
        return found
    sys.exit(f"no free port in BENCH_PORTS={os.environ['BENCH_PORTS']}")


def admin_url() -> str:
    """The PostgreSQL server to create scratch databases on (libpq form)."""
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(f"DATABASE_URL must point at PostgreSQL for this bench, not {url.split(':')[0]}")
    return url.replace("postgres://", "postgresql://", 1)


@contextlib.contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """Create database `name`; yield its DATABASE_URL; drop it (connections and all) at the end."""
    url = admin_url()
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.rpartition("/")[0].replace("postgresql://", "postgres://", 1) + "/" + name
    finally:
        if "django" in sys.modules:  # a bench that ran Django in-process holds connections
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        log(f"dropped database {name}")


@contextlib.contextmanager
def scratch_redis(prefix: str, *, db: str = "14") -> Iterator[str]:
    """Yield a REDIS_URL on Redis db BENCH_REDIS_DB (default `db`); delete `prefix*` at the end."""
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    url = base.rsplit("/", 1)[0] + "/" + os.environ.get("BENCH_REDIS_DB", db)
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    client.ping()
    try:
        yield url
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        removed = sum(
            int(client.delete(*keys[start : start + 1000])) for start in range(0, len(keys), 1000)
        )
        client.close()
        log(f"removed {removed} Redis keys under {prefix}")


def child_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    """This environment without test-runner and Django-selection variables, plus `base`/`extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(base)
    env.update(extra)
    return env


def python(env: dict[str, str], *args: str, what: str) -> str:
    """Run this Python with `args` in a child process; its stdout. Exit the bench, naming
    `what` and showing the output, if it fails."""
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{what} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def manage(env: dict[str, str], *args: str) -> str:
    """Run manage.py in a child process; exit the bench with its output if it fails."""
    return python(env, str(ROOT / "manage.py"), *args, what=f"manage.py {' '.join(args)}")


_STATIC_ROOT: list[str] = []


def collected_static(env: dict[str, str]) -> str:
    """collectstatic once per bench process (the web process refuses to start without it)."""
    if not _STATIC_ROOT:
        root = tempfile.mkdtemp(prefix="bench-static-")
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        manage({**env, "STATIC_ROOT": root}, "collectstatic", "--no-input", "-v", "0")
        _STATIC_ROOT.append(root)
    return _STATIC_ROOT[0]


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str], label: str, *, ready_path: str = "/api/health/live/"
) -> Iterator[int]:
    """The Procfile's web process (2 sync workers) on a free port; yields the port once
    `ready_path` answers (any status below 500). Static files are collected first, into a
    directory of this bench run's own, as a deployment's release step would."""
    with _gunicorn(env, label, port=free_port(), ready_path=ready_path) as port:
        yield port


@contextlib.contextmanager
def gunicorn_with_probe_lane(env: dict[str, str], label: str) -> Iterator[tuple[int, int]]:
    """`gunicorn`, also listening on the probe lane (HEALTH_PORT, docs/deployment.md); yields
    (API port, probe lane port)."""
    port = free_port()
    health_port = free_port(exclude=[port])
    with _gunicorn(env, label, port=port, health_port=health_port) as port:
        yield port, health_port


@contextlib.contextmanager
def _gunicorn(
    env: dict[str, str],
    label: str,
    *,
    port: int,
    ready_path: str = "/api/health/live/",
    health_port: int | None = None,
) -> Iterator[int]:
    env = {**env, "STATIC_ROOT": env.get("STATIC_ROOT") or collected_static(env)}
    lane: list[str] = []
    if health_port is not None:
        env["HEALTH_PORT"] = str(health_port)
        lane = ["--bind", f"{HOST}:{health_port}"]
    output = tempfile.NamedTemporaryFile(prefix=f"bench-{label}-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "beo_automation.wsgi",
            "-c",
            "python:beo_automation.gunicorn_conf",
            "--bind",
            f"{HOST}:{port}",
            *lane,
            "--workers",
            "2",
            "--no-control-socket",  # never the per-user default another instance may hold
        ],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = fetch(
                    method="GET", host=HOST, port=port, path=ready_path, body=b"", headers={}
                )
                if status < 500:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"gunicorn ({label}) did not start:\n{Path(output.name).read_text()}")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        output.close()
        Path(output.name).unlink(missing_ok=True)


# --- Interleaved rounds: the one rule every bench follows -------------------------------------

MIN_ROUNDS = 5


def add_rounds_argument(parser: Any) -> None:
    """--rounds, default MIN_ROUNDS: fewer are a smoke run, and the output says so."""
    parser.add_argument(
        "--rounds",
        type=int,
        default=MIN_ROUNDS,
        help=f"interleaved rounds, order rotated each round (>= {MIN_ROUNDS} for a result)",
    )


def rotated(names: list[str], round_no: int) -> list[str]:
    """The order of round `round_no` (0-based): AB, BA, AB… for two sides, ABC, BCA, CAB…"""
    shift = round_no % len(names)
    return names[shift:] + names[:shift]


def interleave(
    sides: dict[str, Callable[[], dict[str, Any]]], *, rounds: int, quiet: bool = False
) -> list[dict[str, dict[str, Any]]]:
    """Run every side once per round, the order rotated each round so drift (cache warmth,
    the other tenants of the machine) hits every side alike. One record per side and round."""
    names = list(sides)
    results: list[dict[str, dict[str, Any]]] = []
    for round_no in range(rounds):
        order = rotated(names, round_no)
        if not quiet:
            log(f"round {round_no + 1} of {rounds}: {' → '.join(order)}")
        results.append({name: sides[name]() for name in order})
    return results


def spread(values: list[float]) -> dict[str, Any]:
    """Median and min-max of one side's per-round figures."""
    return {
        "median": round(statistics.median(values), 4) if values else None,
        "min": round(min(values), 4) if values else None,
        "max": round(max(values), 4) if values else None,
        "rounds": len(values),
        "values": [round(v, 4) for v in values],
    }


def compare(
    results: list[dict[str, dict[str, Any]]],
    *,
    metric: str,
    ratios: list[tuple[str, str]],
    sides: list[str] | None = None,
) -> dict[str, Any]:
    """Per side (`sides`, or all): median and min-max of `metric`; per (numerator,
    denominator): the ratio of each round (both measured in that round), its median and
    min-max."""
    names = sides if sides is not None else (list(results[0]) if results else [])
    out: dict[str, Any] = {
        "metric": metric,
        "sides": {n: spread([float(r[n][metric]) for r in results]) for n in names},
        "ratios": {},
    }
    for num, den in ratios:
        per_round = [
            float(r[num][metric]) / float(r[den][metric]) for r in results if r[den][metric]
        ]
        out["ratios"][f"{num}/{den}"] = spread(per_round)
    return out


def print_comparison(
    comparison: dict[str, Any], *, unit: str, labels: dict[str, str] | None = None
) -> None:
    """The table every bench ends with: each side's median and min-max, the per-round ratios."""
    labels = labels or {}
    width = max([len(labels.get(n, n)) for n in comparison["sides"]] + [10])
    print(f"\n{comparison['metric']} ({unit}), median [min - max] over the rounds:")
    for name, s in comparison["sides"].items():
        print(
            f"  {labels.get(name, name):<{width}} {s['median']:>12,.2f}   "
            f"[{s['min']:,.2f} - {s['max']:,.2f}]  n={s['rounds']}"
        )
    for key, s in comparison["ratios"].items():
        num, den = key.split("/")
        rounds = ", ".join(f"{v:.2f}" for v in s["values"])
        print(
            f"  ratio {labels.get(num, num)} / {labels.get(den, den)}: median {s['median']:.2f} "
            f"[{s['min']:.2f} - {s['max']:.2f}]; per round: {rounds}"
        )
    if any(s["rounds"] < MIN_ROUNDS for s in comparison["sides"].values()):
        print(f"  (fewer than {MIN_ROUNDS} rounds: a smoke run, not a result)")


def machine_load() -> dict[str, Any]:
    """What else the machine was doing: load averages and CPU count, for the result file."""
    one, five, fifteen = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg": [round(one, 2), round(five, 2), round(fifteen, 2)]}
