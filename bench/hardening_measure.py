"""The figures of docs/hardening.md, "Second round": hostile requests against a real
``gateway serve`` process (peak RSS from /proc, wall time from the client).

    PYTHONPATH=. .venv/bin/python bench/hardening_measure.py

About a minute; each attack runs against a fresh process so peaks do not mix.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.providers import h1  # noqa: E402
from gateway.providers.client import MAX_RESPONSE_BYTES  # noqa: E402
from tests.support.gateway_process import GatewayProcess  # noqa: E402
from tests.support.gateway_server import test_config_text  # noqa: E402
from tests.upstream.test_h1 import Server, pool_for, post as h1_post, response  # noqa: E402
from tests.upstream.test_h1_hostile import BOMB  # noqa: E402

MB = 1024 * 1024


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def process(extra: str = "") -> GatewayProcess:
    return GatewayProcess(test_config_text("http://127.0.0.1:9/v1", "http://127.0.0.1:9",
                                           extra)).start()


def post(gp: GatewayProcess, path: str, body: bytes) -> tuple[int, float]:
    t = time.perf_counter()
    r = httpx.post(gp.url + path, content=body, timeout=60,
                   headers={"content-type": "application/json", "x-api-key": "x"})
    return r.status_code, time.perf_counter() - t


def body_attacks() -> None:
    cases = {
        "32 MB of {} to count_tokens": ("/v1/messages/count_tokens",
                                        b'{"model":"claude-opus","messages":[],"junk":['
                                        + b"{}," * (32 * MB // 3 - 20) + b"{}]}"),
        "1,000,000 one-word messages (30 MB)": ("/v1/chat/completions", orjson.dumps(
            {"model": "claude-opus", "messages": [{"role": "user", "content": "w"}]
             * 1_000_000})),
        "30 MB of prose in one message to count_tokens": (
            "/v1/messages/count_tokens", orjson.dumps(
                {"model": "claude-opus", "max_tokens": 1, "messages": [
                    {"role": "user", "content": "Lorem ipsum, dolor sit amet. " * (30 * MB // 29)}]})),
    }
    for name, (path, body) in cases.items():
        gp = process()
        try:
            before = rss_mb(gp.proc.pid, "VmRSS")
            status, took = post(gp, path, body)
            peak = rss_mb(gp.proc.pid)
            print(f"| {name} | {status} | {took * 1000:.0f} ms "
                  f"({took * 1000 / (len(body) / MB):.0f} ms/MB) | "
                  f"{before:.0f} -> {peak:.0f} MB ({(peak - before) / (len(body) / MB):.1f}x body) |")
        finally:
            gp.stop()


def slow_clients() -> None:
    gp = process("server: {head_timeout_s: 10}")
    try:
        socks = []
        for _ in range(1100):
            s = socket.create_connection(("127.0.0.1", gp.port))
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
            socks.append(s)
        t = time.perf_counter()
        ok = httpx.get(gp.url + "/healthz", timeout=5).status_code
        print(f"| /healthz with 1,100 half-sent heads open | {ok} in "
              f"{(time.perf_counter() - t) * 1000:.0f} ms |")
        trickle = socks[:50]

        def drip() -> None:
            while True:
                for s in trickle:
                    try:
                        s.sendall(b"x-slow: 1\r\n")
                    except OSError:
                        return
                time.sleep(5)

        threading.Thread(target=drip, daemon=True).start()
        t = time.perf_counter()
        silent = socket.create_connection(("127.0.0.1", gp.port))
        silent.settimeout(30)
        got = silent.recv(100)
        print(f"| a connection that sends nothing | closed after "
              f"{time.perf_counter() - t:.1f} s ({got!r}) |")
        trickle[0].settimeout(30)
        data = b""
        while True:
            chunk = trickle[0].recv(200)
            if not chunk:
                break
            data += chunk
        first_line = data.split(b"\r\n")[0].decode()
        print(f"| one header line every 5 s | closed after {time.perf_counter() - t:.1f} s "
              f"({first_line}) |")
        for s in socks:
            s.close()
    finally:
        gp.stop()


def rss_self_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def upstream_attacks() -> None:
    """The upstream client alone (providers/h1.py), against scripted loopback servers."""

    async def bomb(c: int, r: int, b: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(response(BOMB, headers="content-encoding: gzip\r\n"))
        await w.drain()
        return True

    async def big_head(c: int, r: int, b: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nx-big: ")
        try:
            for _ in range(200):
                w.write(b"a" * MB)
                await w.drain()
        except ConnectionError:
            pass
        return False

    async def repeats(c: int, r: int, b: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\n" + b"set-cookie: a=b\r\n" * 100_000
                + b"content-length: 2\r\n\r\n{}")
        await w.drain()
        return False

    for name, handler in [("gzip bomb, 1 MB -> 1 GiB (body limit 64 MiB)", bomb),
                          ("200 MB response head", big_head),
                          ("100,000 repeated headers", repeats)]:
        before, t = rss_self_mb(), time.perf_counter()
        err = "accepted"
        async with Server(handler) as srv:
            pool = pool_for(srv.url)
            try:
                await h1_post(pool, srv.url, cap=MAX_RESPONSE_BYTES)
            except h1.HttpClientError as e:
                err = f"{type(e).__name__}: {e}"
            pool.close()
        print(f"| {name} | {err} | {(time.perf_counter() - t) * 1000:.0f} ms | "
              f"peak RSS +{rss_self_mb() - before:.0f} MB |")


if __name__ == "__main__":
    body_attacks()
    slow_clients()
    asyncio.run(upstream_attacks())
