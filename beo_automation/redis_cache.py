"""Django's Redis cache backend, minus two per-call costs that every API request pays.

- Django's RedisCacheClient builds a new `redis.Redis` object for every cache call; with
  redis-py 5+ that construction costs more than the command itself on a local Redis (a quarter
  of a millisecond each, four to five calls per API request: rate limit, list versions, the
  doorbell). Here one client per connection pool is built once and reused (redis-py clients are
  thread-safe and their pools reset themselves after a fork).
- `incr` (django-ratelimit's counter) is EXISTS then INCRBY: two round trips, and not atomic.
  Here it is one atomic Lua call with the same contract (ValueError when the key is missing).
- `set_many` without a timeout (the event-list versions, bumped after every event write) is
  one MSET, atomic by itself, instead of MSET wrapped in a MULTI/EXEC pipeline.
- `incr_window` counts a hit in a fixed window (django-ratelimit's counter, see
  beo_automation.ratelimit) in one atomic call, where django-ratelimit's add() then incr() take
  two round trips on every API request.
- `set_many_and_add_first` does the writes an API create makes after its commit (the list
  versions, then the doorbell flag or else its backstop, events.doorbell.events_submitted) in one
  round trip.

Everything else — serialisation, key prefixes, timeouts, the read/write server split — is
Django's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

# Increment only an existing key (Django's incr contract); nil when it does not exist.
INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
"""

# One hit on a fixed-window counter; the window's expiry is set when it starts (and repaired if
# the key somehow has none, so a counter can never outlive its window for good).
INCR_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('TTL', KEYS[1]) == -1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""

# set_many(timeout=None), then add() each further key in turn until one is added; returns the
# 1-based position of the key added, 0 when every one already existed. KEYS: the n keys to set,
# then the keys to add; ARGV: n, the n values, then a value and a timeout per key to add.
SET_MANY_ADD_FIRST = """
local n = tonumber(ARGV[1])
if n > 0 then
    local pairs = {}
    for i = 1, n do
        pairs[#pairs + 1] = KEYS[i]
        pairs[#pairs + 1] = ARGV[1 + i]
    end
    redis.call('MSET', unpack(pairs))
end
local arg = n + 2
for i = n + 1, #KEYS do
    if redis.call('SET', KEYS[i], ARGV[arg], 'NX', 'EX', ARGV[arg + 1]) then
        return i - n
    end
    arg = arg + 2
end
return 0
"""


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keyed by connection pool: one per server, as Django keeps them.
        self._clients: dict[int, Any] = {}
        self._incr_scripts: dict[int, Any] = {}
        self._window_scripts: dict[int, Any] = {}
        self._add_first_scripts: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client

    def incr(self, key: Any, delta: int) -> Any:
        client = self.get_client(key, write=True)
        script = self._incr_scripts.get(id(client))
        if script is None:
            script = self._incr_scripts[id(client)] = client.register_script(INCR_EXISTING)
        value = script(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def incr_window(self, key: Any, timeout: int) -> int:
        client = self.get_client(key, write=True)
        script = self._window_scripts.get(id(client))
        if script is None:
            script = self._window_scripts[id(client)] = client.register_script(INCR_WINDOW)
        return int(script(keys=[key], args=[timeout]))

    def set_many(self, data: Mapping[Any, Any], timeout: Any) -> None:
        if timeout is not None:
            super().set_many(data, timeout)
            return
        serializer = self._serializer  # type: ignore[attr-defined]
        client = self.get_client(None, write=True)
        client.mset({key: serializer.dumps(value) for key, value in data.items()})

    def set_many_and_add_first(self, data: dict[Any, Any], adds: list[tuple[Any, Any, int]]) -> int:
        serializer = self._serializer  # type: ignore[attr-defined]
        client = self.get_client(None, write=True)
        script = self._add_first_scripts.get(id(client))
        if script is None:
            script = self._add_first_scripts[id(client)] = client.register_script(
                SET_MANY_ADD_FIRST
            )
        args: list[Any] = [len(data), *(serializer.dumps(v) for v in data.values())]
        for _, value, timeout in adds:
            args += [serializer.dumps(value), timeout]
        return int(script(keys=[*data, *(key for key, _, _ in adds)], args=args))


class RedisCache(DjangoRedisCache):
    """`django.core.cache.backends.redis.RedisCache` with ReusingRedisCacheClient."""

    def incr_window(self, key: str, *, timeout: int) -> int:
        """Add one to the counter `key`, which expires `timeout` seconds after its first hit;
        returns the new count. Readable with get() like any counter set through the cache."""
        if timeout <= 0:
            raise ValueError("incr_window needs a positive timeout")
        client: ReusingRedisCacheClient = self._cache  # type: ignore[attr-defined]
        return client.incr_window(self.make_and_validate_key(key), timeout)

    def set_many_and_add_first(
        self, data: dict[str, Any], *, adds: list[tuple[str, Any, int]]
    ) -> int:
        """`set_many(data, timeout=None)`, then `add(key, value, timeout)` for each entry of
        `adds` in turn until one adds its key (timeouts: positive seconds), atomically and in
        one round trip. Returns the 1-based position in `adds` of the key added, 0 if none."""
        if any(timeout <= 0 for _, _, timeout in adds):
            raise ValueError("set_many_and_add_first needs positive timeouts")
        client: ReusingRedisCacheClient = self._cache  # type: ignore[attr-defined]
        return client.set_many_and_add_first(
            {self.make_and_validate_key(key): value for key, value in data.items()},
            [(self.make_and_validate_key(key), value, timeout) for key, value, timeout in adds],
        )

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient  # Django sets its own in __init__
