"""Concurrency slots on both stores: limit, release, expiry, cancellation."""

from __future__ import annotations

import asyncio

from gateway.errors import RateLimited
from gateway.limits.limiter import KeyLimits, RateLimiter
from gateway.stores import Store

T0 = 5_000.0


async def take(store: Store, key: str, limit: int, slot_id: str, ttl_s: float,
               now: float) -> bool:
    """A slot alone: ``admit`` with no rate checks."""
    d = await store.admit(key, [], now, slot_id=slot_id, slot_limit=limit, slot_ttl_s=ttl_s)
    return d.allowed


async def test_acquire_up_to_limit_then_release(store: Store, bucket: str) -> None:
    got = [await take(store, bucket, 3, f"s{i}", 60, T0) for i in range(5)]
    assert got == [True, True, True, False, False]
    assert await store.slot_count(bucket, T0) == 3
    assert await take(store, bucket, 3, "s0", 60, T0)  # re-acquire own slot: ok
    assert await store.slot_release(bucket, "s1")
    assert not await store.slot_release(bucket, "s1")  # second release is a no-op
    assert await take(store, bucket, 3, "s4", 60, T0)
    assert await store.slot_count(bucket, T0) == 3


async def test_dead_holders_slot_expires(store: Store, bucket: str) -> None:
    assert await take(store, bucket, 1, "dead", 30, T0)
    assert not await take(store, bucket, 1, "alive", 30, T0 + 29.9)
    assert await store.slot_count(bucket, T0 + 29.9) == 1
    assert await store.slot_count(bucket, T0 + 30.0) == 0
    assert await take(store, bucket, 1, "alive", 30, T0 + 30.0)


async def test_refresh_keeps_a_long_stream_alive(store: Store, bucket: str) -> None:
    assert await take(store, bucket, 1, "stream", 30, T0)
    assert await store.slot_refresh(bucket, "stream", 30, T0 + 25)
    assert not await take(store, bucket, 1, "other", 30, T0 + 50)
    assert not await store.slot_refresh(bucket, "ghost", 30, T0 + 50)
    assert await store.slot_count(bucket, T0 + 55) == 0
    assert not await store.slot_refresh(bucket, "stream", 30, T0 + 56)  # expired: gone


async def test_slots_survive_burst_with_cancellations(store: Store, bucket: str) -> None:
    limiter = RateLimiter(store, KeyLimits(concurrency=5))
    held = asyncio.Event()
    outcomes: list[str] = []

    async def request(i: int) -> None:
        try:
            adm = await limiter.admit(bucket, 10, 0.0)
            try:
                outcomes.append("admitted")
                if outcomes.count("admitted") == 5:
                    held.set()
                await asyncio.sleep(30)  # "streaming"; cancelled by the client going away
            finally:
                await adm.release()
        except RateLimited:
            outcomes.append("refused")

    tasks = [asyncio.create_task(request(i)) for i in range(40)]
    await asyncio.wait_for(held.wait(), 10)
    await asyncio.sleep(0.05)  # let the rest finish admitting/refusing
    assert await limiter.in_flight(bucket) == 5
    assert outcomes.count("admitted") == 5
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert await limiter.in_flight(bucket) == 0

    # Cancellation while admission itself is in flight must not leak a slot either.
    tasks = [asyncio.create_task(request(i)) for i in range(40)]
    await asyncio.sleep(0)
    for t in tasks[::2]:
        t.cancel()
    await asyncio.sleep(0.05)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.05)  # shielded releases complete in the background
    assert await limiter.in_flight(bucket) == 0


async def test_release_is_idempotent_and_exactly_once(store: Store, bucket: str) -> None:
    limiter = RateLimiter(store, KeyLimits(concurrency=1))
    a = await limiter.admit(bucket, 1, 0.0)
    b_err = None
    try:
        await limiter.admit(bucket, 1, 0.0)
    except RateLimited as exc:
        b_err = exc
    assert b_err is not None and b_err.code == "concurrency_limit_exceeded"
    await a.release()
    c = await limiter.admit(bucket, 1, 0.0)  # a's slot is free now
    await a.release()  # must not free c's slot
    assert await limiter.in_flight(bucket) == 1
    await c.release()
    assert await limiter.in_flight(bucket) == 0
