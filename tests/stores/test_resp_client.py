"""The pipelined RESP client (gateway/stores/resp.py) against real redis-servers."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import AuthenticationError, ConnectionError, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.stores import RedisStore, StoreError
from gateway.stores.resp import RespClient
from tests.support.redis_server import RedisServer


async def test_replies_match_commands_under_concurrency(redis_server: RedisServer,
                                                        bucket: str) -> None:
    c = RespClient.from_url(redis_server.url)
    await asyncio.gather(*[c.set(f"{bucket}:{i}", str(i).encode(), px=60_000)
                           for i in range(300)])
    got = await asyncio.gather(*[c.get(f"{bucket}:{i}") for i in range(300)])
    assert got == [str(i).encode() for i in range(300)]
    assert await c.get(f"{bucket}:absent") is None
    assert await c.zrem(f"{bucket}:z", "x") == 0
    assert await c.eval("return {1, 'a', ARGV[1]}", 0, 2.5) == [1, b"a", b"2.5"]
    with pytest.raises(NoScriptError):
        await c.evalsha("0" * 40, 0)
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await c.zrem(f"{bucket}:0", "x")  # a string, not a sorted set
    assert await c.ping()  # the connection survived the error replies
    await c.aclose()


async def test_a_caller_that_gives_up_does_not_shift_replies(redis_server: RedisServer,
                                                             bucket: str) -> None:
    c = RespClient.from_url(redis_server.url)
    await c.set(f"{bucket}:a", b"A")
    await c.set(f"{bucket}:b", b"B")
    for _ in range(20):
        gone = asyncio.ensure_future(c.get(f"{bucket}:a"))
        await asyncio.sleep(0)  # sent, reply not read yet
        gone.cancel()
        assert await c.get(f"{bucket}:b") == b"B"
    await c.aclose()


async def test_hung_server_times_out_and_a_new_connection_recovers(
        own_redis: RedisServer, bucket: str) -> None:
    c = RespClient.from_url(own_redis.url, socket_timeout=0.2)
    assert await c.ping()
    own_redis.pause()
    try:
        started = time.monotonic()
        results = await asyncio.gather(*[c.get(bucket) for _ in range(10)],
                                       return_exceptions=True)
        assert all(isinstance(r, RedisTimeoutError) for r in results), results
        assert time.monotonic() - started < 1.0
    finally:
        own_redis.resume()
    assert await c.ping()
    await c.aclose()


async def test_killed_server_fails_calls_in_flight_then_reconnects(
        own_redis: RedisServer, bucket: str) -> None:
    c = RespClient.from_url(own_redis.url, socket_timeout=5.0)
    assert await c.ping()
    # A blocking command holds the connection, so the GETs behind it wait unanswered.
    pending = [asyncio.ensure_future(c.execute("BLPOP", f"{bucket}:q", 4))]
    pending += [asyncio.ensure_future(c.get(bucket)) for _ in range(5)]
    await asyncio.sleep(0.1)
    assert not any(p.done() for p in pending)
    own_redis.kill()
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results), results
    with pytest.raises((ConnectionError, OSError)):
        await c.ping()  # nobody listening
    own_redis.restart()
    assert await c.ping()
    await c.aclose()


async def test_password_db_and_client_name() -> None:
    with RedisServer(extra_args=("--requirepass", "s3cret")) as server:
        c = RespClient.from_url(f"redis://:s3cret@127.0.0.1:{server.port}/3?client_name=gw-t")
        await c.set("k", b"v")
        assert server.cli("-a", "s3cret", "--no-auth-warning", "-n", "3", "GET", "k").strip() \
            == "v"
        assert "name=gw-t" in server.cli("-a", "s3cret", "--no-auth-warning", "CLIENT", "LIST")
        await c.aclose()
        wrong = RespClient.from_url(f"redis://:nope@127.0.0.1:{server.port}")
        with pytest.raises(AuthenticationError):
            await wrong.ping()
        await wrong.aclose()
        # Through the store, the failure is a StoreError like any other.
        store = RedisStore.from_url(f"redis://127.0.0.1:{server.port}")
        with pytest.raises(StoreError, match="NOAUTH"):
            await store.cache_get("k")
        await store.close()


def test_url_options() -> None:
    c = RespClient.from_url("rediss://user:p%40ss@example.com:6380/2?ssl_cert_reqs=none",
                            socket_timeout=0.5)
    assert (c.host, c.port, c.db, c.username, c.password) == ("example.com", 6380, 2,
                                                              "user", "p@ss")
    assert c.tls == {"ssl_cert_reqs": "none"} and c.read_timeout_s == 0.5
    assert RespClient.supports("redis://h:1?db=2", {"password": "x"})
    assert not RespClient.supports("redis://h:1?socket_keepalive=yes", {})
    with pytest.raises(ValueError, match="unsupported redis option"):
        RespClient.from_url("redis://h:1", retry_on_timeout=True)


async def test_closed_client_refuses(redis_server: RedisServer) -> None:
    c = RespClient.from_url(redis_server.url)
    assert await c.ping()
    await c.aclose()
    with pytest.raises(ConnectionError, match="closed"):
        await c.ping()


async def _server_reads(c: RespClient) -> int:
    """How many times the server has read from a client socket (INFO stats)."""
    info = (await c.execute("INFO", "stats")).decode()
    return int(next(line.split(":")[1] for line in info.splitlines()
                    if line.startswith("total_reads_processed:")))


async def test_a_later_command_rides_with_the_next_command(own_redis: RedisServer,
                                                          bucket: str) -> None:
    c = RespClient.from_url(own_redis.url)
    assert await c.ping()

    # Two commands sent in two loop iterations: two reads on the server (+1 for INFO).
    r0 = await _server_reads(c)
    await c.set(f"{bucket}:k", b"0")
    assert await c.get(f"{bucket}:k") == b"0"
    assert await _server_reads(c) - r0 == 3

    # A later command waits for the next one and goes out in the same write, in order.
    r0 = await _server_reads(c)
    later = asyncio.ensure_future(c.execute_later("SET", f"{bucket}:k", b"1"))
    await asyncio.sleep(0)  # queued, not written
    assert not later.done()
    assert await c.get(f"{bucket}:k") == b"1"
    assert await later == b"OK"
    assert await _server_reads(c) - r0 == 2

    # Alone, it is written all the same (after LATER_S; the wait_for only guards a hang).
    assert await asyncio.wait_for(c.execute_later("SET", f"{bucket}:k", b"2"), 5) == b"OK"
    assert await c.get(f"{bucket}:k") == b"2"
    await c.aclose()


async def test_a_later_command_fails_with_its_connection(own_redis: RedisServer,
                                                         bucket: str) -> None:
    c = RespClient.from_url(own_redis.url)
    assert await c.ping()
    later = asyncio.ensure_future(c.execute_later("SET", f"{bucket}:k", b"1"))
    await asyncio.sleep(0)  # queued for LATER_S, not written
    own_redis.kill()
    with pytest.raises(ConnectionError):
        await later
    own_redis.restart()
    assert await c.ping()  # a fresh connection
    await c.aclose()
