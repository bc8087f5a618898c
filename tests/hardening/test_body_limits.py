"""Bodies too big or too slow: refused early, without holding memory or others up.

The 100 MB bodies go to a real ``gateway serve`` process so its peak RSS (VmHWM) can
be read before and after: a gateway that buffered the body would grow by ~100 MB.
"""

from __future__ import annotations

import select
import socket
import threading
from pathlib import Path

import httpx
import pytest

from tests.hardening.support import CHAT, held, wait_until
from tests.support import gateway_server as gs
from tests.support.gateway_process import GatewayProcess

MB = 1024 * 1024


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def proc():
    dead = f"http://127.0.0.1:{gs.free_port()}"
    text = gs.test_config_text(dead + "/v1", dead, extra="server: {max_body_bytes: 1048576}")
    with GatewayProcess(text) as gp:
        yield gp


def _send_until_answered(port: int, head: bytes, chunk: bytes, total: int) -> tuple[bytes, int]:
    """Stream up to ``total`` body bytes, stopping as soon as the server answers."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head)
    sent = 0
    answer = b""
    try:
        while sent < total:
            readable, writable, _ = select.select([s], [s], [], 10)
            if readable:
                answer = s.recv(65536)
                break
            if not writable:
                break  # neither: the server stopped reading and never answered
            sent += s.send(chunk)
        if not answer:
            s.settimeout(10)
            answer = s.recv(65536)
    except (BrokenPipeError, ConnectionResetError):
        s.settimeout(10)
        try:
            answer = answer or s.recv(65536)
        except OSError:
            pass
    finally:
        s.close()
    return answer, sent


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_100mb_body_is_refused_early_without_buffering_it(proc, framing):
    pid = proc.proc.pid
    before = peak_rss(pid)
    total = 100 * MB
    if framing == "content-length":
        head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json"
                b"\r\nContent-Length: " + str(total).encode() + b"\r\n\r\n")
        chunk = b"x" * 65536
    else:
        head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json"
                b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
    answer, sent = _send_until_answered(proc.port, head, chunk, total)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"connection: close" in answer.lower()
    # Refused long before the 100 MB were sent (what is in flight: the 1 MB limit plus
    # kernel socket buffers), and the process never held anything like them.
    assert sent < 40 * MB, sent
    assert peak_rss(pid) - before < 40 * MB
    assert httpx.get(proc.url + "/healthz").status_code == 200


def test_a_body_that_never_finishes_gets_408_while_others_are_served(make_gateway):
    gw = make_gateway(extra="server: {body_timeout_s: 3}")
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json"
              b"\r\nContent-Length: 1000\r\n\r\n{\"model\": \"auto\", \"mess")
    answered = threading.Event()
    got: list[bytes] = []

    def read() -> None:
        s.settimeout(15)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break  # the gateway closed the connection: it is freed
                data += chunk
        except OSError:
            pass
        got.append(data)
        answered.set()

    threading.Thread(target=read, daemon=True).start()
    # Meanwhile, others are served (the stalled body holds nothing they need).
    for _ in range(5):
        r = httpx.post(gw.url + CHAT, json={"model": "auto", "messages": [
            {"role": "user", "content": "meanwhile"}]}, timeout=10)
        assert r.status_code == 200
    assert not answered.is_set()  # still waiting for the rest of that body
    assert answered.wait(15)
    assert got[0].startswith(b"HTTP/1.1 408"), got[0][:200]
    assert b'"request_timeout"' in got[0]
    assert wait_until(lambda: held(gw).inflight == 0)
