"""Cache keys, cacheability and ResponseCache on both stores."""

from __future__ import annotations

import asyncio
import zlib

import orjson
import pytest

from gateway.cache.entries import CachedResponse, ResponseCache, cache_key, is_cacheable
from gateway.stores import MemoryStore, RedisStore, Store
from tests.support.redis_server import RedisServer

BODY = {
    "model": "kimi-fast",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    "temperature": 0,
    "max_tokens": 64,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"b": 1, "a": 2}}}],
}


def key(body: dict, **kw: str) -> str:
    args = {"upstream_model": "kimi-k2", "tenant": "acme", "surface": "openai", **kw}
    return cache_key(body, **args)


def completion(text: str = "hello") -> CachedResponse:
    return CachedResponse(
        body={"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "kimi-k2",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                           "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}},
        provider="moonshot", upstream_model="kimi-k2")


def test_key_ignores_order_and_delivery_fields() -> None:
    reordered = orjson.loads(orjson.dumps({k: BODY[k] for k in reversed(list(BODY))}))
    reordered["tools"][0]["function"]["parameters"] = {"a": 2, "b": 1}
    assert key(reordered) == key(BODY)
    noisy = {**BODY, "stream": True, "stream_options": {"include_usage": True}, "user": "u1",
             "metadata": {"trace": "x"}, "temperature": 0.0}
    assert key(noisy) == key(BODY)


@pytest.mark.parametrize("change", [
    {"temperature": 0.7}, {"max_tokens": 65}, {"seed": 1}, {"model": "kimi-smart"},
    {"messages": [{"role": "user", "content": "hi"}]}, {"tools": []}, {"n": 2},
    {"response_format": {"type": "json_object"}},
])
def test_key_changes_with_anything_that_changes_output(change: dict) -> None:
    assert key({**BODY, **change}) != key(BODY)


def test_key_scoped_by_tenant_model_and_surface() -> None:
    keys = {key(BODY), key(BODY, tenant="other"), key(BODY, upstream_model="claude-x"),
            key(BODY, surface="messages")}
    assert len(keys) == 4
    assert key(BODY).startswith("acme:") and key(BODY, tenant="a:b{c}").startswith("a%3Ab%7Bc%7D:")


def test_is_cacheable() -> None:
    assert is_cacheable({"temperature": 0}, "deterministic")
    assert is_cacheable({"temperature": 0.9, "seed": 7}, "deterministic")
    assert not is_cacheable({"temperature": 0.2}, "deterministic")
    assert not is_cacheable({}, "deterministic")  # default temperature is 1
    assert not is_cacheable({"temperature": False}, "deterministic")
    assert is_cacheable({"temperature": 1.0}, "all")
    assert not is_cacheable({"temperature": 0}, "off")


def test_entry_round_trip_is_compressed() -> None:
    entry = completion("word " * 2000)
    data = entry.encode()
    assert data[:1] == b"\x01" and len(data) < len(orjson.dumps(entry.body)) / 10
    assert orjson.loads(zlib.decompress(data[1:]))["provider"] == "moonshot"
    back = CachedResponse.decode(data)
    assert back == entry


async def test_hit_miss_and_tenant_isolation(store: Store, bucket: str) -> None:
    cache = ResponseCache(store, namespace=bucket)
    k_acme, k_other = key(BODY), key(BODY, tenant="other")
    assert await cache.get(k_acme) is None
    assert await cache.put(k_acme, completion("for acme"))
    hit = await cache.get(k_acme)
    assert hit is not None and hit.body["choices"][0]["message"]["content"] == "for acme"
    assert await cache.get(k_other) is None
    assert cache.stats["hits"] == 1 and cache.stats["misses"] == 2


async def test_max_entry_size(store: Store, bucket: str) -> None:
    cache = ResponseCache(store, namespace=bucket, max_entry_bytes=2000)
    # Pseudo-random CJK text barely compresses: ~9 KB stays well above 2000 bytes.
    big = completion("".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000)))
    assert not await cache.put("big", big)
    assert await cache.get("big") is None and cache.stats["too_large"] == 1
    assert await cache.put("small", completion("x" * 5000))  # compresses to far below
    assert await cache.get("small") is not None


async def test_ttl_expiry_memory() -> None:
    now = [100.0]
    cache = ResponseCache(MemoryStore(clock=lambda: now[0]), ttl_s=60)
    await cache.put("k", completion())
    now[0] = 159.9
    assert await cache.get("k") is not None
    now[0] = 160.0
    assert await cache.get("k") is None


async def test_ttl_expiry_redis(redis_server: RedisServer, bucket: str) -> None:
    store = RedisStore.from_url(redis_server.url)
    cache = ResponseCache(store, namespace=bucket)
    await cache.put("k", completion(), ttl_s=0.5)
    pttl = int(redis_server.cli("PTTL", f"gw:c:{bucket}:k"))
    assert 0 < pttl <= 500
    await asyncio.sleep(0.6)
    assert await cache.get("k") is None
    await store.close()


async def test_unreadable_entry_is_a_miss(store: Store, bucket: str) -> None:
    await store.cache_set(f"{bucket}:k", b"\x01not zlib", 60)
    cache = ResponseCache(store, namespace=bucket)
    assert await cache.get("k") is None and cache.stats["errors"] == 1


async def test_memory_cache_is_a_bounded_lru() -> None:
    store = MemoryStore(cache_max_bytes=1000)
    for i in range(4):
        await store.cache_set(f"k{i}", bytes(200), 60)
    assert await store.cache_get("k0") is not None  # k0 becomes most recently used
    await store.cache_set("k4", bytes(200), 60)     # exactly full
    await store.cache_set("k5", bytes(200), 60)     # evicts the LRU entry: k1, not k0
    assert await store.cache_get("k1") is None
    assert await store.cache_get("k0") is not None
    assert store.sizes()["cache_bytes"] == 1000 and store.sizes()["cache"] == 5
    await store.cache_set("huge", bytes(1001), 60)  # larger than the whole cache: dropped
    assert await store.cache_get("huge") is None and store.sizes()["cache"] == 5
