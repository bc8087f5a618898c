"""ResilientStore: Redis killed, paused and restarted under a running store."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.config import RedisConfig
from gateway.errors import StoreUnavailable
from gateway.limits.limiter import KeyLimits, RateLimiter
from gateway.stores import MemoryStore, RateCheck, RedisStore, ResilientStore
from gateway.stores.factory import build_store
from gateway.stores.resilient import OnError
from tests.support.redis_server import RedisServer

RPM = [RateCheck("rpm", 3, 60.0, 1)]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make(server: RedisServer, on_error: OnError, clock: Clock) -> ResilientStore:
    return ResilientStore(RedisStore.from_url(server.url, timeout_s=0.2), MemoryStore(),
                          on_error=on_error, retry_after_s=1.0, clock=clock)


async def test_fail_open_serves_from_memory_then_returns(own_redis: RedisServer,
                                                         bucket: str) -> None:
    clock = Clock()
    store = make(own_redis, "fail_open", clock)
    assert (await store.rate_acquire(bucket, RPM)).allowed
    await store.cache_set("k", b"v", 60)
    assert await store.cache_get("k") == b"v"
    assert store.status() == {"store": "redis", "ok": True, "degraded": False, "error": None,
                              "on_error": "fail_open"}

    own_redis.kill()
    # Limits keep being enforced, from the in-process fallback (fresh bucket there).
    results = [await store.rate_acquire(bucket, RPM) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    status = store.status()
    assert status["degraded"] is True and status["ok"] is False and status["error"]
    assert store.degraded
    assert await store.cache_get("k") is None  # cache bypassed, not served stale
    await store.cache_set("k2", b"v", 60)      # dropped silently

    # Within the back-off Redis is not even tried: answers are immediate.
    started = time.monotonic()
    for _ in range(50):
        await store.rate_acquire(bucket + "b", RPM)
    assert time.monotonic() - started < 0.5

    own_redis.restart()
    clock.t += 1.0
    assert (await store.rate_acquire(bucket, RPM)).allowed  # Redis again (empty after restart)
    assert store.status()["ok"] is True and not store.degraded
    assert own_redis.cli("EXISTS", store.primary.rate_key(bucket, "rpm")).strip() == "1"
    await store.close()


async def test_fail_closed_raises_then_recovers(own_redis: RedisServer, bucket: str) -> None:
    clock = Clock()
    store = make(own_redis, "fail_closed", clock)
    assert (await store.rate_acquire(bucket, RPM)).allowed
    own_redis.kill()
    for _ in range(2):  # the failing call and the back-off period both refuse
        with pytest.raises(StoreUnavailable, match="Redis is unreachable") as info:
            await store.rate_acquire(bucket, RPM)
        assert info.value.status == 503
    assert store.status()["ok"] is False and store.status()["degraded"] is False
    own_redis.restart()
    clock.t += 1.0
    assert (await store.rate_acquire(bucket, RPM)).allowed
    assert store.status()["ok"] is True
    await store.close()


async def test_paused_redis_costs_one_timeout_per_backoff(own_redis: RedisServer,
                                                          bucket: str) -> None:
    clock = Clock()
    store = make(own_redis, "fail_open", clock)
    assert (await store.rate_acquire(bucket, RPM)).allowed
    own_redis.pause()
    try:
        started = time.monotonic()
        assert (await store.rate_acquire(bucket, RPM)).allowed  # timed out, then memory
        assert time.monotonic() - started < 0.9
        started = time.monotonic()
        for _ in range(20):
            await store.rate_acquire(bucket, RPM)
        assert time.monotonic() - started < 0.5  # no further timeouts during back-off
        assert store.degraded
    finally:
        own_redis.resume()
    clock.t += 1.0
    assert await store.ping() and not store.degraded
    await store.close()


async def test_slots_are_released_where_they_were_acquired(own_redis: RedisServer,
                                                           bucket: str) -> None:
    clock = Clock()
    store = make(own_redis, "fail_open", clock)
    limiter = RateLimiter(store, KeyLimits(concurrency=5))
    in_redis = await limiter.admit(bucket, 1, 0)
    own_redis.kill()
    in_memory = await limiter.admit(bucket, 1, 0)
    assert await store.fallback.slot_count(limiter.bucket_for(bucket)) == 1
    own_redis.restart()
    clock.t += 1.0
    await in_memory.release()  # must go to the fallback even though Redis is back
    assert await store.fallback.slot_count(limiter.bucket_for(bucket)) == 0
    await in_redis.release()   # Redis lost it in the restart: a harmless no-op
    again = await limiter.admit(bucket, 1, 0)
    assert await limiter.in_flight(bucket) == 1  # counted in Redis again
    await again.release()
    assert await limiter.in_flight(bucket) == 0
    await store.close()


async def test_release_with_redis_down_does_not_raise(own_redis: RedisServer,
                                                      bucket: str) -> None:
    clock = Clock()
    store = make(own_redis, "fail_closed", clock)
    limiter = RateLimiter(store, KeyLimits(concurrency=2))
    adm = await limiter.admit(bucket, 1, 0)
    own_redis.kill()
    await adm.settle(5, 0.1)  # lost, logged, not raised; the Redis slot expires by TTL
    with pytest.raises(StoreUnavailable):
        await limiter.admit(bucket, 1, 0)
    await store.close()


async def test_build_store_factory(redis_server: RedisServer) -> None:
    assert isinstance(build_store(RedisConfig()), MemoryStore)
    store = build_store(RedisConfig(on_error="fail_closed"), redis_server.url)
    assert isinstance(store, ResilientStore) and store.on_error == "fail_closed"
    assert await store.ping()
    await store.close()


async def test_admit_and_settle_follow_the_slot_home(own_redis: RedisServer,
                                                     bucket: str) -> None:
    clock = Clock()
    store = make(own_redis, "fail_open", clock)
    limiter = RateLimiter(store, KeyLimits(tpm=1000, concurrency=5))
    b = limiter.bucket_for(bucket)
    in_redis = await limiter.admit(bucket, 100, 0)
    assert await store.primary.slot_count(b) == 1
    own_redis.pause()  # hung: the settlement times out and is deferred, not lost
    try:
        await in_redis.settle(10, 0)  # logged, never raised
        assert store.down and (b, in_redis.slot_id) in store._pending_releases
        in_memory = await limiter.admit(bucket, 100, 0)  # served by the fallback
        assert await store.fallback.slot_count(b) == 1
    finally:
        own_redis.resume()
    clock.t += 1.0
    await in_memory.settle(10, 0)  # settled on the fallback even though Redis is back
    assert await store.fallback.slot_count(b) == 0
    assert (await store.rate_acquire(b, [RateCheck("rpm", 5, 60.0, 1)])).allowed  # Redis up
    for _ in range(100):  # the deferred release runs in the background
        if not store._pending_releases:
            break
        await asyncio.sleep(0.01)
    assert await store.primary.slot_count(b) == 0
    await store.close()

