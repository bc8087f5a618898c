"""``Store.admit`` / ``Store.settle``: limits and concurrency slot in one call each, on
memory, Redis and a cluster alike (the request path's two round trips)."""

from __future__ import annotations

import pytest

from gateway.errors import RateLimited
from gateway.limits.limiter import KeyLimits, RateLimiter
from gateway.stores import CONCURRENCY, RateAdjust, RateCheck, Store

T0 = 1_700_000_000.0


def rpm(limit: int) -> RateCheck:
    return RateCheck("rpm", limit, 60.0, 1)


async def remaining(store: Store, bucket: str, check: RateCheck) -> float:
    peek = await store.rate_acquire(bucket, [check], T0, consume=False)
    state = peek.state(check.name)
    assert state is not None
    return state.remaining


async def test_admit_takes_slot_and_charges_together(rate_store: Store, bucket: str) -> None:
    for sid in ("a", "b"):
        d = await rate_store.admit(bucket, [rpm(5)], T0, slot_id=sid, slot_limit=2,
                                   slot_ttl_s=60)
        assert d.allowed and d.states[0].remaining == (4 if sid == "a" else 3)
    assert await rate_store.slot_count(bucket, T0) == 2
    full = await rate_store.admit(bucket, [rpm(5)], T0, slot_id="c", slot_limit=2,
                                  slot_ttl_s=60)
    assert not full.allowed and full.limited_by == CONCURRENCY and full.retry_after_s > 0
    assert await rate_store.slot_count(bucket, T0) == 2
    assert await remaining(rate_store, bucket, rpm(5)) == 3  # the refusal charged nothing


async def test_rate_refusal_takes_no_slot(rate_store: Store, bucket: str) -> None:
    assert (await rate_store.admit(bucket, [rpm(1)], T0, slot_id="a", slot_limit=5,
                                   slot_ttl_s=60)).allowed
    refused = await rate_store.admit(bucket, [rpm(1)], T0, slot_id="b", slot_limit=5,
                                     slot_ttl_s=60)
    assert not refused.allowed and refused.limited_by == "rpm"
    assert refused.retry_after_s == pytest.approx(60.0)
    assert await rate_store.slot_count(bucket, T0) == 1


async def test_expired_slots_do_not_count(rate_store: Store, bucket: str) -> None:
    assert (await rate_store.admit(bucket, [], T0, slot_id="dead", slot_limit=1,
                                   slot_ttl_s=30)).allowed
    assert not (await rate_store.admit(bucket, [], T0 + 29, slot_id="x", slot_limit=1,
                                       slot_ttl_s=30)).allowed
    assert (await rate_store.admit(bucket, [], T0 + 30, slot_id="x", slot_limit=1,
                                   slot_ttl_s=30)).allowed


async def test_settle_adjusts_and_releases(rate_store: Store, bucket: str) -> None:
    tpm = RateCheck("tpm", 100, 60.0, 50)
    budget = RateCheck("budget_usd", 1.0, 86400.0, 0.5, "fixed")
    assert (await rate_store.admit(bucket, [tpm, budget], T0, slot_id="s", slot_limit=1,
                                   slot_ttl_s=60)).allowed
    await rate_store.settle(bucket, [RateAdjust("tpm", 100, 60.0, -30),
                                     RateAdjust("budget_usd", 1.0, 86400.0, 0.25, "fixed")],
                            T0, slot_id="s")
    assert await rate_store.slot_count(bucket, T0) == 0
    assert await remaining(rate_store, bucket, RateCheck("tpm", 100, 60.0, 1)) == 80
    assert await remaining(
        rate_store, bucket, RateCheck("budget_usd", 1.0, 86400.0, 0.1, "fixed")) == 0.25
    # Each half alone: a correction without a slot, a release without corrections.
    assert (await rate_store.admit(bucket, [], T0, slot_id="t", slot_limit=1,
                                   slot_ttl_s=60)).allowed
    await rate_store.settle(bucket, [RateAdjust("tpm", 100, 60.0, -80)], T0)
    assert await rate_store.slot_count(bucket, T0) == 1
    assert await remaining(rate_store, bucket, RateCheck("tpm", 100, 60.0, 1)) == 100
    await rate_store.settle(bucket, [], T0, slot_id="t")
    assert await rate_store.slot_count(bucket, T0) == 0


async def test_limiter_settles_once(rate_store: Store, bucket: str) -> None:
    now = [T0]
    limiter = RateLimiter(rate_store, KeyLimits(tpm=1000, concurrency=1),
                          clock=lambda: now[0])
    adm = await limiter.admit(bucket, 600, 0.0)
    with pytest.raises(RateLimited) as info:
        await limiter.admit(bucket, 1, 0.0)
    assert info.value.code == "concurrency_limit_exceeded"
    await adm.settle(100, 0.0)   # refund 500, free the slot
    await adm.settle(900, 0.0)   # once only
    await adm.release()          # already released: no-op
    assert await limiter.in_flight(bucket) == 0
    adm2 = await limiter.admit(bucket, 900, 0.0)
    assert adm2.headers()["x-ratelimit-remaining-tokens"] == "0"
    await adm2.settle(None, 0.0)  # None keeps the estimate, still frees the slot
    assert await limiter.in_flight(bucket) == 0
    with pytest.raises(RateLimited) as info:
        await limiter.admit(bucket, 1, 0.0)
    assert info.value.code == "rate_limit_exceeded"
