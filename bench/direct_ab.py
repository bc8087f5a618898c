"""The server layer of one proxy request, the direct way against the ASGI way, in one
process (gateway/direct.py).

    .venv/bin/python bench/direct_ab.py [--n 10000] [--rounds 7]

The gateway's own protocol (``conn_guard.GuardedHttpTools``, as ``gateway serve``
runs it) on uvloop is fed a chat-completions request as a client would send it (an
SDK's headers, a 180-byte body) and answers it through a stand-in of the proxy
handler: the body read with ``read_body``, a 388-byte ``JSONResponse`` with the six
headers a proxied answer carries. The transport only counts writes, so what is timed
is the protocol, the cycle, the request and response objects and the event loop's
task: everything of a request that is not the gateway's own work or a syscall.
The direct way is the exact path; the ASGI way the same path with an empty query
(``?``), which the direct way leaves to uvicorn's cycle. Rounds alternate; the median
per way is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from uvicorn.config import Config
from uvicorn.server import ServerState

from gateway.conn_guard import GuardedHttpTools
from gateway.direct import DirectCycle
from gateway.http import JSONResponse, ProxiedRequest, read_body

PATH = b"/v1/chat/completions"
HEADERS = {"x-request-id": "a" * 32, "x-gateway-cache": "bypass",
           "x-gateway-provider": "claude", "x-gateway-model": "claude-opus-4-5",
           "x-gateway-route": "default", "x-gateway-overhead-ms": "0.21"}
ANSWER = b"y" * 388


def request(path: bytes) -> bytes:
    return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
            b"content-type: application/json\r\ncontent-length: 180\r\n"
            b"user-agent: OpenAI/Python 1.0\r\naccept: application/json\r\n"
            b"x-stainless-lang: python\r\n\r\n" + b"x" * 180)


class Transport:
    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1

    def writelines(self, data: Any) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name in ("peername", "sockname") else default


class App:
    """``GatewayApp``'s two ways around a stand-in handler."""

    def __init__(self) -> None:
        self.direct_routes = {PATH: self._direct}
        self.answered = 0

    @staticmethod
    async def handle(req: ProxiedRequest) -> JSONResponse:
        await read_body(req, 1 << 20, 30)
        return JSONResponse(ANSWER, 200, HEADERS)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        resp = await self.handle(ProxiedRequest(scope, receive, send))
        await resp(scope, receive, send)
        self.answered += 1

    async def _direct(self, cycle: DirectCycle) -> None:
        resp = await self.handle(ProxiedRequest(cycle.scope, cycle.receive, cycle.send,
                                                cycle.whole_body))
        if not (resp.given_only() and cycle.answer(resp.status_code, resp.head_fields(),
                                                            resp.body)):
            await resp(cycle.scope, cycle.receive, cycle.send)
        self.answered += 1


async def serve(proto: GuardedHttpTools, app: App, data: bytes, n: int) -> None:
    for _ in range(n):
        target = app.answered + 1
        proto.data_received(data)
        while app.answered < target:
            await asyncio.sleep(0)


async def main(n: int, rounds: int) -> None:
    app = App()
    cfg = Config(app=app, http="gateway.conn_guard:GuardedHttpTools", log_level="warning",
                 access_log=False, proxy_headers=False, server_header=False, lifespan="off")
    cfg.load()
    proto = GuardedHttpTools(config=cfg, server_state=ServerState(), app_state={},
                             _loop=asyncio.get_running_loop())
    transport = Transport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    ways = {"direct": request(PATH), "asgi": request(PATH + b"?")}
    for data in ways.values():  # warm-up
        await serve(proto, app, data, n // 4)
    times: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(rounds):
        for way, data in ways.items():
            t0 = time.perf_counter()
            await serve(proto, app, data, n)
            times[way].append((time.perf_counter() - t0) / n * 1e6)
    direct, asgi = (statistics.median(times[w]) for w in ("direct", "asgi"))
    writes = transport.writes / app.answered
    print(f"direct {direct:.1f} us/req, asgi {asgi:.1f} us/req, direct/asgi {direct / asgi:.2f}"
          f" ({rounds} rounds of {n}; {writes:.2f} writes per answer)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args()
    uvloop.run(main(a.n, a.rounds))
