"""What a request costs Redis, counted by the server itself (INFO's reads counter).

A request on a key with limits, asking for a cacheable answer, needs four commands:
its admission and cache lookup before the upstream call, its cache write and
settlement after the response. The first two go out in one write; the last two are
queued after the response and go out together, with the next request's admission
when one follows soon enough (resp.py, ``execute_later``). Before, each was a write
and a read of its own.
"""

from __future__ import annotations

import time

import httpx

from tests.e2e.limits_support import keys_yaml, nonce, oai, wait_until
from tests.support.redis_server import RedisServer

N = 12


def server_reads(r: RedisServer) -> int:
    """Reads the server made from client sockets, not counting this INFO's own."""
    info = r.cli("INFO", "stats")
    return int(next(line.split(":")[1] for line in info.splitlines()
                    if line.startswith("total_reads_processed:"))) - 1


class GatewayReads:
    """The server's reads from the gateway: ``server_reads`` less our own INFO calls'
    (each a connection of its own: its command, and its close, are reads)."""

    def __init__(self, r: RedisServer) -> None:
        self.r = r
        self.calls = 0

    def now(self) -> int:
        n = server_reads(self.r) - 2 * self.calls
        self.calls += 1
        return n

    def quiet(self) -> int:
        """Once the gateway's queued bookkeeping has gone out (the count stops moving):
        a fixed sleep races a loaded machine."""
        last = self.now()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.15)
            now = self.now()
            if now == last:
                return now
            last = now
        raise AssertionError("the gateway kept talking to Redis")


def test_admission_and_lookup_share_a_write_bookkeeping_another(make_gateway, own_redis,
                                                                claude):
    gw = make_gateway(keys=keys_yaml(a="{rpm: 100000, tpm: 100000000, concurrency: 4}"),
                      extra="cache: {mode: deterministic}", redis_url=own_redis.url)
    c = oai(gw)
    prompts = [[{"role": "user", "content": f"round trips {nonce()}"}] for _ in range(N)]

    def ask(messages: list[dict[str, str]]) -> str:
        r = c.chat.completions.with_raw_response.create(model="claude-opus",
                                                        messages=messages, temperature=0)
        return r.headers["x-gateway-cache"]

    ask([{"role": "user", "content": "warm-up: scripts loaded, server clock read"}])

    reads = GatewayReads(own_redis)
    r0 = reads.quiet()
    assert [ask(m) for m in prompts] == ["miss"] * N
    misses = reads.quiet() - r0  # the last settlement is written within resp.LATER_S
    # 4 commands a request; at most 2 writes (the first request also carries the
    # warm-up's bookkeeping if it was still queued).
    assert N <= misses <= 2 * N + 1, misses

    r0 = reads.quiet()
    assert [ask(m) for m in prompts] == ["hit"] * N
    hits = reads.quiet() - r0
    assert N <= hits <= 2 * N + 1, hits
    assert len(claude.control.requests) == N + 1  # the hits never went upstream

    # Every slot was released and every settlement applied.
    assert wait_until(lambda: gw.call(gw.app.state.svc.limits.limiter.in_flight("a")) == 0)


def test_a_stream_ends_without_waiting_for_its_settlement(make_gateway, own_redis, claude):
    """Redis stops answering after the admission: the settlement then waits for the
    store's timeout (2-4 s here); the response's end must not (the client reads the HTTP
    response to its last byte, not just to ``[DONE]``, and gives up at 1 s)."""
    gw = make_gateway(keys=keys_yaml(a="{rpm: 1000, concurrency: 4}"),
                      extra="redis: {on_error: fail_open, timeout_ms: 2000}",
                      redis_url=own_redis.url)
    body = {"model": "claude-opus", "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six"}]}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, timeout=1,
                      headers={"authorization": "Bearer ka"}) as r:
        assert r.status_code == 200
        chunks = r.iter_bytes()
        first = next(chunks)  # admitted: the slot is held in Redis
        own_redis.pause()
        try:
            rest = b"".join(chunks)  # to the end of the HTTP response
        finally:
            own_redis.resume()
    text = (first + rest).decode()
    assert "six" in text and text.rstrip().endswith("data: [DONE]")
    # The settlement went through once Redis answered again: the slot is free.
    assert wait_until(lambda: gw.call(gw.app.state.svc.limits.limiter.in_flight("a")) == 0)
