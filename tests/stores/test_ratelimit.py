"""RateLimiter / ProviderQuota glue: refusals, headers, reconciliation."""

from __future__ import annotations

import pytest

from gateway.errors import RateLimited
from gateway.limits.limiter import KeyLimits, ProviderQuota, RateLimiter, fmt_duration
from gateway.stores import Store


class Clock:
    def __init__(self, t: float = 20_000 * 86400.0 + 3600) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("seconds,text", [
    (0, "0s"), (0.0121, "13ms"), (0.999, "999ms"), (1, "1s"), (1.5, "1.5s"),
    (59.9999, "1m0s"), (360, "6m0s"), (61.25, "1m1.25s"), (3723, "1h2m3s"), (7200, "2h0m0s"),
])
def test_fmt_duration_matches_openai(seconds: float, text: str) -> None:
    assert fmt_duration(seconds) == text


async def test_headers_on_success(rate_store: Store, bucket: str) -> None:
    clock = Clock()
    limiter = RateLimiter(rate_store, KeyLimits(rpm=60, tpm=10_000), clock=clock)
    adm = await limiter.admit(bucket, 2500, 0.01)
    assert adm.headers() == {
        "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "10000", "x-ratelimit-remaining-tokens": "7500",
        "x-ratelimit-reset-tokens": "15s",
    }


async def test_refusal_names_the_limit_and_sets_retry_headers(rate_store: Store,
                                                              bucket: str) -> None:
    clock = Clock()
    limiter = RateLimiter(rate_store, KeyLimits(rpm=2, tpm=1000), clock=clock)
    await limiter.admit(bucket, 100, 0)
    await limiter.admit(bucket, 100, 0)
    with pytest.raises(RateLimited) as info:
        await limiter.admit(bucket, 100, 0)
    err = info.value
    assert err.status == 429 and err.message == (
        "Rate limit reached for requests per minute (rpm) on this key: limit 2, this request "
        "needs 1. Please try again in 30s.")
    assert err.headers["retry-after"] == "30" and err.headers["retry-after-ms"] == "30000"
    assert err.headers["x-ratelimit-remaining-requests"] == "0"
    assert err.headers["x-ratelimit-reset-requests"] == "1m0s"

    with pytest.raises(RateLimited) as info:
        await limiter.admit(bucket + "x", 5000, 0)
    assert info.value.message.startswith(
        "Request too large for tokens per minute (tpm) on this key: it needs 5000 but the "
        "limit is 1000.")
    assert "retry-after" not in info.value.headers  # retrying cannot help


async def test_budget_refusal_and_reconcile(rate_store: Store, bucket: str) -> None:
    clock = Clock()
    limiter = RateLimiter(rate_store, KeyLimits(tpm=10_000, budget_usd_per_day=1.0), clock=clock)
    adm = await limiter.admit(bucket, 4000, 0.50)
    await adm.settle(1000, 0.10)       # real usage was lower: refund both
    await adm.settle(9999, 9.99)       # once only
    adm2 = await limiter.admit(bucket, 9000, 0.90)
    assert adm2.headers()["x-ratelimit-remaining-tokens"] == "0"
    await adm2.settle(9000, 1.20)      # overspent the day
    with pytest.raises(RateLimited) as info:
        await limiter.admit(bucket, 0, 0.0)
    assert info.value.message == ("Daily budget of $1 reached on this key (this request is "
                                  "estimated at $0). It resets at 00:00 UTC, in 23h0m0s.")
    assert info.value.headers["retry-after"] == str(23 * 3600)
    clock.t += 86400                      # next UTC day
    await limiter.admit(bucket, 10, 0.01)


async def test_concurrency_refusal_consumes_no_rate(rate_store: Store, bucket: str) -> None:
    clock = Clock()
    limiter = RateLimiter(rate_store, KeyLimits(rpm=3, concurrency=1), clock=clock)
    first = await limiter.admit(bucket, 1, 0)
    for _ in range(5):
        with pytest.raises(RateLimited):
            await limiter.admit(bucket, 1, 0)
    await first.release()
    second = await limiter.admit(bucket, 1, 0)
    try:
        assert second.headers()["x-ratelimit-remaining-requests"] == "1"
    finally:
        await second.release()
    assert await limiter.in_flight(bucket) == 0


async def test_rate_refusal_frees_the_slot(rate_store: Store, bucket: str) -> None:
    clock = Clock()
    limiter = RateLimiter(rate_store, KeyLimits(rpm=1, concurrency=5), clock=clock)
    await (await limiter.admit(bucket, 1, 0)).release()
    with pytest.raises(RateLimited):
        await limiter.admit(bucket, 1, 0)
    assert await limiter.in_flight(bucket) == 0


async def test_provider_quota(rate_store: Store, bucket: str) -> None:
    clock = Clock()
    quota = ProviderQuota(rate_store, bucket, rpm=100, tpm=1000, clock=clock)
    adm = await quota.admit(800)
    with pytest.raises(RateLimited) as info:
        await quota.admit(300)
    assert info.value.code == "provider_quota_exhausted" and bucket in info.value.message
    await adm.reconcile(500)            # the call used fewer tokens than estimated
    await quota.admit(300)              # the refund made room
    unlimited = ProviderQuota(rate_store, bucket + "-free", clock=clock)
    await unlimited.admit(10**9)


async def test_admission_refresh_extends_the_slot(store: Store, bucket: str) -> None:
    clock = Clock()
    limiter = RateLimiter(store, KeyLimits(concurrency=1), slot_ttl_s=30, clock=clock)
    adm = await limiter.admit(bucket, 1, 0)
    clock.t += 25
    assert await adm.refresh(30)
    clock.t += 25  # 50 s after admission: alive only thanks to the refresh
    assert await limiter.in_flight(bucket) == 1
    with pytest.raises(RateLimited):
        await limiter.admit(bucket, 1, 0)
    await adm.release()
    assert not await adm.refresh(30)
    assert await limiter.in_flight(bucket) == 0
