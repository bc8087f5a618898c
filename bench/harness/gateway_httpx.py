"""Bench-only switch: ``gateway serve`` with the upstream POST sent by httpx's default
transport instead of the gateway's own client (h1), for the A/B the README reports. Never used by the product.

    python -m harness.gateway_httpx serve --config ... --port ...
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from gateway.cli import main
from gateway.errors import UpstreamConnectError, UpstreamStatusError, UpstreamTimeout
from gateway.providers.client import ProviderClient, UpstreamResult

_clients: dict[int, httpx.AsyncClient] = {}


def _client(pc: ProviderClient) -> httpx.AsyncClient:
    c = _clients.get(id(pc))
    if c is None:
        pool = pc.cfg.pool
        c = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=pool.max_connections,
                                max_keepalive_connections=pool.max_connections,
                                keepalive_expiry=pool.keepalive_s),
            timeout=httpx.Timeout(pc.cfg.timeouts.total_s, connect=pc.cfg.timeouts.connect_s))
        _clients[id(pc)] = c
    return c


async def post_json(self: ProviderClient, body: dict[str, Any],
                    extra_headers: Mapping[str, str] | None = None) -> UpstreamResult:
    t0 = time.perf_counter()
    try:
        resp = await _client(self).post(self._url, content=orjson.dumps(body),
                                        headers=self.headers(extra_headers))
    except httpx.TimeoutException:
        raise UpstreamTimeout(f"upstream {self.name} timed out", provider=self.name) from None
    except httpx.HTTPError as exc:
        raise UpstreamConnectError(f"upstream {self.name} failed: {type(exc).__name__}",
                                   provider=self.name) from None
    if resp.status_code >= 400:
        raise UpstreamStatusError(f"upstream {self.name} returned {resp.status_code}",
                                  upstream_status=resp.status_code, upstream_type=None,
                                  provider=self.name)
    return UpstreamResult(orjson.loads(resp.content), resp.status_code, resp.headers,
                          time.perf_counter() - t0)


ProviderClient.post_json = post_json  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
