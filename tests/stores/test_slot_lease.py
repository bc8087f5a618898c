"""Issue 18.5: a concurrency slot is renewed while its request lives; the TTL only frees
the slots of a process that died holding them. (Before: a concurrency-1 key got a
second request in beside a live one once ``slot_ttl_s`` had passed.)"""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import RateLimited
from gateway.limits.limiter import KeyLimits, RateLimiter
from gateway.stores import Store

ONE = KeyLimits(concurrency=1)


async def test_a_live_request_keeps_its_slot_past_the_ttl(store: Store, bucket: str) -> None:
    limiter = RateLimiter(store, slot_ttl_s=0.6)
    first = await limiter.admit(bucket, 0, 0.0, limits=ONE)
    await asyncio.sleep(1.5)  # 2.5 TTLs: renewed every 0.2 s
    with pytest.raises(RateLimited, match="concurrent"):
        await limiter.admit(bucket, 0, 0.0, limits=ONE)
    await first.settle(None, 0.0)
    second = await limiter.admit(bucket, 0, 0.0, limits=ONE)
    await second.release()
    assert await limiter.in_flight(bucket) == 0


async def test_early_admission_renews_too(store: Store, bucket: str) -> None:
    limiter = RateLimiter(store, slot_ttl_s=0.6)
    first = await limiter.admit_requests(bucket, KeyLimits(rpm=100, concurrency=1))
    await limiter.admit_tokens(first, 10, 0.0)
    await asyncio.sleep(1.5)
    assert await limiter.in_flight(bucket) == 1
    await first.release()
    assert await limiter.in_flight(bucket) == 0


async def test_a_slot_whose_holder_stopped_renewing_lapses(store: Store, bucket: str) -> None:
    """What the TTL is for: a holder that died (here: its renewal stopped, the slot not
    released) frees the slot after the TTL."""
    limiter = RateLimiter(store, slot_ttl_s=0.5)
    dead = await limiter.admit(bucket, 0, 0.0, limits=ONE)
    dead._stop_renewal()
    dead._released = True  # as if the process was gone: nobody releases it
    await asyncio.sleep(0.8)
    again = await limiter.admit(bucket, 0, 0.0, limits=ONE)
    await again.release()
