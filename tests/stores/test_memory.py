"""MemoryStore stays bounded: drained buckets, expired slots and entries are swept."""

from __future__ import annotations

from gateway.stores import MemoryStore, RateCheck

T0 = 1_000.0


async def test_drained_state_is_swept() -> None:
    now = [T0]
    store = MemoryStore(clock=lambda: now[0])
    for i in range(3000):
        await store.rate_acquire(f"b{i}", [RateCheck("rpm", 10, 60.0, 1)], T0)
        await store.admit(f"s{i}", [], T0, slot_id="x", slot_limit=1, slot_ttl_s=30.0)
        await store.cache_set(f"c{i}", b"v", 30.0)
    assert store.sizes()["rates"] == 3000 and store.sizes()["slots"] == 3000
    now[0] = T0 + 61  # every bucket has drained, every slot and entry expired
    for _ in range(10_000):
        await store.rate_acquire("hot", [RateCheck("rpm", 10**9, 60.0, 1)], now[0])
    sizes = store.sizes()
    assert sizes["rates"] == 1 and sizes["slots"] == 0 and sizes["cache"] == 0
    assert sizes["cache_bytes"] == 0


async def test_partially_drained_bucket_is_kept() -> None:
    store = MemoryStore()
    await store.rate_acquire("b", [RateCheck("rpm", 2, 60.0, 2)], T0)
    for _ in range(2000):
        await store.rate_acquire("hot", [RateCheck("rpm", 10**9, 60.0, 1)], T0 + 30)
    # Half drained: still one request of state to remember.
    d = await store.rate_acquire("b", [RateCheck("rpm", 2, 60.0, 2)], T0 + 30)
    assert not d.allowed and d.retry_after_s == 30.0
