"""Issue 18.6: forwarded headers that can change the answer are part of the cache key:
the same temperature-0 body with another ``anthropic-beta`` or ``anthropic-version``
is another entry (it was a hit)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.limits_support import nonce


def ask(gw: Any, body: dict[str, Any], **headers: str) -> str:
    r = httpx.post(gw.url + "/v1/messages", json=body, timeout=10,
                   headers={"x-api-key": "any", **headers})
    assert r.status_code == 200, r.text
    return r.headers["x-gateway-cache"]


def test_anthropic_beta_and_version_are_in_the_key(make_gateway: Any, store_url: str,
                                                   claude: Any) -> None:
    gw = make_gateway(extra="cache: {mode: deterministic}", redis_url=store_url)
    body = {"model": "claude-opus", "max_tokens": 50, "temperature": 0,
            "messages": [{"role": "user", "content": f"beta key {nonce()}"}]}
    v1 = {"anthropic-version": "2023-06-01"}
    assert ask(gw, body, **v1) == "miss"
    assert ask(gw, body, **v1) == "hit"
    assert ask(gw, body, **v1, **{"anthropic-beta": "context-1m-2025-08-07"}) == "miss"
    assert ask(gw, body, **v1, **{"anthropic-beta": "context-1m-2025-08-07"}) == "hit"
    assert ask(gw, body, **v1, **{"anthropic-beta": "other-2025-01-01"}) == "miss"
    assert ask(gw, body, **{"anthropic-version": "2023-01-01"}) == "miss"
    assert len(claude.control.requests) == 4
