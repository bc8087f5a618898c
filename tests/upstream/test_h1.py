"""The upstream HTTP/1.1 client (gateway/providers/h1.py) against real loopback servers.

Each test runs a small asyncio server that answers with exactly the bytes the test
scripts (chunked, EOF-delimited, gzip, malformed, closing...), and counts the
connections it accepted, so reuse and the pool's limit are seen from the server side.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Self

import pytest

from gateway.providers import h1
from tests.support.redis_server import make_tls_files

Handler = Callable[[int, int, bytes, asyncio.StreamWriter], Awaitable[bool]]


class Server:
    """Reads requests (head + Content-Length body); ``handler(conn_no, req_no, body,
    writer)`` answers and returns whether to keep reading on this connection."""

    def __init__(self, handler: Handler, ssl: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl = ssl
        self.connections = 0
        self.requests: list[bytes] = []
        self.open = 0
        self.peak_open = 0
        self.readers: dict[int, asyncio.StreamReader] = {}
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"https://localhost:{port}" if self.ssl else f"http://127.0.0.1:{port}"

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn_no = self.connections
        self.readers[conn_no] = r
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        try:
            req_no = 0
            while True:
                try:
                    head = await r.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await r.readexactly(length)
                self.requests.append(head + body)
                req_no += 1
                if not await self.handler(conn_no, req_no, body, w):
                    return
        finally:
            self.open -= 1
            w.close()


def response(body: bytes, *, status: str = "200 OK", headers: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{headers}"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


async def ok(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
    w.write(response(b'{"echo": %b, "conn": %d}' % (body, conn_no)))
    await w.drain()
    return True


def pool_for(url: str, **kw: float) -> h1.Pool:
    return h1.Pool(h1.Origin(url), limit=int(kw.get("limit", 8)),
                   keepalive_s=kw.get("keepalive_s", 30.0),
                   connect_timeout_s=kw.get("connect_timeout_s", 1.0))


def payload(origin_url: str, body: bytes = b"1") -> tuple[bytes, bytes]:
    origin = h1.Origin(origin_url)
    return h1.request_head(origin, "/v1/x", {"content-type": "application/json"},
                           len(body)), body


async def post(pool: h1.Pool, url: str, body: bytes = b"1", cap: int = 1 << 20) -> bytes:
    c = await h1.exchange(pool, payload(url, body))
    try:
        return await c.read_body(cap)
    finally:
        pool.release(c, True)


async def test_keep_alive_reuses_one_connection_and_the_request_is_exact() -> None:
    async with Server(ok) as srv:
        pool = pool_for(srv.url)
        got = [await post(pool, srv.url, b"%d" % i) for i in range(5)]
        assert got == [b'{"echo": %d, "conn": 1}' % i for i in range(5)]
        assert srv.connections == 1
        port = srv.url.rsplit(":", 1)[1]
        assert srv.requests[0] == (b"POST /v1/x HTTP/1.1\r\nhost: 127.0.0.1:" + port.encode()
                                   + b"\r\ncontent-type: application/json\r\n"
                                   b"content-length: 1\r\n\r\n0")
        assert pool.in_use == 0 and len(pool.idle) == 1
        pool.close()


async def test_chunked_eof_delimited_gzip_and_repeated_headers() -> None:
    big = b'{"text": "%b"}' % (b"x" * 100_000)

    async def handler(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        if body == b"chunked":
            w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: 1\r\nX-A: 2\r\n\r\n")
            for i in range(0, len(big), 7000):
                part = big[i:i + 7000]
                w.write(b"%x\r\n%b\r\n" % (len(part), part))
                await w.drain()
            w.write(b"0\r\n\r\n")
            return True
        if body == b"gzip":
            w.write(response(gzip.compress(big), headers="content-encoding: gzip\r\n"))
            return True
        if body == b"deflate":
            w.write(response(zlib.compress(big), headers="content-encoding: deflate\r\n"))
            return True
        w.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + big)  # up to EOF
        await w.drain()
        return False

    async with Server(handler) as srv:
        pool = pool_for(srv.url)
        c = await h1.exchange(pool, payload(srv.url, b"chunked"))
        assert c.headers["x-a"] == "1, 2"
        assert await c.read_body(1 << 20) == big
        pool.release(c, True)
        assert await post(pool, srv.url, b"gzip") == big
        assert await post(pool, srv.url, b"deflate") == big
        assert srv.connections == 1  # all three kept the connection
        assert await post(pool, srv.url, b"eof") == big
        assert pool.count == 0  # the EOF-delimited one was not kept
        pool.close()


async def test_pool_limit_queues_requests_and_every_one_completes() -> None:
    async def slow(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.02)
        return await ok(conn_no, req_no, body, w)

    async with Server(slow) as srv:
        pool = pool_for(srv.url, limit=3)
        got = await asyncio.gather(*[post(pool, srv.url, b"%d" % i) for i in range(30)])
        assert [g.split(b",")[0] for g in got] == [b'{"echo": %d' % i for i in range(30)]
        assert srv.peak_open == 3 and srv.connections == 3
        assert pool.in_use == 0 and pool.count == 3
        pool.close()


async def test_a_reused_connection_closed_without_an_answer_is_retried_once() -> None:
    async def closes_second(conn_no: int, req_no: int, body: bytes,
                            w: asyncio.StreamWriter) -> bool:
        if req_no == 2:
            return False  # the server dropped the idle connection: no answer at all
        return await ok(conn_no, req_no, body, w)

    async with Server(closes_second) as srv:
        pool = pool_for(srv.url)
        assert await post(pool, srv.url, b"1") == b'{"echo": 1, "conn": 1}'
        assert await post(pool, srv.url, b"2") == b'{"echo": 2, "conn": 2}'
        assert srv.connections == 2
        pool.close()


async def test_a_response_broken_off_is_not_retried() -> None:
    async def half(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"partial")
        await w.drain()
        return False

    async with Server(half) as srv:
        pool = pool_for(srv.url)
        with pytest.raises(h1.Disconnected) as exc:
            await post(pool, srv.url)
        assert exc.value.started
        assert len(srv.requests) == 1
        assert pool.count == 0
        pool.close()


async def test_malformed_response_oversize_body_and_unknown_encoding_fail_clearly() -> None:
    async def handler(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        if body == b"junk":
            w.write(b"SMTP READY\r\n\r\n")
        elif body == b"big":
            w.write(response(b"x" * 5000))
        else:
            w.write(response(b"abc", headers="content-encoding: br\r\n"))
        return True

    async with Server(handler) as srv:
        pool = pool_for(srv.url)
        with pytest.raises(h1.BadResponse, match="malformed HTTP response"):
            await post(pool, srv.url, b"junk")
        with pytest.raises(h1.TooLarge):
            await post(pool, srv.url, b"big", cap=1000)
        with pytest.raises(h1.BadResponse, match="unsupported content-encoding 'br'"):
            await post(pool, srv.url, b"br")
        assert pool.in_use == 0
        pool.close()


async def test_nobody_listening_is_connect_failed() -> None:
    async with Server(ok) as srv:
        url = srv.url
    pool = pool_for(url)
    with pytest.raises(h1.ConnectFailed, match="^Connection refused$"):
        await post(pool, url)
    assert pool.count == 0
    pool.close()


async def test_stream_chunks_idle_timeout_and_back_pressure() -> None:
    release = asyncio.Event()

    async def handler(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n")
        if body == b"idle":
            w.write(b"5\r\nhello\r\n")
            await w.drain()
            await release.wait()  # then nothing: the client's idle timeout must fire
            return False
        # 4 MB as fast as the socket takes it, to a consumer that does not read yet
        part = b"y" * 65536
        for _ in range(64):
            w.write(b"%x\r\n%b\r\n" % (len(part), part))
            await w.drain()
        w.write(b"0\r\n\r\n")
        await w.drain()
        return True

    async with Server(handler) as srv:
        pool = pool_for(srv.url)
        c = await h1.exchange(pool, payload(srv.url, b"idle"))
        assert await c.next_chunk(1.0) == b"hello"
        with pytest.raises(TimeoutError):
            await c.next_chunk(0.2)
        pool.release(c, False)
        release.set()

        c = await h1.exchange(pool, payload(srv.url, b"fast"))
        await asyncio.sleep(0.3)  # the consumer is slow: reading paused at the mark
        assert c.paused and h1.HIGH_WATER <= c.buffered < h1.HIGH_WATER + 200_000
        total = 0
        while chunk := await c.next_chunk(5.0):
            total += len(chunk)
        assert total == 64 * 65536
        pool.release(c, True)
        assert pool.in_use == 0 and len(pool.idle) == 1  # read to the end: reusable
        pool.close()


async def test_a_caller_cancelled_mid_response_closes_its_connection() -> None:
    seen_closed = asyncio.Event()

    async def stall(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345")
        await w.drain()
        if await srv.readers[conn_no].read() == b"":  # EOF: the client closed it
            seen_closed.set()
        return False

    async with Server(stall) as srv:
        pool = pool_for(srv.url)
        task = asyncio.ensure_future(post(pool, srv.url))
        await asyncio.sleep(0.1)
        assert pool.in_use == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.in_use == 0 and pool.count == 0
        await asyncio.wait_for(seen_closed.wait(), 2)  # the server saw the connection go
        pool.close()


def test_header_values_with_line_breaks_are_refused() -> None:
    origin = h1.Origin("https://api.example.com/v1")
    assert origin.port == 443 and origin.host_header == "api.example.com"
    assert origin.path_of("https://api.example.com/v1/chat/completions?x=1") == \
        "/v1/chat/completions?x=1"
    with pytest.raises(ValueError, match="line break"):
        h1.request_head(origin, "/", {"x-evil": "a\r\nx-injected: 1"}, 0)
    with pytest.raises(ValueError, match="not an http"):
        h1.Origin("ftp://example.com")


async def test_idle_connections_past_keep_alive_are_closed() -> None:
    async with Server(ok) as srv:
        pool = pool_for(srv.url, keepalive_s=0.2)
        await asyncio.gather(post(pool, srv.url), post(pool, srv.url))
        assert len(pool.idle) == 2 and srv.connections == 2
        await asyncio.sleep(0.3)
        # The next request opens a new connection; both expired ones are closed.
        await post(pool, srv.url)
        assert srv.connections == 3 and pool.count == 1 and len(pool.idle) == 1
        for _ in range(50):
            if srv.open == 1:
                break
            await asyncio.sleep(0.02)
        assert srv.open == 1
        pool.close()


async def test_a_full_listen_backlog_is_a_connect_timeout() -> None:
    import socket

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)  # never accepted: once the queue is full, SYNs go unanswered
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        await asyncio.sleep(0.1)
        pool = pool_for(f"http://127.0.0.1:{port}", connect_timeout_s=0.3)
        with pytest.raises(h1.ConnectTimeout, match=r"no connection within 0.3 s"):
            await pool.acquire()
        assert pool.count == 0
        pool.close()
    finally:
        for s in fillers:
            s.close()
        lsock.close()


async def test_bytes_after_a_complete_response_close_the_connection_not_the_response() -> None:
    async def trailing(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(response(b'{"ok": %d}' % conn_no) + b"GARBAGE\r\n\r\n")
        await w.drain()
        return True

    async with Server(trailing) as srv:
        pool = pool_for(srv.url)
        assert await post(pool, srv.url) == b'{"ok": 1}'
        assert await post(pool, srv.url) == b'{"ok": 2}'  # not the tainted connection
        assert srv.connections == 2
        pool.close()


async def test_https_verifies_the_certificate_and_keeps_the_connection(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tls.cert, tls.key)
    async with Server(ok, ssl=server_ctx) as srv:
        # The system's CAs do not know our throwaway CA: refused, nothing sent.
        pool = pool_for(srv.url)
        with pytest.raises(h1.ConnectFailed, match="(?i)certificate verify failed"):
            await post(pool, srv.url)
        assert pool.count == 0 and srv.requests == []
        pool.close()

        origin = h1.Origin(srv.url)
        assert origin.tls and origin.host == "localhost"
        origin.ssl = ssl.create_default_context(cafile=tls.ca)
        pool = h1.Pool(origin, limit=4, keepalive_s=30, connect_timeout_s=2)
        assert [await post(pool, srv.url, b"%d" % i) for i in range(3)] == \
            [b'{"echo": %d, "conn": 1}' % i for i in range(3)]
        assert srv.connections == 1  # kept (the refused handshake never got this far)
        assert srv.requests[0].startswith(b"POST /v1/x HTTP/1.1\r\nhost: localhost:")
        pool.close()


async def test_a_large_body_and_an_interim_response() -> None:
    big = b"z" * (3 * 1024 * 1024)

    async def handler(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 103 Early Hints\r\nlink: </x>; rel=preload\r\n\r\n")
        w.write(response(big, headers="x-final: yes\r\n"))
        await w.drain()
        return True

    async with Server(handler) as srv:
        pool = pool_for(srv.url)
        c = await h1.exchange(pool, payload(srv.url))
        await asyncio.sleep(0.2)  # more than HIGH_WATER arrives before the body is read
        assert c.status == 200 and c.headers.get("x-final") == "yes"
        assert "link" not in c.headers  # the 103's headers are not the answer's
        assert await asyncio.wait_for(c.read_body(8 * 1024 * 1024), 5) == big
        pool.release(c, True)
        assert len(pool.idle) == 1
        pool.close()


async def test_the_limit_holds_when_every_connection_is_closed_after_its_response() -> None:
    async def closing(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.01)
        w.write(response(b'{"n": %b}' % body, headers="connection: close\r\n"))
        await w.drain()
        return False

    async with Server(closing) as srv:
        pool = pool_for(srv.url, limit=2)
        got = await asyncio.gather(*[post(pool, srv.url, b"%d" % i) for i in range(24)])
        assert got == [b'{"n": %d}' % i for i in range(24)]
        assert srv.connections == 24 and srv.peak_open <= 2
        assert pool.count == 0 and pool.in_use == 0
        pool.close()
