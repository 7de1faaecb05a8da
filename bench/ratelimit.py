"""What an own one-call Redis counter would buy over django-ratelimit's public API.

Two sides count one hit per call for one client, against the same Redis, in this process:

- django-ratelimit: `django_ratelimit.core.get_usage(..., increment=True)` on the project's
  cache (django-redis): an `add` (SET NX) and, once the window's counter exists, an `incr`
  (django-redis's atomic Lua EXISTS+INCRBY): two round trips. This is what the API does.
- own script: a fixed-window counter written by hand on the same redis-py client
  (`django_redis.get_redis_connection`), INCR and EXPIRE in one Lua script
  (`register_script`): one round trip, with the same key derivation (sha256 of group, rate,
  client and window).

Rounds are interleaved with the order rotated; each prints calls/s per side and the ratio
own/django-ratelimit. Run: `REDIS_URL=redis://127.0.0.1:6379/<db> .venv/bin/python -m bench.ratelimit`
(optional: --rounds 7 --calls 3000).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Own window: the same shape as django-ratelimit's (fixed windows of `period` seconds).
INCR_EXPIRE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        sys.exit("REDIS_URL must point at a Redis server (e.g. redis://127.0.0.1:6379/14)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beo_automation.settings")
    os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex * 2)
    prefix = f"bench-rl-{uuid.uuid4().hex[:8]}:"
    os.environ["CACHE_KEY_PREFIX"] = prefix

    import django

    django.setup()
    from django.conf import settings
    from django.test import RequestFactory
    from django_ratelimit.core import get_usage
    from django_redis import get_redis_connection

    settings.RATELIMIT_CACHE_PREFIX = prefix
    rate, period = "100000000/m", 60
    request = RequestFactory().get("/api/events/", REMOTE_ADDR="198.51.100.9")
    client = get_redis_connection("default")
    script = client.register_script(INCR_EXPIRE)

    def public() -> None:
        get_usage(request, group="api", key=lambda g, r: "198.51.100.9", rate=rate, increment=True)

    def own() -> None:
        ts = int(time.time())
        window = ts - ts % period + period
        digest = hashlib.sha256(f"api{rate}198.51.100.9{window}".encode()).hexdigest()
        script(keys=[f"{prefix}own:{digest}"], args=[period + 5])

    sides: dict[str, Callable[[], None]] = {"django-ratelimit": public, "own script": own}
    for fn in sides.values():  # warm up: connections, script load
        for _ in range(200):
            fn()
    rates: dict[str, list[float]] = {name: [] for name in sides}
    ratios: list[float] = []
    names = list(sides)
    try:
        for round_no in range(args.rounds):
            order = names if round_no % 2 == 0 else names[::-1]
            this: dict[str, float] = {}
            for name in order:
                fn = sides[name]
                start = time.perf_counter()
                for _ in range(args.calls):
                    fn()
                this[name] = args.calls / (time.perf_counter() - start)
                rates[name].append(this[name])
            ratios.append(this["own script"] / this["django-ratelimit"])
            print(
                f"round {round_no + 1} ({' then '.join(order)}): "
                + ", ".join(f"{n} {this[n]:,.0f} calls/s" for n in names)
                + f"; ratio {ratios[-1]:.2f}",
                flush=True,
            )
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    for name in names:
        values = rates[name]
        per_call = 1e6 / statistics.median(values)
        print(
            f"{name}: median {statistics.median(values):,.0f} calls/s "
            f"({per_call:.0f} µs a call), min–max {min(values):,.0f}–{max(values):,.0f}"
        )
    saved = 1e6 / statistics.median(rates["django-ratelimit"]) - 1e6 / statistics.median(
        rates["own script"]
    )
    print(
        f"ratio own/django-ratelimit: median {statistics.median(ratios):.2f}, "
        f"per round {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"the own script saves {saved:.0f} µs per API request"
    )


if __name__ == "__main__":
    main()
