"""The Redis cache backend: django-redis's, with one combined write for event creates."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.cache import cache, caches
from django_redis import get_redis_connection

pytestmark = pytest.mark.redis


@pytest.fixture
def key():
    name = f"test-redis-cache:{uuid.uuid4().hex}"
    yield name
    cache.delete(name)


def test_the_default_cache_is_this_backend():
    from beo_automation.cache_backend import RedisCache

    assert isinstance(caches["default"], RedisCache)


def test_one_client_object_is_reused():
    # Django's own Redis backend builds a new client object for every call.
    assert get_redis_connection("default") is get_redis_connection("default")


def test_incr_adds_to_an_existing_counter(key):
    cache.set(key, 5)
    assert cache.incr(key) == 6
    assert cache.incr(key, 10) == 16
    assert cache.get(key) == 16


def test_incr_of_a_missing_key_is_a_value_error_as_in_django(key):
    with pytest.raises(ValueError, match="not found"):
        cache.incr(key)
    assert cache.get(key) is None  # and it did not create it


def test_concurrent_increments_are_all_counted(key):
    cache.set(key, 0, timeout=60)

    def bump() -> None:
        for _ in range(50):
            cache.incr(key)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get(key) == 400


def test_the_usual_operations_still_work(key):
    assert cache.add(key, {"a": 1}, timeout=30)
    assert not cache.add(key, {"a": 2}, timeout=30)
    assert cache.get(key) == {"a": 1}
    cache.set_many({key: [1, 2]}, timeout=30)
    assert cache.get_many([key]) == {key: [1, 2]}
    assert cache.delete(key)


def test_set_many_without_a_timeout_stores_every_value_for_good(key):
    other = f"{key}:other"
    try:
        cache.set_many({key: "v1", other: {"nested": [1, 2]}}, timeout=None)
        assert cache.get_many([key, other]) == {key: "v1", other: {"nested": [1, 2]}}
        raw = get_redis_connection("default")
        assert raw.ttl(cache.make_key(key)) == -1  # no expiry
    finally:
        cache.delete(other)


def test_set_many_with_a_timeout_still_expires(key):
    cache.set_many({key: "v1"}, timeout=30)
    raw = get_redis_connection("default")
    assert 0 < raw.ttl(cache.make_key(key)) <= 30
    assert cache.get(key) == "v1"


def test_set_many_and_add_first_sets_all_then_adds_the_first_missing_key(key):
    data = {f"{key}:a": 1, f"{key}:b": {"v": 2}}
    adds = [(f"{key}:flag", "1", 60), (f"{key}:backstop", "1", 2)]
    try:
        assert cache.set_many_and_add_first(data, adds=adds) == 1
        assert cache.get_many(list(data)) == data
        raw = get_redis_connection("default")
        assert raw.ttl(cache.make_key(f"{key}:a")) == -1  # versions never expire
        assert 0 < raw.ttl(cache.make_key(f"{key}:flag")) <= 60
        assert cache.get(f"{key}:flag") == "1"
        assert cache.get(f"{key}:backstop") is None
        assert cache.set_many_and_add_first({f"{key}:a": 3}, adds=adds) == 2
        assert cache.get(f"{key}:a") == 3
        assert cache.set_many_and_add_first({}, adds=adds) == 0
    finally:
        cache.delete_many([*data, *(k for k, _, _ in adds)])


def test_set_many_and_add_first_refuses_a_timeout_that_is_not_positive(key):
    with pytest.raises(ValueError, match="positive"):
        cache.set_many_and_add_first({}, adds=[(key, "1", 0)])


def test_set_many_and_add_first_is_a_redis_error_when_redis_is_down(settings):
    import redis

    from beo_automation.cache_backend import RedisCache

    dead = RedisCache(
        "redis://127.0.0.1:1/0", {"OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2}}
    )  # nothing listens there
    with pytest.raises(redis.ConnectionError):
        dead.set_many_and_add_first({"a": 1}, adds=[("flag", "1", 60)])
