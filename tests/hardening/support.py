"""Helpers of the hardening tests: raw sockets and what a gateway still holds."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gateway_server import GatewayServer

CHAT = "/v1/chat/completions"


def raw_request(port: int, data: bytes, *, timeout: float = 10) -> bytes:
    """Send raw bytes, return what the server answers until it closes (or 64 KiB)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(timeout)
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may refuse and close before taking all of it
        out = b""
        try:
            while len(out) < 65536:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out and _complete(out):
                    break
        except (TimeoutError, ConnectionResetError):
            pass
        return out


def _complete(resp: bytes) -> bool:
    head, _, body = resp.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def wait_until(pred: Callable[[], bool], timeout: float = 10, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every)
    return pred()


@dataclass(frozen=True)
class Held:
    """What a gateway holds between requests; all zero (tasks: the baseline) when idle."""

    upstream_connections: int  # handed out by the providers' pools, not yet back
    tasks: int  # asyncio tasks on the gateway's loop
    slots: int  # concurrency slots of the tenant in the store
    inflight: float  # gateway_inflight_requests, summed over surfaces


def held(gw: GatewayServer, tenant: str = "anonymous") -> Held:
    async def probe() -> tuple[int, int, int]:
        conns = 0
        for c in gw.rt.snapshot.providers.values():
            conns += c.connections_in_use
        slots = await gw.rt.store.slot_count(f"t:{tenant}")
        return conns, len(asyncio.all_tasks()) - 1, slots  # less this probe itself

    conns, tasks, slots = gw.call(probe())
    return Held(conns, tasks, slots, inflight(gw))


def inflight(gw: GatewayServer) -> float:
    text = httpx.get(gw.url + "/metrics", timeout=10).text
    total = 0.0
    for fam in text_string_to_metric_families(text):
        if fam.name == "gateway_inflight_requests":
            total += sum(s.value for s in fam.samples)
    return total


def settles_to(gw: GatewayServer, baseline_tasks: int, tenant: str = "anonymous",
               timeout: float = 10) -> Held:
    """Wait until nothing is held any more; return the last reading (for the assert)."""
    last: list[Held] = []

    def idle() -> bool:
        h = held(gw, tenant)
        last.append(h)
        return (h.upstream_connections, h.slots, h.inflight) == (0, 0, 0) \
            and h.tasks <= baseline_tasks

    wait_until(idle, timeout)
    return last[-1]
