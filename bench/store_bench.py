"""Cost of the store operations on the request path.

    .venv/bin/python bench/store_bench.py                 # starts its own redis-server
    .venv/bin/python bench/store_bench.py --url redis://127.0.0.1:6380
    .venv/bin/python bench/store_bench.py --cluster       # starts a 3-master cluster

For each store: latency one call at a time (median, p99) and CPU per call with 16 calls
in flight (what a loaded gateway pays), for ``admit`` (rpm + tpm + daily budget + a
concurrency slot, the request's first call), ``settle`` (two corrections + the slot
release, its second), ``cache_get`` of a ~1 KB compressed hit, and ``rate_acquire``. On
standalone Redis both clients are measured in the same run: the pipelined
``RespClient`` the gateway uses and redis-py (``client="redis-py"``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.cache.entries import CachedResponse
from gateway.stores import MemoryStore, RateAdjust, RateCheck, RedisStore, Store

CHECKS = [RateCheck("rpm", 10**9, 60.0, 1), RateCheck("tpm", 10**12, 60.0, 1500),
          RateCheck("budget_usd", 10**9, 86400.0, 0.01, "fixed")]
ADJUSTS = [RateAdjust("tpm", 10**12, 60.0, -700),
           RateAdjust("budget_usd", 10**9, 86400.0, -0.004, "fixed")]
CONCURRENT = 16


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

    async def worker(k: int) -> None:
        for _ in range(k):
            await fn()
    cpu = time.process_time()
    await asyncio.gather(*[worker(n // CONCURRENT) for _ in range(CONCURRENT)])
    cpu_us = (time.process_time() - cpu) / (n // CONCURRENT * CONCURRENT) * 1e6
    print(f"{label:<32} median {statistics.median(samples):7.1f} us   p99 {p99:7.1f} us"
          f"   CPU {cpu_us:6.1f} us/call at c={CONCURRENT}   (n={n})")


async def bench(name: str, store: Store, n: int) -> None:
    entry = CachedResponse(
        body={"id": "chatcmpl-x", "object": "chat.completion", "model": "kimi-k2",
              "choices": [{"index": 0, "finish_reason": "stop", "message": {
                  "role": "assistant", "content": " ".join(f"word{i}" for i in range(300))}}]},
        provider="moonshot", upstream_model="kimi-k2").encode()
    await store.cache_set("rc:bench:hit", entry, 600)
    print(f"-- {name} (cache entry {len(entry)} bytes compressed)")
    ids = itertools.count()

    async def request() -> None:
        slot = f"s{next(ids)}"
        await store.admit("bench", CHECKS, slot_id=slot, slot_limit=10**6, slot_ttl_s=60)
        await store.settle("bench", ADJUSTS, slot_id=slot)
    await measure(f"{name} admit+settle", n, request)
    await measure(f"{name} rate_acquire x3", n, lambda: store.rate_acquire("bench", CHECKS))
    await measure(f"{name} cache_get (hit)", n, lambda: store.cache_get("rc:bench:hit"))
    await store.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--cluster", action="store_true")
    ap.add_argument("-n", type=int, default=5000)
    args = ap.parse_args()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # as the gateway runs
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
            asyncio.run(bench("redis-py", RedisStore.from_url(server.url, client="redis-py"),
                              args.n))


if __name__ == "__main__":
    main()
