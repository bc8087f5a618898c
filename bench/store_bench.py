"""Round-trip cost of the store operations on the request path.

    .venv/bin/python bench/store_bench.py                 # starts its own redis-server
    .venv/bin/python bench/store_bench.py --url redis://127.0.0.1:6380
    .venv/bin/python bench/store_bench.py --cluster       # starts a 3-master cluster

Measures, one call at a time (latency, not throughput): ``rate_acquire`` with the
three checks a key usually has (rpm, tpm, daily budget), ``cache_get`` of a ~1 KB
compressed hit, and a slot acquire+release pair; on MemoryStore for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.cache import CachedResponse  # noqa: E402
from gateway.stores import MemoryStore, RateCheck, RedisStore, Store  # noqa: E402

CHECKS = [RateCheck("rpm", 10**9, 60.0, 1), RateCheck("tpm", 10**12, 60.0, 1500),
          RateCheck("budget_usd", 10**9, 86400.0, 0.01, "fixed")]


async def measure(label: str, n: int, fn: Callable[[], Awaitable[object]]) -> None:
    for _ in range(min(200, n)):  # warm-up: connections, SCRIPT LOAD
        await fn()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t) * 1e6)
    samples.sort()
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(f"{label:<28} median {statistics.median(samples):7.1f} us   p99 {p99:7.1f} us"
          f"   (n={n})")


async def bench(name: str, store: Store, n: int) -> None:
    entry = CachedResponse(
        body={"id": "chatcmpl-x", "object": "chat.completion", "model": "kimi-k2",
              "choices": [{"index": 0, "finish_reason": "stop", "message": {
                  "role": "assistant", "content": " ".join(f"word{i}" for i in range(300))}}]},
        provider="moonshot", upstream_model="kimi-k2").encode()
    await store.cache_set("rc:bench:hit", entry, 600)
    print(f"-- {name} (cache entry {len(entry)} bytes compressed)")
    await measure(f"{name} rate_acquire x3", n, lambda: store.rate_acquire("bench", CHECKS))
    await measure(f"{name} cache_get (hit)", n, lambda: store.cache_get("rc:bench:hit"))

    async def slot() -> None:
        await store.slot_acquire("bench", 10**6, "s", 60)
        await store.slot_release("bench", "s")
    await measure(f"{name} slot acquire+release", n, slot)
    await store.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--cluster", action="store_true")
    ap.add_argument("-n", type=int, default=5000)
    args = ap.parse_args()
    asyncio.run(bench("memory", MemoryStore(), args.n))
    if args.url:
        asyncio.run(bench("redis", RedisStore.from_url(args.url), args.n))
        return
    from tests.support.redis_server import RedisCluster, RedisServer
    if args.cluster:
        with RedisCluster() as cluster:
            asyncio.run(bench("cluster", RedisStore.from_url(cluster.store_url), args.n))
    else:
        with RedisServer() as server:
            asyncio.run(bench("redis", RedisStore.from_url(server.url), args.n))


if __name__ == "__main__":
    main()
