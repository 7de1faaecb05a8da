"""What the API's own one-call Redis counter buys over django-ratelimit's public API.

Two limiters count one hit per API request for one client, against the same Redis:

- own script (what the API uses, beo_automation.ratelimit.rate_limit_usage): a fixed-window
  counter, INCR then EXPIRE in one Lua script (`register_script`) on django-redis's client:
  one round trip;
- django-ratelimit: `django_ratelimit.core.get_usage(..., increment=True)` on the same cache,
  as its documentation has it: an `add` (SET NX) and, once the window's counter exists,
  django-redis's atomic `incr` (a Lua EXISTS+INCRBY): two round trips.

Two measurements, each in rounds interleaved with the order rotated, printing per round each
side's rate and the ratio own / django-ratelimit, then median and min–max per side:

- `calls` (default): the limiter call alone, in this process;
- `create`: `POST /api/events/` through Django's whole stack in this process (test client:
  middleware, JWT, the insert into a scratch PostgreSQL database, the doorbell), with each
  side's limiter swapped in; no HTTP server in front.

Run: `REDIS_URL=redis://127.0.0.1:6379/<db> .venv/bin/python -m bench.ratelimit [calls|create]`
(options: --rounds 7 --n 3000; `create` also needs PostgreSQL at DATABASE_URL).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from bench.common import child_env, manage, scratch_database

DJANGO_RATELIMIT = "django-ratelimit"
OWN = "own script"


def django_ratelimit_limiter() -> Callable[..., Any]:
    """rate_limit_usage's contract, counted by django-ratelimit's public get_usage."""
    from django_ratelimit.core import get_usage

    from beo_automation.ratelimit import RateLimitUsage, request_client_ip

    def usage(request: Any, *, group: str, rate: str) -> RateLimitUsage:
        found = get_usage(
            request,
            group=group,
            key=lambda g, r: request_client_ip(r),
            rate=rate,
            increment=True,
        )
        return RateLimitUsage(
            count=found["count"], limit=found["limit"], seconds_left=found["time_left"]
        )

    return usage


def rounds(sides: dict[str, Callable[[], object]], *, n: int, count: int, unit: str) -> None:
    for fn in sides.values():  # warm up: connections, script load, caches
        for _ in range(min(200, n)):
            fn()
    names = list(sides)
    rates: dict[str, list[float]] = {name: [] for name in names}
    ratios: list[float] = []
    for round_no in range(count):
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        this: dict[str, float] = {}
        for name in order:
            fn = sides[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            this[name] = n / (time.perf_counter() - start)
            rates[name].append(this[name])
        ratios.append(this[OWN] / this[DJANGO_RATELIMIT])
        print(
            f"round {round_no + 1} ({' then '.join(order)}): "
            + ", ".join(f"{name} {this[name]:,.0f} {unit}/s" for name in names)
            + f"; ratio {ratios[-1]:.3f}",
            flush=True,
        )
    for name in names:
        values = rates[name]
        print(
            f"{name}: median {statistics.median(values):,.0f} {unit}/s "
            f"({1e6 / statistics.median(values):.0f} µs each), "
            f"min–max {min(values):,.0f}–{max(values):,.0f}"
        )
    print(
        f"ratio own / django-ratelimit: median {statistics.median(ratios):.3f}, "
        f"min–max {min(ratios):.3f}–{max(ratios):.3f}, "
        f"per round {', '.join(f'{r:.3f}' for r in ratios)}"
    )


def setup_django(prefix: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beo_automation.settings")
    os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex * 2)
    os.environ.setdefault("LOG_LEVEL", "warning")
    os.environ["CACHE_KEY_PREFIX"] = prefix.rstrip(":")
    os.environ["RATELIMIT_API"] = "100000000/m"
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # plain HTTP from the test client
    import django

    django.setup()
    from django.conf import settings

    settings.RATELIMIT_CACHE_PREFIX = prefix


def bench_calls(args: argparse.Namespace, prefix: str) -> None:
    setup_django(prefix)
    from django.test import RequestFactory

    from beo_automation.ratelimit import rate_limit_usage

    request = RequestFactory().get("/api/events/", REMOTE_ADDR="198.51.100.9")
    public = django_ratelimit_limiter()
    rate = "100000000/m"
    rounds(
        {
            DJANGO_RATELIMIT: lambda: public(request, group="api", rate=rate),
            OWN: lambda: rate_limit_usage(request, group="api", rate=rate),
        },
        n=args.n,
        count=args.rounds,
        unit="calls",
    )


def bench_create(args: argparse.Namespace, prefix: str) -> None:
    name = f"bench_ratelimit_{uuid.uuid4().hex[:8]}"
    with scratch_database(name) as database_url:
        os.environ["DATABASE_URL"] = database_url
        manage(child_env({"DATABASE_URL": database_url}), "migrate", "--no-input", "-v", "0")
        setup_django(prefix)
        from django.contrib.auth import get_user_model
        from django.test import Client

        from beo_automation import ratelimit
        from beo_automation.tokens import RefreshToken

        user = get_user_model().objects.create_user(username="bench", password=uuid.uuid4().hex)
        access = str(RefreshToken.for_user(user).access_token)
        client = Client(
            HTTP_AUTHORIZATION=f"Bearer {access}", REMOTE_ADDR="198.51.100.9", HTTP_HOST="localhost"
        )
        body = json.dumps({"type": "beo.created", "payload": {"beo": "BEO-1", "guests": 120}})
        own, public = ratelimit.rate_limit_usage, django_ratelimit_limiter()

        def create(limiter: Callable[..., Any]) -> Callable[[], None]:
            def run() -> None:
                ratelimit.rate_limit_usage = limiter
                response = client.post("/api/events/", body, content_type="application/json")
                if response.status_code != 201:
                    sys.exit(f"create answered {response.status_code}: {response.content!r}")

            return run

        try:
            rounds(
                {DJANGO_RATELIMIT: create(public), OWN: create(own)},
                n=args.n,
                count=args.rounds,
                unit="requests",
            )
        finally:
            ratelimit.rate_limit_usage = own


@contextlib.contextmanager
def redis_keys_removed(prefix: str) -> Iterator[None]:
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    queues_before = set(client.scan_iter(match="celery*"))
    try:
        yield
    finally:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        # Doorbells the creates sent to the broker (no worker runs here).
        keys += [key for key in client.scan_iter(match="celery*") if key not in queues_before]
        if keys:
            client.delete(*keys)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=["calls", "create"], default="calls")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=0, help="per side and round (3000 / 500)")
    args = parser.parse_args()
    if args.rounds < 5:
        sys.exit("--rounds: at least 5")
    if not os.environ.get("REDIS_URL"):
        sys.exit("REDIS_URL must point at a Redis server (e.g. redis://127.0.0.1:6379/14)")
    args.n = args.n or (3000 if args.what == "calls" else 500)
    prefix = f"bench-rl-{uuid.uuid4().hex[:8]}:"
    with redis_keys_removed(prefix):
        (bench_calls if args.what == "calls" else bench_create)(args, prefix)


if __name__ == "__main__":
    main()
