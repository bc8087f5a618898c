"""The stores' key-value state (``kv_*``, stored Responses): set, get, TTL, delete, its
own namespace beside the cache, the memory store's bound, and a Redis outage under
both ``on_error`` modes."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import StoreUnavailable
from gateway.stores import MemoryStore, RedisStore, ResilientStore, Store
from gateway.stores.resilient import OnError
from tests.support.redis_server import RedisServer


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


async def test_set_get_delete(store: Store, bucket: str) -> None:
    assert await store.kv_get(bucket) is None
    await store.kv_set(bucket, b"\x00state\xff", 60)
    assert await store.kv_get(bucket) == b"\x00state\xff"
    await store.kv_set(bucket, b"v2", 60)  # a second write replaces the first
    assert await store.kv_get(bucket) == b"v2"
    assert await store.kv_delete(bucket)
    assert await store.kv_get(bucket) is None
    assert not await store.kv_delete(bucket)  # already gone
    await store.kv_set(bucket, b"v", 0)  # no TTL: nothing stored
    assert await store.kv_get(bucket) is None


async def test_namespace_is_not_the_cache(store: Store, bucket: str) -> None:
    await store.kv_set(bucket, b"state", 60)
    assert await store.cache_get(bucket) is None
    await store.cache_set(bucket, b"cached", 60)
    assert await store.kv_get(bucket) == b"state"
    assert await store.cache_get(bucket) == b"cached"
    assert await store.kv_delete(bucket)
    assert await store.cache_get(bucket) == b"cached"


async def test_redis_keys_and_ttl(redis_server: RedisServer, bucket: str) -> None:
    store = RedisStore.from_url(redis_server.url, timeout_s=2.0)
    await store.kv_set(bucket, b"v", 0.3)
    assert redis_server.cli("EXISTS", f"gw:kv:{bucket}").strip() == "1"
    assert redis_server.cli("EXISTS", f"gw:c:{bucket}").strip() == "0"
    assert 0 < int(redis_server.cli("PTTL", f"gw:kv:{bucket}").strip()) <= 300
    await asyncio.sleep(0.45)
    assert await store.kv_get(bucket) is None
    await store.close()


async def test_memory_ttl_and_bound() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock, cache_max_bytes=500, kv_max_bytes=1000)
    await store.kv_set("short", b"v", 10)
    clock.t += 10
    assert await store.kv_get("short") is None
    for i in range(5):
        await store.kv_set(f"k{i}", bytes(200), 60)
    assert await store.kv_get("k0") is not None  # k0 becomes most recently used
    await store.kv_set("k5", bytes(200), 60)      # past the cap: the LRU entry, k1, goes
    assert await store.kv_get("k1") is None and await store.kv_get("k0") is not None
    assert store.sizes()["kv"] == 5 and store.sizes()["kv_bytes"] == 1000
    await store.kv_set("huge", bytes(1001), 60)   # larger than the whole budget: not kept
    assert await store.kv_get("huge") is None
    for i in range(10):  # a full cache evicts cache entries, never key-value state
        await store.cache_set(f"c{i}", bytes(200), 60)
    assert all([await store.kv_get(f"k{i}") is not None for i in (0, 2, 3, 4, 5)])
    clock.t += 60  # expired entries are swept, not only hidden
    for _ in range(1100):
        await store.cache_get("x")
    assert store.sizes()["kv"] == 0 and store.sizes()["kv_bytes"] == 0


def _resilient(server: RedisServer, on_error: OnError, clock: Clock) -> ResilientStore:
    return ResilientStore(RedisStore.from_url(server.url, timeout_s=0.2), MemoryStore(),
                          on_error=on_error, retry_after_s=1.0, clock=clock)


@pytest.mark.parametrize("on_error", ["fail_open", "fail_closed"])
async def test_outage_is_a_503_never_a_miss(own_redis: RedisServer, bucket: str,
                                            on_error: OnError) -> None:
    clock = Clock()
    store = _resilient(own_redis, on_error, clock)
    await store.kv_set(bucket, b"before", 60)
    assert await store.kv_get(bucket) == b"before"

    own_redis.kill()
    for _ in range(2):  # the failing call, then the back-off period
        with pytest.raises(StoreUnavailable, match="Redis is unreachable") as info:
            await store.kv_get(bucket)
        assert info.value.status == 503
    with pytest.raises(StoreUnavailable):
        await store.kv_delete(bucket)
    if on_error == "fail_open":
        await store.kv_set(bucket + "-new", b"during", 60)  # dropped, the answer goes out
        assert store.degraded
    else:
        with pytest.raises(StoreUnavailable):
            await store.kv_set(bucket + "-new", b"during", 60)
    assert store.fallback.sizes()["kv"] == 0  # never kept per process

    own_redis.restart()  # an empty server: what was stored before is gone with it
    clock.t += 1.0
    assert await store.kv_get(bucket + "-new") is None
    assert store.status()["ok"] is True
    await store.kv_set(bucket, b"after", 60)
    assert await store.kv_get(bucket) == b"after"
    await store.close()
