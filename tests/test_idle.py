"""gateway/idle.py: an exchange's bookkeeping runs off the next request's path, and is
never lost or late for whoever reads it.

The queue is driven by a real event loop; the upstream hook by a real h1 exchange
against a loopback server; the flush points (scrape, shutdown) through a real gateway.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest

from gateway import idle
from gateway.providers.h1 import Origin, Pool, exchange


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_deferred_work_runs_by_its_deadline_with_nothing_else_happening() -> None:
    async def main() -> tuple[list[str], float]:
        done: list[str] = []
        t0 = time.monotonic()
        idle.defer(done.append, "a")
        idle.defer(done.append, "b")
        assert done == []  # not on the caller's path
        while not done and time.monotonic() - t0 < 5:
            await asyncio.sleep(0.0005)
        await asyncio.sleep(idle.LATEST_S)  # the rest of the batch, if it were split
        return done, time.monotonic() - t0

    done, took = run(main())
    assert done == ["a", "b"]  # every job, in the order queued
    assert took < 1.0


def test_flush_runs_the_queue_now_and_leaves_no_trace_of_the_loop() -> None:
    async def main() -> list[int]:
        done: list[int] = []
        idle.defer(done.append, 1)
        # A job that queues another (a record whose sink defers): both run in the flush.
        idle.defer(lambda: idle.defer(done.append, 2))
        idle.flush()
        assert asyncio.get_running_loop() not in idle._PENDING
        return done

    assert run(main()) == [1, 2]


def test_a_failing_job_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    def boom() -> None:
        raise ValueError("sink broke")

    async def main() -> list[str]:
        done: list[str] = []
        idle.defer(boom)
        idle.defer(done.append, "after")
        idle.flush()
        return done

    with caplog.at_level(logging.ERROR, logger="gateway"):
        assert run(main()) == ["after"]
    assert any("deferred bookkeeping failed" in r.getMessage() and r.exc_info
               for r in caplog.records)


def test_each_loop_has_its_own_queue() -> None:
    """Gateways on two loops (two threads, as in-process test servers run): one's flush
    does not run the other's work, which runs on its own loop's thread."""
    import threading

    ran_in: list[int] = []
    queued = threading.Event()

    def other() -> None:
        async def main() -> None:
            idle.defer(lambda: ran_in.append(threading.get_ident()))
            queued.set()
            t0 = time.monotonic()
            while not ran_in and time.monotonic() - t0 < 5:
                await asyncio.sleep(0.001)
        asyncio.run(main())

    t = threading.Thread(target=other)
    t.start()
    assert queued.wait(5)

    async def mine() -> None:
        idle.flush()

    run(mine())
    t.join(10)
    assert ran_in == [t.ident]


class _Upstream(asyncio.Protocol):
    """A loopback HTTP/1.1 server: each request gets a small JSON answer."""

    def connection_made(self, transport):  # type: ignore[no-untyped-def]
        self.t = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            n = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(rest) < n:
                return
            self.buf = rest[n:]
            self.t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")


def test_the_upstream_client_runs_deferred_work_once_its_request_is_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """While an upstream computes its answer the process has nothing to do: that is when
    the previous exchange's record is published. The deadline is pushed out of reach,
    so only the client's hook can have run the job."""
    monkeypatch.setattr(idle, "LATEST_S", 60.0)

    async def main() -> tuple[list[int], bytes, list[int]]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Upstream, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = Pool(Origin(f"http://127.0.0.1:{port}"), limit=4, keepalive_s=5,
                    connect_timeout_s=5)
        seen: list[int] = []
        try:
            idle.defer(lambda: seen.append(pool.in_use))  # runs with the exchange under way
            payload = (b"POST /v1/x HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n", b"{}")
            conn = await exchange(pool, payload, loop.time() + 5)
            when_answered = list(seen)
            answer = await conn.read_body(1 << 20)
            pool.release(conn, True)
            return when_answered, answer, seen
        finally:
            pool.close()
            server.close()

    when_answered, answer, seen = run(main())
    assert when_answered == [1]  # ran before the answer came, with the connection in use
    assert seen == [1] and answer == b"{}"


