"""A broken edit of the watched config while serving: nothing fails, the old config
keeps serving, and the next valid edit takes effect."""

from __future__ import annotations

import threading

import httpx

from gateway.config import parse_config
from tests.hardening.support import CHAT, wait_until
from tests.support import gateway_server as gs

KIMI_ONLY = """
    - name: default
      to: [kimi-k2]
"""


def _reloads(gw, result: str) -> float:
    return gw.metrics.config_reloads.labels(result=result)._value.get()


def test_broken_edit_under_load(make_gateway, kimi, claude, tmp_path):
    path = tmp_path / "gateway.yaml"
    text = gs.test_config_text(kimi.url + "/v1", claude.url)
    path.write_text(text)
    gw = make_gateway(cfg=parse_config(text, {}), config_path=str(path), watch_config=True)

    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as c:
            while not stop.is_set():
                r = c.post(gw.url + CHAT, json={"model": "auto", "messages": [
                    {"role": "user", "content": "What is the capital of France?"}]})
                results.append((r.status_code, r.headers.get("x-gateway-provider", "")))

    workers = [threading.Thread(target=load, daemon=True) for _ in range(3)]
    for w in workers:
        w.start()

    def served(n: int) -> bool:
        return len(results) >= n

    try:
        assert wait_until(lambda: served(20), 10)
        # Broken: half-written YAML, then a config that parses but names no model.
        path.write_text(text[: len(text) // 2] + "\n  - [unclosed")
        assert wait_until(lambda: _reloads(gw, "failure") >= 1, 10)
        path.write_text(text.replace("to: [claude-opus, kimi-k2]", "to: [gpt-9]"))
        assert wait_until(lambda: _reloads(gw, "failure") >= 2, 10)
        n = len(results)
        assert wait_until(lambda: served(n + 20), 10)
        during = results[n:]
        assert gw.rt.snapshot.version == 0
        # A valid edit takes effect for new requests.
        path.write_text(gs.test_config_text(kimi.url + "/v1", claude.url, rules=KIMI_ONLY))
        assert wait_until(lambda: gw.rt.snapshot.version == 1, 10)
        n = len(results)
        assert wait_until(lambda: served(n + 20), 10)
        after = results[n + 5:]  # a request may have started on the old config
    finally:
        stop.set()
        for w in workers:
            w.join(10)
    assert all(status == 200 for status, _ in results), sorted(set(results))
    assert {p for _, p in during} == {"claude"}  # the old config kept serving
    assert {p for _, p in after} == {"kimi"}
    assert _reloads(gw, "success") == 1
