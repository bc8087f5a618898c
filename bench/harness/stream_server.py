"""The streaming mock upstream: raw asyncio HTTP/1.1 on uvloop, keep-alive, chunked SSE.

    python -m harness.stream_server --port P

POST ``.../chat/completions`` with ``"stream": true`` answers Moonshot-style chunks
(usage inside the last choice, then ``data: [DONE]``); POST ``.../messages`` answers
Anthropic's event sequence. The user text says how long the stream is:
``chunks=N delay_ms=D`` (N content deltas, D ms apart; the first is sent at once).
Non-stream requests get the same static bodies as the nginx mock. Plain asyncio
rather than a framework so the upstream costs far less per chunk than any system
under test.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Mapping
from typing import Any

import orjson
import uvloop

from .mock import ANTHROPIC_RESPONSE, OPENAI_RESPONSE

PARAMS = re.compile(rb"chunks=(\d+)(?:\s+delay_ms=([\d.]+))?")


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _moonshot(obj: dict[str, object]) -> bytes:
    return _chunked(b"data: " + orjson.dumps(obj) + b"\n\n")


def _anthropic(name: str, obj: dict[str, object]) -> bytes:
    return _chunked(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n")


_BASE = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1700000000,
         "model": "kimi-k2-0905-preview"}
M_FIRST = _moonshot({**_BASE, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                    "content": ""},
                                             "finish_reason": None}]})
# Deltas cycle through distinct tokens: LiteLLM aborts a stream that repeats one chunk
# 100 times ("The model is repeating the same chunk").
TOKENS = [f"t{i} " for i in range(16)]
M_DELTAS = [_moonshot({**_BASE, "choices": [{"index": 0, "delta": {"content": t},
                                               "finish_reason": None}]}) for t in TOKENS]


def m_last(n: int) -> bytes:
    usage = {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n}
    return (_moonshot({**_BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop",
                                             "usage": usage}], "usage": usage})
            + _chunked(b"data: [DONE]\n\n"))


A_FIRST = (_anthropic("message_start", {"type": "message_start", "message": {
    "id": "msg_stream", "type": "message", "role": "assistant", "model": "claude-opus-4-5",
    "content": [], "stop_reason": None, "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 1}}})
    + _anthropic("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}}))
A_DELTAS = [_anthropic("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": t}})
            for t in TOKENS]


def a_last(n: int) -> bytes:
    return (_anthropic("content_block_stop", {"type": "content_block_stop", "index": 0})
            + _anthropic("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": "end_turn",
                                                     "stop_sequence": None},
                                           "usage": {"output_tokens": n}})
            + _anthropic("message_stop", {"type": "message_stop"}))


SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n")


def json_answer(obj: Mapping[str, Any], status: str = "200 OK") -> bytes:
    body = orjson.dumps(obj)
    return (b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body))


class Conn(asyncio.Protocol):
    """One keep-alive connection; requests are answered one at a time, in order."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.busy = False
        self.closed = False
        self.writable = asyncio.Event()
        self.writable.set()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        m = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
        start = end + 4
        if m:
            stop = start + int(m.group(1))
            if len(self.buf) < stop:
                return
            body = bytes(self.buf[start:stop])
        elif b"transfer-encoding: chunked" in head:
            parsed = self._dechunk(start)
            if parsed is None:
                return
            body, stop = parsed
        else:
            body, stop = b"", start
        del self.buf[:stop]
        path = head.split(b" ", 2)[1] if b" " in head else b"/"
        self.busy = True
        asyncio.ensure_future(self._answer(path, body))

    def _dechunk(self, i: int) -> tuple[bytes, int] | None:
        out = bytearray()
        while True:
            nl = self.buf.find(b"\r\n", i)
            if nl < 0:
                return None
            size = int(bytes(self.buf[i:nl]).split(b";")[0], 16)
            if len(self.buf) < nl + 2 + size + 2:
                return None
            out += self.buf[nl + 2:nl + 2 + size]
            i = nl + 2 + size + 2
            if size == 0:
                return bytes(out), i

    async def _write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise ConnectionResetError
        self.transport.write(data)
        if not self.writable.is_set():
            await self.writable.wait()

    async def _answer(self, path: bytes, body: bytes) -> None:
        try:
            stream = b'"stream":true' in body or b'"stream": true' in body
            anthropic = path.split(b"?")[0].endswith(b"/messages")
            if not stream:
                await self._write(json_answer(ANTHROPIC_RESPONSE if anthropic
                                              else OPENAI_RESPONSE))
            else:
                m = PARAMS.search(body)
                n = int(m.group(1)) if m else 20
                delay = float(m.group(2)) / 1000 if m and m.group(2) else 0.0
                await self._stream(anthropic, n, delay)
        except ConnectionResetError:
            return
        self.busy = False
        if self.buf:
            self._next()

    async def _stream(self, anthropic: bool, n: int, delay: float) -> None:
        deltas = A_DELTAS if anthropic else M_DELTAS
        await self._write(SSE_HEAD + (A_FIRST if anthropic else M_FIRST) + deltas[0])
        for i in range(1, n):
            if delay:
                await asyncio.sleep(delay)
            elif i % 64 == 0:
                await asyncio.sleep(0)  # let other streams and the reader run
            await self._write(deltas[i % 16])
        await self._write((a_last(n) if anthropic else m_last(n)) + b"0\r\n\r\n")


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Conn, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
