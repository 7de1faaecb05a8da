"""The Redis cache backend: Django's, reusing its clients, with a one-call atomic incr."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.redis


@pytest.fixture
def key():
    name = f"test-redis-cache:{uuid.uuid4().hex}"
    yield name
    cache.delete(name)


def test_the_default_cache_is_this_backend():
    from beo_automation.redis_cache import ReusingRedisCacheClient

    assert isinstance(cache._cache, ReusingRedisCacheClient)


def test_one_client_object_is_reused():
    client = cache._cache
    assert client.get_client() is client.get_client(write=True)


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
        raw = cache._cache.get_client()
        assert raw.ttl(cache.make_key(key)) == -1  # no expiry
    finally:
        cache.delete(other)


def test_set_many_with_a_timeout_still_expires(key):
    cache.set_many({key: "v1"}, timeout=30)
    raw = cache._cache.get_client()
    assert 0 < raw.ttl(cache.make_key(key)) <= 30
    assert cache.get(key) == "v1"


def test_incr_window_counts_from_one_and_expires_with_its_window(key):
    assert [cache.incr_window(key, timeout=30) for _ in range(3)] == [1, 2, 3]
    assert cache.get(key) == 3
    assert 0 < cache._cache.get_client().ttl(cache.make_key(key)) <= 30


def test_incr_window_gives_a_counter_without_expiry_one(key):
    cache.set(key, 7, timeout=None)
    assert cache.incr_window(key, timeout=30) == 8
    assert 0 < cache._cache.get_client().ttl(cache.make_key(key)) <= 30


def test_concurrent_window_hits_are_all_counted(key):
    def hit() -> None:
        for _ in range(50):
            cache.incr_window(key, timeout=60)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get(key) == 400


def test_set_many_and_add_first_sets_all_then_adds_the_first_missing_key(key):
    data = {f"{key}:a": 1, f"{key}:b": {"v": 2}}
    adds = [(f"{key}:flag", "1", 60), (f"{key}:backstop", "1", 2)]
    try:
        assert cache.set_many_and_add_first(data, adds=adds) == 1
        assert cache.get_many(list(data)) == data
        assert cache.set_many_and_add_first({f"{key}:a": 3}, adds=adds) == 2
        assert cache.get(f"{key}:a") == 3
        assert cache.set_many_and_add_first({}, adds=adds) == 0
    finally:
        cache.delete_many([*data, *(k for k, _, _ in adds)])


def test_set_many_and_add_first_refuses_a_timeout_that_is_not_positive(key):
    with pytest.raises(ValueError, match="positive"):
        cache.set_many_and_add_first({}, adds=[(key, "1", 0)])
