"""The direct way (``gateway/direct.py``): a surface's proxy POST served by the gateway's
protocol without the generic ASGI cycle answers exactly as the ASGI way does.

The same request goes both ways through one real gateway: to the exact path (direct)
and with an empty query (``?``: not an exact path, so the ASGI way, through
``GatewayApp.__call__``); a spy on the route table shows which way each went. Then
the limits the direct way checks itself (a whole chunked body one byte past the
limit), and ``DirectCycle.answer``'s refusals on a recording transport.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import pytest
from uvicorn.protocols.http.flow_control import FlowControl

from gateway.direct import DirectCycle
from gateway.http import JSONResponse
from tests.hardening.support import CHAT

RID = b"X-Request-Id: direct-or-not\r\n"
# What differs between two answers to the same request, whichever way: the clock, the
# measured overhead, and the upstream emulator's per-answer ids and times.
VARYING_HEADERS = {"date", "x-gateway-overhead-ms"}
VARYING_FIELDS = {"id", "created"}


def _exchange(port: int, data: bytes, close_within: float = 0.3) -> tuple[bytes, bool]:
    """Send ``data``, read until the server closes or one whole answer is in; also
    whether the server closed the connection after it (within ``close_within`` s)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(10)
        s.sendall(data)
        out = b""
        while True:
            head, sep, body = out.partition(b"\r\n\r\n")
            if sep:
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(body) >= length:
                    break
            chunk = s.recv(65536)
            if not chunk:
                return out, True
            out += chunk
        s.settimeout(close_within)
        try:
            closed = s.recv(1) == b""
        except TimeoutError:
            closed = False
        return out, closed


