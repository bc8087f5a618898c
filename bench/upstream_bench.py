"""The upstream client alone: CPU per small POST and its JSON response, three clients.

    python bench/upstream_bench.py [--requests 4000] [--concurrency 16]

Each client sends the same Kimi chat completion to the harness's nginx mock (a static
answer, a few microseconds) from 16 concurrent loops in this process, after a warm-up;
the CPU time of this process per request is what the client costs the gateway. The
three run in turn, three rounds, medians printed:

- ``h1``: the gateway's client (gateway/providers/h1.py) through ``ProviderClient``,
  exactly as a request uses it (headers, JSON parse, checks, error mapping);
- ``aiohttp``: a pooled ``aiohttp.ClientSession`` (the gateway's client before h1);
- ``httpx``: ``httpx.AsyncClient`` with its default transport.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
import orjson
import uvloop

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from harness import payloads
from harness.mock import mock_conf, nginx_argv
from harness.procs import Procs, free_port, port_open
from harness.run import _bench_dir, _python

from gateway.config import ProviderConfig
from gateway.providers.client import ProviderClient

BODY = {"model": payloads.KIMI_UPSTREAM,
        "messages": [{"role": "user", "content": payloads.SHORT_PROMPT}]}
HEADERS = {"content-type": "application/json", "accept": "application/json",
           "authorization": f"Bearer {payloads.KIMI_KEY}", "user-agent": "llm-gateway/0.1"}

Call = Callable[[], Awaitable[None]]


async def h1_client(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    pc = ProviderClient("kimi", ProviderConfig(type="openai", base_url=base + "/v1",
                                               api_key=payloads.KIMI_KEY))

    async def one() -> None:
        res = await pc.post_json(BODY)
        assert res.body["choices"]
    return one, pc.close


async def aiohttp_client(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256),
                              skip_auto_headers=("User-Agent",))
    url, data = base + "/v1/chat/completions", orjson.dumps(BODY)

    async def one() -> None:
        async with s.post(url, data=data, headers=HEADERS) as r:
            assert orjson.loads(await r.read())["choices"]
    return one, s.close


async def httpx_client(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    c = httpx.AsyncClient(limits=httpx.Limits(max_connections=256))
    url, data = base + "/v1/chat/completions", orjson.dumps(BODY)

    async def one() -> None:
        r = await c.post(url, content=data, headers=HEADERS)
        assert orjson.loads(r.content)["choices"]
    return one, c.aclose


CLIENTS = {"h1": h1_client, "aiohttp": aiohttp_client, "httpx": httpx_client}


async def measure(make: Callable[[str], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]],
                  base: str, requests: int, concurrency: int) -> float:
    one, close = await make(base)
    try:
        for _ in range(200):
            await one()

        async def loop() -> None:
            for _ in range(requests // concurrency):
                await one()
        c0 = time.process_time()
        await asyncio.gather(*[loop() for _ in range(concurrency)])
        return (time.process_time() - c0) / (requests // concurrency * concurrency) * 1e6
    finally:
        await close()


async def run(base: str, requests: int, concurrency: int, rounds: int) -> dict[str, float]:
    got: dict[str, list[float]] = {k: [] for k in CLIENTS}
    for _ in range(rounds):
        for name, make in CLIENTS.items():
            got[name].append(await measure(make, base, requests, concurrency))
    return {k: statistics.median(v) for k, v in got.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=4000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="upstream-bench-"))
    procs = Procs(work)
    try:
        reader_port, port = free_port(), free_port()
        reader = procs.start("body-reader", [*_python(), "-m", "harness.stream_server",
                                             "--port", str(reader_port)], cwd=_bench_dir())
        procs.wait_ready(reader, lambda: port_open(reader_port))
        mock = procs.start("mock", nginx_argv(mock_conf(port, work, reader_port), work))
        procs.wait_ready(mock, lambda: port_open(port))
        res = uvloop.run(run(f"http://127.0.0.1:{port}", a.requests, a.concurrency, a.rounds))
    finally:
        procs.stop_all()
    print(f"CPU per request, {a.concurrency} concurrent, median of {a.rounds} rounds "
          f"of {a.requests}:")
    for name, us in res.items():
        print(f"  {name:<8} {us:7.1f} us   ({us / res['h1']:.1f}x h1)")


if __name__ == "__main__":
    main()
