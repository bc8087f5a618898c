"""What the Redis round-trips add to a request, end to end through a real gateway.

    .venv/bin/python bench/redis_overhead.py              # 2,000 requests per store
    .venv/bin/python bench/redis_overhead.py --n 500 --cluster

Two ``gateway serve`` processes with the same config and the same limited key (rpm,
tpm, concurrency and a daily budget, all far above what the run uses, so every limit
is checked and charged), cache mode ``deterministic``: one on the memory store, one
on a redis-server this script starts (``--cluster``: a 3-master cluster). Both talk
to the loopback emulators, in a process of their own. One client sends the same
requests to both, one at a time and interleaved (memory, redis, memory, ...), so
both see the same machine load. Every request is a cache miss that is then stored
(unique prompt, temperature 0): the Redis path does slot acquire, rate acquire,
cache get, cache set, reconcile and slot release, the request path's full set.

Prints median and p99 of the client's end-to-end latency and of the gateway's own
``x-gateway-overhead-ms`` (its time minus the upstream's), for each store, and the
difference. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import multiprocessing.synchronize
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.limits_support import keys_yaml, process_config
from tests.support.gateway_process import GatewayProcess
from tests.support.redis_server import RedisCluster, RedisServer

# Far above what a run uses: every limit is checked and charged, none refuses.
LIMITS = ("{rpm: 10000000, tpm: 10000000000, concurrency: 1000, "
          "budget_usd_per_day: 1000000}")


def _emulators(ports: mp.Queue,  # type: ignore[type-arg]
               stop: multiprocessing.synchronize.Event) -> None:
    from gateway.emulators import (
        EmulatorControl,
        EmulatorServer,
        create_anthropic_app,
        create_moonshot_app,
    )
    kimi = EmulatorServer(create_moonshot_app(EmulatorControl()))
    claude = EmulatorServer(create_anthropic_app(EmulatorControl()))
    kimi.start()
    claude.start()
    ports.put((kimi.url, claude.url))
    stop.wait()
    kimi.stop()
    claude.stop()


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))]


def report(name: str, total: list[float], overhead: list[float]) -> None:
    print(f"{name:<7} end-to-end median {statistics.median(total):6.2f} ms  "
          f"p99 {pct(total, 0.99):6.2f} ms   gateway overhead median "
          f"{statistics.median(overhead):6.2f} ms  p99 {pct(overhead, 0.99):6.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="requests per store")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--cluster", action="store_true", help="a 3-master Redis Cluster")
    ap.add_argument("--limits", default=LIMITS,
                    help="the key's limits (YAML flow map), e.g. '{rpm: 1000000}'")
    args = ap.parse_args()

    ports: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    stop = mp.Event()
    emu = mp.Process(target=_emulators, args=(ports, stop), daemon=True)
    emu.start()
    kimi_url, claude_url = ports.get(timeout=20)
    redis = RedisCluster() if args.cluster else RedisServer()
    try:
        redis.start()
        url = redis.store_url if isinstance(redis, RedisCluster) else redis.url
        keys = keys_yaml(bench=args.limits)
        cfg = {name: process_config(kimi_url, claude_url, keys=keys, redis_url=u,
                                    extra="cache: {mode: deterministic}")
               for name, u in (("memory", ""), ("redis", url))}
        with GatewayProcess(cfg["memory"]) as mem, GatewayProcess(cfg["redis"]) as red:
            gws = {"memory": mem.url, "redis": red.url}
            total: dict[str, list[float]] = {"memory": [], "redis": []}
            overhead: dict[str, list[float]] = {"memory": [], "redis": []}
            with httpx.Client(timeout=10, headers={"authorization": "Bearer kbench"}) as c:
                for i in range(args.warmup + args.n):
                    body = {"model": "claude-opus", "temperature": 0, "max_tokens": 50,
                            "messages": [{"role": "user",
                                          "content": f"measure me {uuid.uuid4().hex}"}]}
                    order = ("memory", "redis") if i % 2 == 0 else ("redis", "memory")
                    for name in order:
                        t = time.perf_counter()
                        r = c.post(gws[name] + "/v1/chat/completions", json=body)
                        elapsed = (time.perf_counter() - t) * 1000
                        if r.status_code != 200 or r.headers.get("x-gateway-cache") != "miss":
                            raise SystemExit(f"{name}: {r.status_code} "
                                             f"{r.headers.get('x-gateway-cache')} {r.text[:200]}")
                        if i >= args.warmup:
                            total[name].append(elapsed)
                            overhead[name].append(float(r.headers["x-gateway-overhead-ms"]))
            ready = httpx.get(red.url + "/readyz", timeout=5).json()
            if not ready["store"]["ok"]:
                raise SystemExit(f"redis was not used throughout: {ready}")
        kind = "3-master cluster" if args.cluster else "standalone"
        print(f"{args.n} sequential requests per store, interleaved; Redis {kind}")
        for name in ("memory", "redis"):
            report(name, total[name], overhead[name])
        d = statistics.median(total["redis"]) - statistics.median(total["memory"])
        d99 = pct(total["redis"], 0.99) - pct(total["memory"], 0.99)
        print(f"redis - memory: median {d:+.2f} ms, p99 {d99:+.2f} ms per request")
    finally:
        redis.stop() if isinstance(redis, RedisCluster) else redis.cleanup()
        stop.set()
        emu.join(10)


if __name__ == "__main__":
    main()
