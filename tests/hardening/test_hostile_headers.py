"""Hostile request heads against a real ``gateway serve`` process (its uvicorn setup).

Huge heads get a 431 (``gateway.http.HeaderLimitedHttpTools``: httptools alone has no
limit), malformed ones a 400 from the HTTP parser, and neither stops the server. A
client's ``x-request-id`` that is not a plain token is replaced, never echoed raw into
a response header or a log line.
"""

from __future__ import annotations

import httpx
import pytest

from gateway.http import MAX_HEADER_BYTES
from tests.hardening.support import raw_request, wait_until
from tests.support import gateway_server as gs
from tests.support.gateway_process import GatewayProcess


@pytest.fixture(scope="module")
def proc():
    dead = f"http://127.0.0.1:{gs.free_port()}"
    with GatewayProcess(gs.test_config_text(dead + "/v1", dead),
                        env={"GATEWAY_LOG_LEVEL": "debug"}) as gp:
        yield gp


def get(head_lines: bytes, path: bytes = b"/healthz") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: gw\r\n" + head_lines + b"\r\n"


@pytest.mark.parametrize("head", [
    b"X-Big: " + b"a" * (MAX_HEADER_BYTES + 1) + b"\r\n",
    b"X-Big: " + b"a" * (16 * 1024 * 1024) + b"\r\n",
    b"".join(b"X-H%d: v\r\n" % i for i in range(20_000)),
], ids=["just-over", "16mb", "20000-headers"])
def test_huge_heads_get_431_and_the_server_carries_on(proc, head):
    answer = raw_request(proc.port, get(head))
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert httpx.get(proc.url + "/healthz").status_code == 200


def test_a_large_but_allowed_head_is_served(proc):
    answer = raw_request(proc.port, get(b"X-Big: " + b"a" * (MAX_HEADER_BYTES - 1024) + b"\r\n"))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    # And a keep-alive connection serves request after request under the limit.
    with httpx.Client() as c:
        for _ in range(3):
            assert c.get(proc.url + "/healthz", headers={"x-pad": "p" * 30_000}).status_code == 200


@pytest.mark.parametrize("bad", [
    b"X-Request-Id: a\rSet-Cookie: evil=1\r\n",  # bare CR
    b"X-Request-Id: a\nSet-Cookie: evil=1\r\n",  # bare LF
    b"X-Request-Id: a\x00b\r\n",
    b"X-Request-Id: a\x7fb\r\n",
    b"X-Request-Id: a\x01b\r\n",
    b"Bad Header Name: x\r\n",
], ids=["bare-cr", "bare-lf", "nul", "del", "ctl", "space-in-name"])
def test_malformed_heads_are_400_and_never_reflected(proc, bad):
    answer = raw_request(proc.port, get(bad))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"evil" not in answer and b"a\x00b" not in answer and b"a\x7fb" not in answer
    assert httpx.get(proc.url + "/healthz").status_code == 200


def test_crlf_cannot_inject_a_response_header(proc):
    # CRLF ends the header: the "injected" line is just another request header.
    answer = raw_request(proc.port, get(b"X-Request-Id: req-1\r\nSet-Cookie: evil=1\r\n",
                                        b"/v1/models"))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    head = answer.split(b"\r\n\r\n")[0].lower()
    assert b"set-cookie" not in head


ODD_IDS = [b"ab\tcd", b"x" * 300, b"\xff\xfe-latin1", b"id with spaces", b"a;b=c,d",
           b"<script>alert(1)</script>"]


@pytest.mark.parametrize("rid", ODD_IDS, ids=range(len(ODD_IDS)))
def test_odd_request_ids_are_replaced_in_headers_and_logs(proc, rid):
    body = b'{"model": "auto", "messages": [{"role": "user", "content": "x"}]}'
    # To the proxy route (its upstreams are down here: an error with an access-log line).
    answer = raw_request(proc.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
                         b"Content-Type: application/json\r\nX-Request-Id: " + rid
                         + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    # 502, or 503 once both circuits opened after a few of these
    assert answer[:12] in (b"HTTP/1.1 502", b"HTTP/1.1 503"), answer[:200]
    head = answer.split(b"\r\n\r\n")[0]
    echoed = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"x-request-id:")]
    assert len(echoed) == 1 and rid not in echoed[0]
    fresh = echoed[0].split(b":", 1)[1].strip()
    assert len(fresh) == 32
    assert wait_until(lambda: fresh in proc.log_path.read_bytes())  # the access line
    log = proc.log_path.read_bytes()
    assert rid not in log
    assert rid.decode("latin-1") not in log.decode("utf-8", "replace")
