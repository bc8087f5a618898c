"""GCRA and fixed-window semantics, on memory, standalone Redis and a 3-master cluster.

Time is injected (``now=``) so refill is tested exactly, without sleeping.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from gateway.stores import RateCheck, Store

T0 = 1_000_000.0
DAY0 = 20_000 * 86400.0  # midnight UTC, day 20000


def rpm(n: int, cost: float = 1) -> RateCheck:
    return RateCheck("rpm", n, 60.0, cost)


def tpm(n: int, cost: float) -> RateCheck:
    return RateCheck("tpm", n, 60.0, cost)


async def test_exactly_n_of_m_concurrent(rate_store: Store, bucket: str) -> None:
    results = await asyncio.gather(*[rate_store.rate_acquire(bucket, [rpm(10)], T0)
                                     for _ in range(40)])
    assert sum(r.allowed for r in results) == 10
    refused = [r for r in results if not r.allowed]
    assert all(r.limited_by == "rpm" for r in refused)
    # One request's worth (period / limit) must pass before the next admission.
    assert all(r.retry_after_s == pytest.approx(6.0) for r in refused)
    assert all(r.states[0].remaining == 0 for r in refused)


async def test_continuous_refill(rate_store: Store, bucket: str) -> None:
    for _ in range(5):
        assert (await rate_store.rate_acquire(bucket, [rpm(5)], T0)).allowed
    assert not (await rate_store.rate_acquire(bucket, [rpm(5)], T0 + 11.9)).allowed
    d = await rate_store.rate_acquire(bucket, [rpm(5)], T0 + 12.0)  # one emission interval
    assert d.allowed and d.states[0].remaining == pytest.approx(0, abs=1e-6)
    assert not (await rate_store.rate_acquire(bucket, [rpm(5)], T0 + 12.5)).allowed
    # 30 s later 2.5 slots have refilled: two requests fit, the third does not.
    assert (await rate_store.rate_acquire(bucket, [rpm(5)], T0 + 42.0)).allowed
    assert (await rate_store.rate_acquire(bucket, [rpm(5)], T0 + 42.0)).allowed
    d = await rate_store.rate_acquire(bucket, [rpm(5)], T0 + 42.0)
    assert not d.allowed and d.retry_after_s == pytest.approx(6.0)


async def test_idle_bucket_allows_full_burst_again(rate_store: Store, bucket: str) -> None:
    for _ in range(3):
        assert (await rate_store.rate_acquire(bucket, [rpm(3)], T0)).allowed
    results = [await rate_store.rate_acquire(bucket, [rpm(3)], T0 + 600) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert results[0].states[0].reset_s == pytest.approx(20.0)  # one used: 20 s to refill


async def test_rejected_request_consumes_nothing(rate_store: Store, bucket: str) -> None:
    assert (await rate_store.rate_acquire(bucket, [tpm(1000, 900)], T0)).allowed
    for i in range(20):  # heavy requests keep being refused...
        d = await rate_store.rate_acquire(bucket, [tpm(1000, 500)], T0 + i * 0.01)
        assert not d.allowed and d.limited_by == "tpm"
    # ...and they left the bucket alone: a light one still fits exactly.
    d = await rate_store.rate_acquire(bucket, [tpm(1000, 100)], T0 + 0.2)
    assert d.allowed


async def test_multi_limit_atomicity(rate_store: Store, bucket: str) -> None:
    checks = [rpm(10), tpm(1000, 800)]
    assert (await rate_store.rate_acquire(bucket, checks, T0)).allowed
    d = await rate_store.rate_acquire(bucket, [rpm(10), tpm(1000, 300)], T0)
    assert not d.allowed and d.limited_by == "tpm"
    assert d.retry_after_s == pytest.approx((800 + 300 - 1000) * 60 / 1000)
    # rpm passed but was not charged: 9 requests remain, not 8.
    d = await rate_store.rate_acquire(bucket, [rpm(10), tpm(1000, 0)], T0)
    assert d.allowed and d.state("rpm").remaining == pytest.approx(8)  # type: ignore[union-attr]
    assert d.state("tpm").remaining == pytest.approx(200)  # type: ignore[union-attr]


async def test_limited_by_is_the_longest_wait(rate_store: Store, bucket: str) -> None:
    await rate_store.rate_acquire(bucket, [rpm(2), tpm(100, 100)], T0)
    await rate_store.rate_acquire(bucket, [rpm(2)], T0)
    # Both refuse: rpm needs 30 s, tpm needs 90 tokens = 54 s. Report the later one.
    d = await rate_store.rate_acquire(bucket, [rpm(2), tpm(100, 90)], T0)
    assert not d.allowed and d.limited_by == "tpm" and d.retry_after_s == pytest.approx(54.0)


async def test_cost_above_limit_can_never_pass(rate_store: Store, bucket: str) -> None:
    d = await rate_store.rate_acquire(bucket, [tpm(1000, 1001)], T0)
    assert not d.allowed and math.isinf(d.retry_after_s)
    assert (await rate_store.rate_acquire(bucket, [tpm(1000, 1000)], T0)).allowed


async def test_peek_changes_nothing(rate_store: Store, bucket: str) -> None:
    for _ in range(3):
        assert (await rate_store.rate_acquire(bucket, [rpm(3)], T0, consume=False)).allowed
    assert (await rate_store.rate_acquire(bucket, [rpm(3)], T0)).states[0].remaining == 2


async def test_reconcile_up_and_down(rate_store: Store, bucket: str) -> None:
    assert (await rate_store.rate_acquire(bucket, [tpm(1000, 500)], T0)).allowed
    st = await rate_store.rate_adjust(bucket, "tpm", 1000, 60.0, -400, T0)  # used only 100
    assert st.remaining == pytest.approx(900)
    assert (await rate_store.rate_acquire(bucket, [tpm(1000, 900)], T0)).allowed
    st = await rate_store.rate_adjust(bucket, "tpm", 1000, 60.0, 600, T0)  # overran: debt
    assert st.remaining == 0 and st.reset_s == pytest.approx(1600 * 60 / 1000)
    d = await rate_store.rate_acquire(bucket, [tpm(1000, 1)], T0 + 35.0)
    assert not d.allowed  # 1600 - 583.3 still > 999
    st = await rate_store.rate_adjust(bucket, "tpm", 1000, 60.0, -10**9, T0)  # floor at empty
    assert st.remaining == pytest.approx(1000)


async def test_budget_is_a_utc_day(rate_store: Store, bucket: str) -> None:
    def budget(cost: float) -> RateCheck:
        return RateCheck("budget_usd", 10.0, 86400.0, cost, "fixed")

    noon = DAY0 + 43200
    assert (await rate_store.rate_acquire(bucket, [budget(6.0)], noon)).allowed
    d = await rate_store.rate_acquire(bucket, [budget(4.5)], noon + 60)
    assert not d.allowed and d.limited_by == "budget_usd"
    assert d.retry_after_s == pytest.approx(43140.0)  # until 00:00 UTC
    d = await rate_store.rate_acquire(bucket, [budget(4.0)], noon + 60)
    assert d.allowed and d.states[0].remaining == pytest.approx(0, abs=1e-9)
    # Overspend reported afterwards stays owed until midnight, even for free requests.
    await rate_store.rate_adjust(bucket, "budget_usd", 10.0, 86400.0, 0.5, noon, kind="fixed")
    assert not (await rate_store.rate_acquire(bucket, [budget(0.0)], DAY0 + 86399)).allowed
    d = await rate_store.rate_acquire(bucket, [budget(9.0)], DAY0 + 86400)  # next day
    assert d.allowed and d.states[0].reset_s == pytest.approx(86400.0)


async def test_fractional_costs_exact(rate_store: Store, bucket: str) -> None:
    checks = [RateCheck("budget_usd", 1.0, 86400.0, 0.1, "fixed")]
    results = [await rate_store.rate_acquire(bucket, checks, DAY0 + 5) for _ in range(12)]
    assert sum(r.allowed for r in results) == 10


async def test_clock_going_backwards_does_not_refill(rate_store: Store, bucket: str) -> None:
    for _ in range(2):
        assert (await rate_store.rate_acquire(bucket, [rpm(2)], T0 + 30)).allowed
    # A caller whose clock is 30 s behind must not see the bucket drained.
    assert not (await rate_store.rate_acquire(bucket, [rpm(2)], T0)).allowed
    assert (await rate_store.rate_acquire(bucket, [rpm(2)], T0 + 60)).allowed
