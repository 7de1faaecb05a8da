"""The default cache on Redis: django-redis's backend, plus one combined write for event creates.

django-redis keeps one client per server for the process (Django's own Redis backend builds a
new client object on every call), its `incr` is one atomic call (Django's is EXISTS then
INCRBY), and `django_redis.get_redis_connection` hands out that client for scripts: the rate
limiter's counter (beo_automation.ratelimit) and the method below.

`set_many_and_add_first` is the one addition: the writes an API create makes after its commit
(the owners' list versions, then the doorbell flag or else its backstop's flag,
events.doorbell.events_submitted) as one Lua script, so one command instead of three, on the
client django-redis hands out (`client.get_client`, what `django_redis.get_redis_connection`
returns), with the backend's own keys and serialisation so `get()` reads what it wrote.
"""

from __future__ import annotations

from typing import Any

from django_redis.cache import RedisCache as DjangoRedisCache
from redis.commands.core import Script

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


class RedisCache(DjangoRedisCache):
    """`django_redis.cache.RedisCache` with `set_many_and_add_first`."""

    _add_first: Script | None = None

    def set_many_and_add_first(
        self, data: dict[str, Any], *, adds: list[tuple[str, Any, int]]
    ) -> int:
        """`set_many(data, timeout=None)`, then `add(key, value, timeout)` for each entry of
        `adds` in turn until one adds its key (timeouts: positive seconds), atomically, in one
        command. Returns the 1-based position in `adds` of the key added, 0 if none.

        Connection errors are redis-py's own, as from the other methods of this backend."""
        if any(timeout <= 0 for _, _, timeout in adds):
            raise ValueError("set_many_and_add_first needs positive timeouts")
        client = self.client.get_client(write=True)
        script = self._add_first
        if script is None or script.registered_client is not client:
            script = self._add_first = client.register_script(SET_MANY_ADD_FIRST)
        encode = self.client.encode
        keys = [self.make_and_validate_key(key) for key in data]
        keys += [self.make_and_validate_key(key) for key, _, _ in adds]
        args: list[Any] = [len(data), *(encode(value) for value in data.values())]
        for _, value, timeout in adds:
            args += [encode(value), timeout]
        return int(script(keys=keys, args=args))
