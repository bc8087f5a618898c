"""Issue 18.2: slow clients (slowloris) against a real ``gateway serve`` process.

Request heads have a deadline (``server.head_timeout_s``), a process holds at most
``server.max_connections`` client connections (past it, the one that has waited
longest for a head makes room), and ``/healthz`` answers while 1,100 slow clients hold
connections, also when the process starts with 1,024 file descriptors.
"""

from __future__ import annotations

import contextlib
import resource
import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.gateway_server import test_config_text as config_text

PARTIAL = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"


@pytest.fixture(scope="module", autouse=True)
def enough_fds() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))


@contextlib.contextmanager
def serve(extra: str = "", *, fd_soft_limit: int | None = None) -> Iterator[GatewayProcess]:
    gp = GatewayProcess(config_text("http://127.0.0.1:9/v1", "http://127.0.0.1:9", extra))
    if fd_soft_limit is not None:  # as a host with `ulimit -n 1024` starts it
        gp.args = ["sh", "-c", f'ulimit -Sn {fd_soft_limit} && exec "$@"', "sh", *gp.args]
    with gp:
        yield gp


def slow_clients(port: int, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(PARTIAL)
        out.append(s)
    return out


def closed_by_server(s: socket.socket) -> bool:
    """The server closed it (EOF, maybe after a 408) or reset it."""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        data = s.recv(4096, socket.MSG_PEEK)
    except OSError:
        return True
    if not data:
        return True
    s.recv(4096)
    return closed_by_server(s)


def healthz_ok(gp: GatewayProcess) -> bool:
    try:
        return httpx.get(gp.url + "/healthz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def test_healthz_answers_while_1100_slow_clients_hold_connections() -> None:
    with serve(fd_soft_limit=1024) as gp:
        held = slow_clients(gp.port, 1100)
        try:
            t = time.monotonic()
            assert all(healthz_ok(gp) for _ in range(3))
            assert time.monotonic() - t < 3
        finally:
            for s in held:
                s.close()


def test_a_head_not_finished_in_time_closes_the_connection() -> None:
    with serve("server: {head_timeout_s: 1}") as gp:
        silent = socket.create_connection(("127.0.0.1", gp.port))
        trickle = socket.create_connection(("127.0.0.1", gp.port))
        trickle.sendall(PARTIAL)
        t0 = time.monotonic()
        got = b""
        while time.monotonic() - t0 < 4 and not closed_by_server(trickle):
            with contextlib.suppress(OSError):
                trickle.sendall(b"x-slow: 1\r\n")  # one header line every 0.2 s
            time.sleep(0.2)
        took = time.monotonic() - t0
        assert took < 2.5, took
        assert closed_by_server(silent)
        # A client that finishes its head in time is served as usual.
        assert healthz_ok(gp)
        silent.close()
        trickle.close()
        del got


def test_connections_past_the_cap_evict_the_slowest() -> None:
    with serve("server: {max_connections: 50}") as gp:
        held = slow_clients(gp.port, 200)
        try:
            assert healthz_ok(gp)
            time.sleep(0.3)
            still_open = [s for s in held if not closed_by_server(s)]
            assert len(still_open) <= 50, len(still_open)
            # The newest survive: the oldest waited longest and made room.
            assert held[-1] in still_open
        finally:
            for s in held:
                s.close()
