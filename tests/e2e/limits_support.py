"""Helpers for the limit, cache and Redis-fault tests: keys, clients, slot counts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import openai
import redis

from gateway.stores.redis import parse_store_url
from tests.support.gateway_server import test_config_text as config_text


def keys_yaml(**limits: str) -> str:
    """``keys_yaml(a="{rpm: 5}", b="{}")``: key ``a`` presented as ``ka``, and so on."""
    lines = ["keys:"]
    for name, lim in limits.items():
        lines += [f"  - name: {name}", f"    key: k{name}", "    policy: open",
                  f"    limits: {lim}"]
    return "\n".join(lines) + "\n"


def oai(gw: Any, key: str = "ka", **kw: Any) -> openai.OpenAI:
    """The openai SDK without its own retries: every 429 must reach the test."""
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0,
                         timeout=kw.pop("timeout", 10), **kw)


def nonce() -> str:
    """Unique words for a prompt, so no test meets another test's cache entry."""
    return uuid.uuid4().hex[:10]


def chat(gw: Any, key: str, body: dict[str, Any], *, headers: dict[str, str] | None = None,
         timeout: float = 10) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=timeout,
                      headers={"authorization": f"Bearer {key}", **(headers or {})})


def wait_until(pred: Callable[[], Any], timeout: float = 5.0, step: float = 0.02) -> Any:
    """Poll ``pred`` until it is truthy (bounded); returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def requests_done(gw: Any) -> int:
    """Requests whose bookkeeping (reconcile, release, metrics, log) has finished, read
    from an in-thread gateway's ``gateway_requests_total``."""
    text = gw.metrics.render()[0].decode()
    return sum(int(float(fam.split()[-1])) for fam in text.splitlines()
               if fam.startswith("gateway_requests_total{"))


def slot_key(tenant: str) -> str:
    """The concurrency slot set of a key (see gateway/stores/README.md)."""
    return f"gw:{{t:{tenant}}}:slots"


def redis_client(url: str) -> Any:
    """A plain redis-py client for a gateway store URL (standalone or cluster)."""
    plain, cluster = parse_store_url(url)
    if cluster:
        return redis.RedisCluster.from_url(plain)
    return redis.Redis.from_url(plain)


def process_config(kimi_url: str, claude_url: str, *, keys: str = "", extra: str = "",
                   redis_url: str = "", on_error: str = "fail_open",
                   kimi_limits: str = "{}") -> str:
    """YAML for a ``GatewayProcess`` (or ``parse_config``): ``test_config_text`` pointed at
    the emulators and the given Redis, open policy; ``kimi_limits`` is Kimi's quota."""
    head = (f"server: {{graceful_shutdown_s: 1}}\n"
            f'redis: {{url: "{redis_url}", on_error: {on_error}, timeout_ms: 250}}\n')
    return config_text(kimi_url + "/v1", claude_url, head + extra, keys=keys,
                       default_policy="open", kimi_limits=kimi_limits, rules="""
    - name: chinese
      when: {language: [zh]}
      to: [kimi-k2, claude-opus]
    - name: default
      to: [claude-opus, kimi-k2]
""")
