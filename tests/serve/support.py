"""Helpers for tests of ``gateway serve`` as a real process: its config, its stderr."""

from __future__ import annotations

import json
import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.gateway_process import GatewayProcess
from tests.support.gateway_server import test_config_text as _config_text

ENGLISH = [{"role": "user", "content": "Tell me about the weather in Paris today."}]


def config_text(kimi_url: str, claude_url: str, extra: str = "", **kw: Any) -> str:
    """``test_config_text`` for emulators given by their root URLs."""
    return _config_text(kimi_url + "/v1", claude_url, extra, **kw)


def log_lines(gw: GatewayProcess) -> list[str]:
    return gw.log().splitlines()


def json_lines(gw: GatewayProcess) -> list[dict[str, Any]]:
    """Every stderr line that is a JSON object (the CLI's banner is plain text)."""
    out = []
    for line in log_lines(gw):
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def access_lines(gw: GatewayProcess) -> list[dict[str, Any]]:
    return [r for r in json_lines(gw) if r.get("logger") == "gateway.access"]


def wait_access_lines(gw: GatewayProcess, n: int, timeout: float = 10) -> list[dict[str, Any]]:
    """The access lines once there are at least ``n``: a stream's line is written after
    its ``[DONE]``, which is where an SDK stops reading."""
    deadline = time.monotonic() + timeout
    while len(lines := access_lines(gw)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return lines


def access_line(gw: GatewayProcess, request_id: str, timeout: float = 10) -> dict[str, Any]:
    """The one access line of ``request_id`` (waiting briefly: a cache hit's bookkeeping
    runs after its response)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in access_lines(gw) if r.get("request_id") == request_id]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(found) == 1, f"{len(found)} access lines for {request_id}:\n{gw.log()[-3000:]}"
    return found[0]


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def wait_log(gw: GatewayProcess, text: str, timeout: float = 10) -> str:
    """The log once ``text`` is in it (access lines are written after the response)."""
    deadline = time.monotonic() + timeout
    while text not in (log := gw.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return log
