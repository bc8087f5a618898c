"""A client that leaves at any stage takes its upstream call and its limits with it.

Stages: mid-body (before routing), while the gateway waits for the upstream's first
byte (non-stream and stream), and mid-stream. Afterwards the emulator has no stream
open, the gateway holds no upstream connection, no extra task, no concurrency slot,
and ``gateway_inflight_requests`` is back to 0.
"""

from __future__ import annotations

import socket
import time

import httpx
import orjson
import pytest

from tests.hardening.support import CHAT, held, settles_to, wait_until

KEY = "gk-disconnect-0123456789"
KEYS = f"keys:\n  - {{name: team, key: {KEY}, limits: {{concurrency: 2}}}}\n"
# Long upstream timeouts: only the client's departure can end these requests early.
SLOW = "{connect_s: 2, total_s: 60, first_byte_s: 60, idle_s: 60}"


def _open(port: int, body: bytes, *, declared: int | None = None) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: gw\r\n"
              b"Authorization: Bearer " + KEY.encode() + b"\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: " + str(declared or len(body)).encode() + b"\r\n\r\n" + body)
    return s


def _body(model: str, stream: bool, text: str = "hello there") -> bytes:
    return orjson.dumps({"model": model, "stream": stream,
                         "messages": [{"role": "user", "content": text}]})


# The gateway's own server protocol tells the handler at once that its client left
# (http.LEAVE_NOTICE); under a plain ASGI server a watcher task waits for
# ``http.disconnect``: both must let go of everything.
@pytest.fixture(params=["gateway.conn_guard:GuardedHttpTools", "httptools"],
                ids=["notice", "asgi"])
def gw(make_gateway, request):
    g = make_gateway(keys=KEYS, timeouts=SLOW, http=request.param)
    ok = httpx.post(g.url + CHAT, headers={"authorization": f"Bearer {KEY}"}, timeout=10,
                    content=_body("claude-opus", False))  # warm the pools
    assert ok.status_code == 200
    return g


def test_leaving_mid_body_reaches_no_upstream(gw, claude):
    base = held(gw, "team").tasks
    before = len(claude.control.requests)
    s = _open(gw.port, _body("claude-opus", False)[:20], declared=500)
    wait_until(lambda: held(gw, "team").inflight == 1, 5)
    s.close()
    after = settles_to(gw, base, "team")
    assert (after.upstream_connections, after.slots, after.inflight) == (0, 0, 0)
    assert after.tasks <= base
    assert len(claude.control.requests) == before


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_leaving_while_the_upstream_thinks_cancels_it(gw, claude, stream):
    base = held(gw, "team").tasks
    n = len(claude.control.requests)
    claude.control.fault_next("stall_before", seconds=30)
    s = _open(gw.port, _body("claude-opus", stream))
    assert claude.control.wait_for(lambda c: len(c.requests) > n, 5)
    during = held(gw, "team")
    assert (during.upstream_connections, during.slots) == (1, 1)
    s.close()
    # Well before the 30 s stall (and the 60 s timeouts) everything is let go.
    after = settles_to(gw, base, "team", timeout=10)
    assert (after.upstream_connections, after.slots, after.inflight) == (0, 0, 0)
    assert after.tasks <= base
    assert claude.control.active_streams == 0


def test_leaving_mid_stream_closes_the_upstream_stream(gw, kimi):
    base = held(gw, "team").tasks
    kimi.control.chunk_delay = 0.05
    s = _open(gw.port, _body("kimi-k2", True, "word " * 200))
    s.settimeout(10)
    got = b""
    while b"data:" not in got:  # the stream has started
        chunk = s.recv(65536)
        assert chunk, got
        got += chunk
    assert kimi.control.active_streams == 1
    s.close()
    assert kimi.control.wait_for(lambda c: c.active_streams == 0, 10)
    assert kimi.control.streams_cancelled >= 1
    after = settles_to(gw, base, "team")
    assert (after.upstream_connections, after.slots, after.inflight) == (0, 0, 0)
    assert after.tasks <= base


def test_a_departed_half_open_probe_does_not_wedge_the_circuit(make_gateway, claude):
    gw = make_gateway(keys=KEYS, timeouts=SLOW,
                      extra="server: {circuit_failures: 1, circuit_cooldown_s: 0.2}")
    auth = {"authorization": f"Bearer {KEY}"}
    claude.control.fail_next(500)
    r = httpx.post(gw.url + CHAT, headers=auth, content=_body("claude-opus", False), timeout=10)
    assert r.status_code == 502
    assert gw.rt.breakers["claude-opus"].state == "open"
    time.sleep(0.3)  # the cool-down
    # The half-open probe's client leaves before the verdict.
    n = len(claude.control.requests)
    claude.control.fault_next("stall_before", seconds=30)
    s = _open(gw.port, _body("claude-opus", False))
    assert claude.control.wait_for(lambda c: len(c.requests) > n, 5)
    s.close()
    assert wait_until(lambda: held(gw, "team").upstream_connections == 0)
    # The next request may probe, and closes the circuit.
    r = httpx.post(gw.url + CHAT, headers=auth, content=_body("claude-opus", False), timeout=10)
    assert r.status_code == 200, r.text
    assert gw.rt.breakers["claude-opus"].state == "closed"
