"""Issue 18.4: hostile upstream responses against the upstream client (providers/h1.py).

A gzip bomb is cut at the body limit (buffered and streamed), a response head is
bounded in bytes and header lines, repeated headers cost linear time, and every
exchange on a kept-alive connection starts with a fresh parser.
"""

from __future__ import annotations

import asyncio
import resource
import time
import zlib

import pytest

from gateway.providers import h1
from gateway.providers.encoding import decoder
from tests.upstream.test_h1 import Server, payload, pool_for, post, response

GiB = 1 << 30


def gzip_bomb(size: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1 << 20)
    out = [c.compress(block) for _ in range(size >> 20)]
    return b"".join(out) + c.flush()


BOMB = gzip_bomb(GiB)  # about 1 MB of gzip, 1 GiB decoded


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_a_gzip_bomb_is_cut_at_the_body_limit() -> None:
    async def handler(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(response(BOMB, headers="content-encoding: gzip\r\n"))
        await w.drain()
        return True

    before = peak_rss_mb()
    async with Server(handler) as srv:
        pool = pool_for(srv.url)
        with pytest.raises(h1.TooLarge, match="decoded response body over"):
            await post(pool, srv.url, cap=8 << 20)
        pool.close()
    assert peak_rss_mb() - before < 200  # 1 GiB decoded before


async def test_a_streamed_gzip_bomb_is_cut_at_the_body_limit() -> None:
    async def handler(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(BOMB) + BOMB)
        await w.drain()
        return True

    async with Server(handler) as srv:
        pool = pool_for(srv.url)
        c = await h1.exchange(pool, payload(srv.url))
        d = decoder(c.headers.get("content-encoding"), 8 << 20)
        assert d is not None
        out = 0
        with pytest.raises(h1.TooLarge):
            while True:
                raw = await c.next_chunk(5.0)
                out += len(d.feed(raw))
                if not raw:
                    break
        assert out <= 8 << 20
        pool.release(c, False)
        pool.close()


async def test_a_huge_response_head_is_refused() -> None:
    async def handler(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nx-big: ")
        try:
            for _ in range(200):  # 200 MB of one header value, if the client kept reading
                w.write(b"a" * (1 << 20))
                await w.drain()
        except ConnectionError:
            pass
        return False

    async with Server(handler) as srv:
        pool = pool_for(srv.url)
        with pytest.raises(h1.BadResponse, match="head over 65536 bytes"):
            await post(pool, srv.url)
        pool.close()


@pytest.mark.parametrize("count, ok", [(254, True), (255, False)])
async def test_header_count_one_past_the_limit(count: int, ok: bool) -> None:
    # response() adds content-type and content-length: count + 2 headers in all.
    extra = "".join(f"x-h{i}: v\r\n" for i in range(count))

    async def handler(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(response(b"{}", headers=extra))
        await w.drain()
        return True

    async with Server(handler) as srv:
        pool = pool_for(srv.url)
        assert h1.MAX_HEADERS == 256
        if ok:
            assert await post(pool, srv.url) == b"{}"
        else:
            with pytest.raises(h1.BadResponse, match="more than 256 headers"):
                await post(pool, srv.url)
        pool.close()


async def test_100k_repeated_headers_are_refused_fast() -> None:
    """100 k repeats of one header took 20 s of event loop (each repeat re-joined)."""
    head = b"HTTP/1.1 200 OK\r\n" + b"set-cookie: a=b\r\n" * 100_000

    async def handler(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(head + b"content-length: 2\r\n\r\n{}")
        await w.drain()
        return False

    async with Server(handler) as srv:
        pool = pool_for(srv.url)
        t = time.perf_counter()
        with pytest.raises(h1.BadResponse, match="head"):
            await post(pool, srv.url)
        assert time.perf_counter() - t < 0.5
        pool.close()


async def test_repeated_headers_within_the_limits_are_joined() -> None:
    async def handler(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(response(b"{}", headers="x-r: 1\r\nx-r: 2\r\nX-R: 3\r\n"))
        await w.drain()
        return True

    async with Server(handler) as srv:
        pool = pool_for(srv.url)
        c = await h1.exchange(pool, payload(srv.url))
        assert c.headers["x-r"] == "1, 2, 3"
        pool.release(c, False)
        pool.close()


async def test_every_exchange_gets_a_fresh_parser() -> None:
    async def handler(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(response(b"%d" % req_no, headers=f"x-req: {req_no}\r\n"))
        await w.drain()
        return True

    async with Server(handler) as srv:
        pool = pool_for(srv.url)
        parsers = []
        for n in (1, 2, 3):
            c = await h1.exchange(pool, payload(srv.url))
            parsers.append(c.parser)
            assert await c.read_body(100) == b"%d" % n
            assert c.headers["x-req"] == str(n)  # no header of an earlier response
            pool.release(c, True)
        assert srv.connections == 1
        assert len({id(p) for p in parsers}) == 3
        pool.close()