def _ask(gw, text: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    """One chat completion from the gateway (Kimi), answered 200."""
    r = httpx.post(gw.url + "/v1/chat/completions", timeout=30, json={
        "model": "kimi-k2", "messages": [{"role": "user", "content": text}]})
    assert r.status_code == 200, r.text
    return r


def test_a_scrape_and_a_shutdown_publish_what_was_deferred(
        make_gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """With the deadline out of reach and no upstream wait after the request, only the
    flush points can publish it: the scrape counts it, the shutdown logs it."""
    monkeypatch.setattr(idle, "LATEST_S", 60.0)
    gw = make_gateway()
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        r = _ask(gw, "hi")
        rid = r.headers["x-request-id"]
        time.sleep(0.05)
        assert not [rec for rec in caplog.records
                    if getattr(rec, "access", {}).get("request_id") == rid]  # still queued
        scrape = httpx.get(gw.url + "/metrics", timeout=30).text
        counted = [ln for ln in scrape.splitlines()
                   if ln.startswith("gateway_requests_total{") and 'model="' in ln
                   and 'status_class="2xx"' in ln]
        assert counted and float(counted[0].rsplit(" ", 1)[1]) == 1.0, scrape[-2000:]
        # A second request, then shutdown before its deadline: its line is not lost.
        r2 = _ask(gw, "again")
        gw.stop()
    logged = {rec.access["request_id"] for rec in caplog.records if hasattr(rec, "access")}
    assert {rid, r2.headers["x-request-id"]} <= logged


def test_the_console_shows_what_was_deferred(make_gateway, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.setattr(idle, "LATEST_S", 60.0)
    gw = make_gateway()
    r = _ask(gw, "hi")
    records = httpx.get(gw.url + "/console/api/decisions", timeout=30).json()["records"]
    assert [x["request_id"] for x in records] == [r.headers["x-request-id"]]


def test_an_exchange_that_called_no_upstream_is_published_at_once(
        make_gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A cache hit has no upstream wait to publish in, nor may the requests after it:
    its record goes out with it, after what was queued before it (the deadline out of
    reach shows it is not the timer)."""
    monkeypatch.setattr(idle, "LATEST_S", 60.0)
    gw = make_gateway(extra="cache: {enabled: true, mode: all}")
    body = {"model": "kimi-k2", "messages": [{"role": "user", "content": "cached?"}]}
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        miss = httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=30)
        hit = httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=30)
        assert hit.headers["x-gateway-cache"] == "hit", hit.headers
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            logged = [(rec.access["request_id"], rec.access["cache"])
                      for rec in caplog.records if hasattr(rec, "access")]
            if len(logged) >= 2:
                break
            time.sleep(0.005)
    # The miss's record, still queued, goes first: lines in the order exchanges ended.
    assert logged == [(miss.headers["x-request-id"], "miss"),
                      (hit.headers["x-request-id"], "hit")]


def test_a_deferred_record_times_the_exchange_not_its_wait_in_the_queue(
        make_gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The record is published after the exchange ended, maybe much later: its overhead
    (the access line's ``overhead_ms``, the ``gateway_overhead_seconds`` histogram) is
    measured at the end, like its duration, not when the queue ran."""
    monkeypatch.setattr(idle, "LATEST_S", 60.0)
    gw = make_gateway()
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        r = _ask(gw, "hi")
        time.sleep(0.5)  # queued all along: the deadline is out of reach
        scrape = httpx.get(gw.url + "/metrics", timeout=30).text
    [rec] = [rec.access for rec in caplog.records
             if getattr(rec, "access", {}).get("request_id") == r.headers["x-request-id"]]
    assert 0 < rec["overhead_ms"] <= rec["duration_ms"] < 500, rec
    [total] = [float(ln.rsplit(" ", 1)[1]) for ln in scrape.splitlines()
               if ln.startswith("gateway_overhead_seconds_sum{")]
    assert 0 < total <= rec["duration_ms"] / 1000, scrape[-3000:]
