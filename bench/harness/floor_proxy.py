"""The floor of a Python proxy: what relaying a request costs with no gateway work at all.

    python -m harness.floor_proxy raw|uvicorn --port P --upstream U

Every POST's body goes unchanged to the upstream (``/v1/chat/completions`` or
``/v1/messages`` by the request's path) over one kept-alive connection, and the
upstream's body comes back with a Content-Length; ``GET /readyz`` answers "ok". No
parsing of the JSON, no routing, no logging, no metrics: the two loopback hops and the
event loop, and nothing else.

``raw``: an asyncio protocol on uvloop with httptools' parser, the least a Python
proxy can do. ``uvicorn``: the same relay as a plain ASGI app under uvicorn (httptools,
uvloop, as ``gateway serve`` runs it), so the difference is what an ASGI server costs.
``harness.shipped`` runs them as variants ``floor-proxy`` and ``floor-proxy-uvicorn``
(bench/README.md, "Third round").

One request at a time per upstream connection, which is what c=1 measures; under
concurrency the requests queue for the one connection (this is a floor, not a proxy).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import httptools
import uvloop

_UP_HEAD = (b" HTTP/1.1\r\nhost: upstream\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer sk-floor\r\nx-api-key: sk-floor\r\n"
            b"anthropic-version: 2023-06-01\r\ncontent-length: ")


class Upstream(asyncio.Protocol):
    """One kept-alive connection to the upstream; ``relay`` sends one request at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.waiter: asyncio.Future[bytes] | None = None
        self.lock = asyncio.Lock()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(body)

    async def relay(self, path: bytes, body: bytes) -> bytes:
        async with self.lock:
            assert self.transport is not None
            self.waiter = asyncio.get_running_loop().create_future()
            self.transport.write(b"POST " + path + _UP_HEAD + str(len(body)).encode()
                                 + b"\r\n\r\n" + body)
            return await self.waiter


def upstream_path(path: bytes) -> bytes:
    return b"/v1/messages" if path.endswith(b"/messages") else b"/v1/chat/completions"


def answer(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


class RawServer(asyncio.Protocol):
    """httptools on the socket, one task per request, the answer in one write."""

    def __init__(self, up: Upstream) -> None:
        self.up = up
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        url, self.url = self.url, b""
        body, self.body = b"".join(self.body), []
        assert self.transport is not None
        if self.parser.get_method() != b"POST":
            self.transport.write(answer(b"ok"))
            return
        asyncio.get_running_loop().create_task(self.serve(url, body))

    async def serve(self, url: bytes, body: bytes) -> None:
        out = await self.up.relay(upstream_path(url), body)
        assert self.transport is not None
        self.transport.write(answer(out))


async def connect(upstream: int) -> Upstream:
    _, up = await asyncio.get_running_loop().create_connection(
        Upstream, "127.0.0.1", upstream)
    return up


async def run_raw(port: int, upstream: int) -> None:
    up = await connect(upstream)
    server = await asyncio.get_running_loop().create_server(
        lambda: RawServer(up), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def asgi_app(upstream: int) -> Any:
    up: list[Upstream] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    up.append(await connect(upstream))
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        out = (await up[0].relay(upstream_path(scope["path"].encode()), b"".join(chunks))
               if scope["method"] == "POST" else b"ok")
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})

    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("server", choices=("raw", "uvicorn"))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", type=int, required=True)
    a = p.parse_args()
    if a.server == "raw":
        uvloop.run(run_raw(a.port, a.upstream))
    else:
        import uvicorn
        uvicorn.run(asgi_app(a.upstream), host="127.0.0.1", port=a.port, loop="uvloop",
                    http="httptools", access_log=False, log_level="warning",
                    proxy_headers=False, server_header=False)


if __name__ == "__main__":
    main()
