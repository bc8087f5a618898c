"""Several ``GatewayProcess``es sharing one Redis, and concurrent bursts across them."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.limits_support import wait_until
from tests.support.gateway_process import GatewayProcess


@contextmanager
def replicas(config_text: str, n: int) -> Iterator[list[GatewayProcess]]:
    """``n`` gateway processes on one config, started in parallel, ready on Redis."""
    procs = [GatewayProcess(config_text) for _ in range(n)]
    try:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda p: p.start(), procs))
        for p in procs:
            # /readyz probes Redis: every replica is on the shared store, not degraded.
            assert wait_until(functools.partial(_ready, p.url), timeout=10, step=0.1), \
                p.log()[-2000:]
        yield procs
    finally:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda p: p.__exit__(None, None, None), procs))


def _ready(url: str) -> bool:
    return httpx.get(url + "/readyz", timeout=5).status_code == 200


@dataclass
class Burst:
    statuses: list[int] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)

    def count(self, status: int) -> int:
        return self.statuses.count(status)


async def _one(client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any],
               read_chunks: int | None, decided: _Countdown) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {key}"}
    if read_chunks is None:
        r = await client.post(url + "/v1/chat/completions", json=body, headers=headers)
        decided.tick()
        return r.status_code, r.json()
    async with client.stream("POST", url + "/v1/chat/completions", json=body,
                             headers=headers) as r:
        decided.tick()
        if r.status_code != 200:
            await r.aread()
            return r.status_code, r.json()
        # Hold the slot until every request of the burst has its answer, so the
        # count of admissions does not depend on how fast streams end.
        await decided.done.wait()
        got = 0
        async for _ in r.aiter_lines():
            got += 1
            if read_chunks and got >= read_chunks:
                break  # leave mid-stream: the connection is closed under the gateway
        return r.status_code, got


class _Countdown:
    def __init__(self, n: int) -> None:
        self.left = n
        self.done = asyncio.Event()

    def tick(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.done.set()


def burst(urls: list[str], m: int, key: str, body: dict[str, Any], *,
          read_chunks: int | Callable[[int], int] | None = None) -> Burst:
    """``m`` requests at once, spread round-robin over ``urls``. A stream request
    reads ``read_chunks`` lines (or ``read_chunks(i)``) then leaves, 0 reads to the
    end; None sends non-stream requests."""
    async def run() -> Burst:
        limits = httpx.Limits(max_connections=m, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=20, limits=limits) as client:
            rr = itertools.cycle(urls)
            decided = _Countdown(m)
            jobs = []
            for i in range(m):
                rc = read_chunks(i) if callable(read_chunks) else read_chunks
                jobs.append(_one(client, next(rr), key, body, rc, decided))
            results = await asyncio.gather(*jobs)
        out = Burst()
        for status, payload in results:
            out.statuses.append(status)
            out.bodies.append(payload)
        return out
    return asyncio.run(run())
