"""Redis dies under a fail_open gateway: requests keep succeeding (cache bypassed,
limits per process), /readyz and /metrics say so, and when Redis is back it is used
again without a restart, counting nothing twice."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.limits_support import chat, keys_yaml, nonce, oai, redis_client, wait_until

KEYS = keys_yaml(a="{rpm: 4}", b="{}")
EXTRA = "redis: {on_error: fail_open, timeout_ms: 250}\ncache: {mode: deterministic}"


def ask(text: str | None = None) -> dict:
    return {"model": "claude-opus", "temperature": 0,
            "messages": [{"role": "user", "content": text or f"outage {nonce()}"}]}


def ready(gw) -> httpx.Response:
    return httpx.get(gw.url + "/readyz", timeout=5)


def degraded_gauge(gw) -> str:
    text = httpx.get(gw.url + "/metrics", timeout=5).text
    return next(line for line in text.splitlines()
                if line.startswith("gateway_store_degraded "))


@pytest.fixture
def gw(make_gateway, own_redis):
    return make_gateway(keys=KEYS, extra=EXTRA, redis_url=own_redis.url)


def test_kill_serve_degraded_then_recover(make_gateway, gw, own_redis, claude):
    for left in ("3", "2"):
        r = chat(gw, "ka", ask())
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining-requests"] == left
    assert ready(gw).status_code == 200
    assert degraded_gauge(gw) == "gateway_store_degraded 0.0"

    own_redis.kill()
    # Still serving; the cache is bypassed, even for a cacheable request.
    statuses, caches, remaining = [], [], []
    for _ in range(5):
        r = chat(gw, "ka", ask())
        statuses.append(r.status_code)
        caches.append(r.headers.get("x-gateway-cache"))
        remaining.append(r.headers.get("x-ratelimit-remaining-requests"))
    # Limits are still enforced, per process, from memory (which starts empty).
    assert statuses == [200, 200, 200, 200, 429]
    assert caches == ["bypass"] * 5
    assert remaining == ["3", "2", "1", "0", "0"]
    # The gauge moved when Redis was lost, before anyone asked /readyz.
    assert degraded_gauge(gw) == "gateway_store_degraded 1.0"
    r = ready(gw)
    assert r.status_code == 503
    assert "fail_open" in r.json()["reason"] and r.json()["store"]["degraded"] is True

    own_redis.restart()  # empty: it lost the two requests it had counted
    assert wait_until(lambda: ready(gw).status_code == 200, timeout=10, step=0.2)
    assert degraded_gauge(gw) == "gateway_store_degraded 0.0"
    # Redis counts from what it holds (nothing): the outage's requests were not
    # copied into it, nor counted twice.
    got = [chat(gw, "ka", ask()) for _ in range(5)]
    assert [r.status_code for r in got] == [200, 200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in got[:4]] == ["3", "2", "1", "0"]
    assert redis_client(own_redis.url).hget("gw:{t:a}:rl:rpm", "l") is not None

    # The cache is shared again: an entry stored now is seen by another replica.
    q = ask()
    assert chat(gw, "kb", q).headers["x-gateway-cache"] == "miss"
    other = make_gateway(keys=KEYS, extra=EXTRA, redis_url=own_redis.url)
    hit = chat(other, "kb", q)
    assert hit.status_code == 200 and hit.headers["x-gateway-cache"] == "hit"


def test_cache_entries_stored_before_the_outage_survive_a_pause(gw, own_redis, claude):
    q = ask()
    assert chat(gw, "kb", q).headers["x-gateway-cache"] == "miss"
    own_redis.pause()
    try:
        # A hung Redis costs about one store timeout (2 x 250 ms), not a hang.
        r = chat(gw, "kb", q, timeout=2.5)
        assert r.status_code == 200 and r.headers["x-gateway-cache"] == "bypass"
        r = chat(gw, "ka", ask(), timeout=2.5)
        assert r.status_code == 200
        assert ready(gw).status_code == 503
    finally:
        own_redis.resume()
    assert wait_until(lambda: ready(gw).status_code == 200, timeout=10, step=0.2)
    assert chat(gw, "kb", q).headers["x-gateway-cache"] == "hit"
    assert len(claude.control.requests) == 3


def test_hung_redis_counts_nothing_twice_and_leaks_no_slot(make_gateway, own_redis, claude):
    """Commands sent to a SIGSTOPped Redis run when it wakes up; the request they
    belonged to was already served from memory, so they must change nothing."""
    gw = make_gateway(keys=keys_yaml(a="{rpm: 4, concurrency: 2}"), extra=EXTRA,
                      redis_url=own_redis.url)
    assert chat(gw, "ka", ask()).headers["x-ratelimit-remaining-requests"] == "3"
    own_redis.pause()
    try:
        r = chat(gw, "ka", ask(), timeout=2.5)  # answered within about a store timeout
        assert r.status_code == 200
    finally:
        own_redis.resume()
    assert wait_until(lambda: ready(gw).status_code == 200, timeout=10, step=0.2)
    # Redis counted the request before the pause and this one, not the one it slept on.
    assert chat(gw, "ka", ask()).headers["x-ratelimit-remaining-requests"] == "2"
    assert wait_until(lambda: own_redis.cli("ZCARD", "gw:{t:a}:slots").strip() == "0")


def test_slot_released_during_an_outage_is_freed_when_redis_is_back(make_gateway, own_redis,
                                                                     claude):
    gw = make_gateway(keys=keys_yaml(c="{concurrency: 2}"), extra=EXTRA,
                      redis_url=own_redis.url)
    claude.control.chunk_delay = 0.05
    stream = oai(gw, "kc").chat.completions.create(
        model="claude-opus", stream=True,
        messages=[{"role": "user", "content": " ".join(["held"] * 40)}])
    next(iter(stream))
    assert own_redis.cli("ZCARD", "gw:{t:c}:slots").strip() == "1"  # held in Redis
    own_redis.pause()
    try:
        assert ready(gw).status_code == 503  # known down: for 1 s Redis is not tried
        stream.close()  # so the release is not even sent
        assert claude.control.wait_for(lambda c: c.active_streams == 0)
    finally:
        own_redis.resume()
    assert wait_until(lambda: ready(gw).status_code == 200, timeout=10, step=0.2)
    # Freed now, not when its 300 s TTL runs out.
    assert wait_until(lambda: own_redis.cli("ZCARD", "gw:{t:c}:slots").strip() == "0")
