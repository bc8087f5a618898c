"""Responses on one connection stay framed and in order through the gateway's server
protocol: pipelined requests, ``Expect: 100-continue``, keep-alive, a stream then a
JSON answer. (The head of a JSON answer is held until its body is written, and the
proxy route skips Starlette's stack: ``gateway/http.py``, ``gateway/app.py``.)
"""

from __future__ import annotations

import socket

import httptools
import orjson

from tests.hardening.support import CHAT


def _post(body: bytes, *, extra: bytes = b"") -> bytes:
    return (b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: gw\r\n"
            b"Content-Type: application/json\r\n" + extra
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _body(model: str, text: str, *, stream: bool = False) -> bytes:
    return orjson.dumps({"model": model, "stream": stream,
                         "messages": [{"role": "user", "content": text}]})


class Responses:
    """Parses what a connection receives into whole responses (status, headers, body)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done: list[tuple[int, dict[str, str], bytes]] = []
        self._headers: dict[str, str] = {}
        self._body = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.done.append((self.parser.get_status_code(), self._headers, self._body))
        self._headers, self._body = {}, b""

    def read(self, s: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
        while len(self.done) < count:
            chunk = s.recv(65536)
            assert chunk, f"connection closed after {len(self.done)} responses"
            self.parser.feed_data(chunk)
        return self.done


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    return s


def test_pipelined_requests_get_their_answers_whole_and_in_order(gateway, kimi) -> None:
    texts = [f"question number {i}" for i in range(4)]
    with _connect(gateway.port) as s:
        s.sendall(b"".join(_post(_body("kimi-k2", t), extra=f"X-Request-Id: req-{i}\r\n"
                                     .encode()) for i, t in enumerate(texts)))
        got = Responses().read(s, 4)
    assert [status for status, _, _ in got] == [200] * 4
    assert [h["x-request-id"] for _, h, _ in got] == [f"req-{i}" for i in range(4)]
    for _, headers, body in got:
        assert int(headers["content-length"]) == len(body)
        assert orjson.loads(body)["object"] == "chat.completion"
    sent = [r.json["messages"][-1]["content"] for r in kimi.control.requests[-4:]]
    assert sent == texts


def test_expect_100_continue_gets_its_interim_answer_then_the_response(gateway) -> None:
    body = _body("kimi-k2", "hello there")
    head = _post(body, extra=b"Expect: 100-continue\r\n")[:-len(body)]
    with _connect(gateway.port) as s:
        s.sendall(head)
        interim = s.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        responses = Responses()
        rest = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        s.sendall(body)
        if rest:
            responses.parser.feed_data(rest)
        (status, headers, answer), = responses.read(s, 1)
    assert status == 200 and int(headers["content-length"]) == len(answer)
    assert orjson.loads(answer)["choices"][0]["message"]["content"]


def test_a_stream_then_a_json_answer_on_one_kept_alive_connection(gateway) -> None:
    with _connect(gateway.port) as s:
        responses = Responses()
        s.sendall(_post(_body("kimi-k2", "stream this", stream=True)))
        (status, headers, stream), = responses.read(s, 1)
        assert status == 200 and headers["content-type"].startswith("text/event-stream")
        assert stream.rstrip().endswith(b"data: [DONE]")
        for i in range(3):
            s.sendall(_post(_body("kimi-k2", f"then this {i}")))
            status, headers, body = responses.read(s, 2 + i)[-1]
            assert status == 200 and int(headers["content-length"]) == len(body)
