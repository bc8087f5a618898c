"""An exchange's deadline (``h1.exchange(..., deadline)``): one timer that fails the
exchange wherever it waits (a place in the pool, the head, the body) and that ends
with the exchange, so a connection back in the pool outlives it."""

from __future__ import annotations

import asyncio

import pytest

from gateway.providers import h1
from tests.upstream.test_h1 import Server, ok, payload, pool_for


async def silent(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
    await asyncio.sleep(5)
    return False


async def head_only(conn_no: int, req_no: int, body: bytes, w: asyncio.StreamWriter) -> bool:
    w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{")
    await w.drain()
    await asyncio.sleep(5)
    return False


def deadline(s: float) -> float:
    return asyncio.get_running_loop().time() + s


async def test_no_head_by_the_deadline() -> None:
    async with Server(silent) as srv:
        pool = pool_for(srv.url)
        t = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await h1.exchange(pool, payload(srv.url), deadline(0.2))
        assert 0.15 < asyncio.get_running_loop().time() - t < 1.5
        assert pool.in_use == 0 and not pool.idle  # closed, its place free
        pool.close()


async def test_no_body_by_the_deadline() -> None:
    async with Server(head_only) as srv:
        pool = pool_for(srv.url)
        c = await h1.exchange(pool, payload(srv.url), deadline(0.2))
        with pytest.raises(TimeoutError):
            await c.read_body(1 << 20)
        pool.release(c, True)
        assert pool.in_use == 0 and not pool.idle
        pool.close()


async def test_a_released_connection_outlives_the_deadline() -> None:
    async with Server(ok) as srv:
        pool = pool_for(srv.url)
        c = await h1.exchange(pool, payload(srv.url), deadline(0.1))
        assert await c.read_body(1 << 20)
        pool.release(c, True)
        await asyncio.sleep(0.3)
        c = await h1.exchange(pool, payload(srv.url), deadline(0.1))
        assert await c.read_body(1 << 20)
        pool.release(c, True)
        assert srv.connections == 1
        pool.close()


async def test_the_wait_for_a_place_counts() -> None:
    async with Server(ok) as srv:
        pool = pool_for(srv.url, limit=1)
        held = await h1.exchange(pool, payload(srv.url))
        with pytest.raises(TimeoutError):
            await h1.exchange(pool, payload(srv.url), deadline(0.2))
        await held.read_body(1 << 20)
        pool.release(held, True)
        assert pool.in_use == 0 and len(pool.idle) == 1
        pool.close()