def _normal(raw: bytes) -> tuple[str, list[tuple[str, str]], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines:
        name, _, value = line.partition(": ")
        headers.append((name, "*" if name in VARYING_HEADERS else value))
    doc = orjson.loads(body) if body else None
    if isinstance(doc, dict):
        doc = {k: ("*" if k in VARYING_FIELDS else v) for k, v in doc.items()}
    return status, headers, doc


def _request(path: bytes, body: bytes, *, version: bytes = b"1.1", extra: bytes = b"",
             length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return (b"POST " + path + b" HTTP/" + version + b"\r\nHost: gw\r\n"
            b"Content-Type: application/json\r\n" + RID + extra
            + b"Content-Length: " + str(size).encode() + b"\r\n\r\n" + body)


@pytest.fixture
def spied(gateway):  # type: ignore[no-untyped-def]
    """The gateway, its chat route's direct handler wrapped to count its calls."""
    routes = gateway.app.direct_routes
    inner = routes[CHAT.encode()]
    calls: list[int] = []

    async def counting(cycle: DirectCycle) -> None:
        calls.append(1)
        await inner(cycle)

    routes[CHAT.encode()] = counting
    yield gateway, calls
    routes[CHAT.encode()] = inner


OK_BODY = orjson.dumps({"model": "kimi-k2", "messages": [{"role": "user", "content": "hi"}]})


@pytest.mark.parametrize("case", [
    "answer", "invalid-json", "wrong-type", "too-large", "http-1.0", "client-close"])
def test_the_direct_way_answers_as_the_asgi_way_does(spied, case: str) -> None:
    gw, calls = spied
    body, extra, version, length = OK_BODY, b"", b"1.1", None
    if case == "invalid-json":
        body = b'{"model": "kimi-k2", "messages": ['
    elif case == "wrong-type":
        body = orjson.dumps({"model": "kimi-k2", "messages": "not a list"})
    elif case == "too-large":  # refused on its Content-Length: 413, connection: close
        body, length = b"", 10**9
    elif case == "http-1.0":
        version = b"1.0"
    elif case == "client-close":
        extra = b"Connection: close\r\n"
    answers = {}
    for way, path in (("direct", CHAT.encode()), ("asgi", CHAT.encode() + b"?")):
        before = len(calls)
        closes = case in ("too-large", "http-1.0", "client-close")
        raw, closed = _exchange(gw.port, _request(path, body, version=version, extra=extra,
                                                  length=length), 10 if closes else 0.3)
        assert len(calls) - before == (1 if way == "direct" else 0), way
        answers[way] = (_normal(raw), closed)
    assert answers["direct"] == answers["asgi"]
    (status, headers, doc), closed = answers["direct"]
    expected = {"answer": "200", "invalid-json": "400", "wrong-type": "400",
                "too-large": "413", "http-1.0": "200", "client-close": "200"}[case]
    assert status.split(" ")[1] == expected, (status, doc)
    assert closed == closes
    if closed:
        assert ("connection", "close") in headers


def test_a_whole_chunked_body_one_byte_past_the_limit_is_refused(make_gateway) -> None:
    """A chunked body has no Content-Length to refuse early; when all of it arrives with
    the head, the direct way takes it whole and checks its size itself."""
    limit = 4096
    gw = make_gateway(extra=f"server: {{max_body_bytes: {limit}}}")
    # A valid body padded with spaces to an exact size.
    for size, status in ((limit, b"200"), (limit + 1, b"413")):
        doc = OK_BODY[:-1] + b" " * (size - len(OK_BODY)) + b"}"
        assert len(doc) == size
        raw = (b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: gw\r\nContent-Type: "
               b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               + f"{size:x}\r\n".encode() + doc + b"\r\n0\r\n\r\n")
        answer, _ = _exchange(gw.port, raw)
        assert answer.startswith(b"HTTP/1.1 " + status), answer[:300]


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def writelines(self, parts: Any) -> None:
        self.written.append(b"".join(parts))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _cycle(*, keep_alive: bool = True) -> tuple[DirectCycle, _Transport, list[int]]:
    t = _Transport()
    done: list[int] = []
    cycle = DirectCycle(
        wire=t, serve=None, transport=t,  # type: ignore[arg-type]
        scope={"type": "http", "method": "POST"},
        flow=FlowControl(t), logger=None, access_logger=None,  # type: ignore[arg-type]
        access_log=False, default_headers=[(b"date", b"today")],
        message_event=asyncio.Event(), expect_100_continue=False, keep_alive=keep_alive,
        on_response=lambda: done.append(1))
    return cycle, t, done


def _fields(body: bytes, status: int, headers: dict[str, str]) -> list[tuple[str, str]]:
    """The header fields of a JSON answer, as the gateway's handler gives them."""
    return JSONResponse(body, status, headers).head_fields()


@pytest.mark.parametrize("headers", [
    {"x-bad": "a\r\nset-cookie: injected"},  # a value with CR/LF
    {"x-bad": "a\x00b"},
    {"x bad": "a"},                          # a name with a space
    {"x-bad:": "a"},
    {"content-length": "3"},                 # framing other than the body's
    {"transfer-encoding": "chunked"},
])
def test_answer_leaves_to_the_asgi_way_what_it_does_not_write_itself(
        headers: dict[str, str]) -> None:
    cycle, t, done = _cycle()
    assert cycle.answer(200, _fields(b"{}", 200, headers), b"{}") is False
    assert t.written == [] and not cycle.response_started and done == []


def test_answer_writes_head_and_body_once_and_honours_connection_close() -> None:
    cycle, t, done = _cycle()
    fields = _fields(b"{}", 413, {"x-request-id": "r", "connection": "close"})
    assert cycle.answer(413, fields, b"{}") is True
    assert t.written == [(b"HTTP/1.1 413 Request Entity Too Large\r\ndate: today\r\n"
                          b"x-request-id: r\r\nconnection: close\r\ncontent-length: 2\r\n"
                          b"content-type: application/json\r\n\r\n{}")]
    assert t.closed and cycle.response_complete and done == [1]
    # A connection not kept alive (HTTP/1.0, or the client said close) says so itself.
    cycle, t, _ = _cycle(keep_alive=False)
    assert cycle.answer(200, _fields(b"[]", 200, {"content-type": "application/json"}),
                        b"[]") is True
    assert t.written == [(b"HTTP/1.1 200 OK\r\ndate: today\r\ncontent-type: application/json"
                          b"\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]")]
    assert t.closed
    # Once a response has started, a second answer is not written.
    assert cycle.answer(200, _fields(b"{}", 200, {}), b"{}") is False and len(t.written) == 1


def test_whole_body_only_when_all_of_it_is_in_and_none_was_taken() -> None:
    cycle, _, _ = _cycle()
    cycle.body += b'{"a":'
    assert cycle.whole_body() is None  # more to come: read it the ASGI way
    cycle.body += b"1}"
    cycle.more_body = False
    assert cycle.whole_body() == b'{"a":1}'
    waiting, _, _ = _cycle()
    waiting.waiting_for_100_continue = True  # the client waits for our 100 Continue
    waiting.more_body = False
    assert waiting.whole_body() is None
