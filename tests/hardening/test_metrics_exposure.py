"""Issue 18.7: what /metrics shows, and to whom, is the config's choice.

``server.metrics_key``: /metrics needs that bearer token (a tenant's key is not
enough), also while it is on ``public_paths``. ``server.metrics_key_labels: false``:
no series names a gateway key.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.limits_support import keys_yaml, nonce


def get_metrics(gw: Any, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.get(gw.url + "/metrics", headers=headers, timeout=10)


def spend(gw: Any) -> None:
    for _ in range(2):  # the second is over rpm 1: a rejection series too
        httpx.post(gw.url + "/v1/chat/completions", timeout=10,
                   headers={"authorization": "Bearer ka"},
                   json={"model": "claude-opus", "max_tokens": 20,
                         "messages": [{"role": "user", "content": nonce()}]})


def test_metrics_key_guards_metrics(make_gateway: Any) -> None:
    gw = make_gateway(keys=keys_yaml(a="{}"), extra="server: {metrics_key: scrape-token-1}")
    assert get_metrics(gw).status_code == 401
    assert get_metrics(gw, "ka").status_code == 401  # a tenant's key is not the scraper's
    assert get_metrics(gw, "scrape-token-1x").status_code == 401
    r = get_metrics(gw, "scrape-token-1")
    assert r.status_code == 200 and "gateway_requests_total" in r.text
    # The other public paths are unchanged.
    assert httpx.get(gw.url + "/healthz", timeout=10).status_code == 200


def test_key_labels_on_and_off(make_gateway: Any) -> None:
    on = make_gateway(keys=keys_yaml(a="{rpm: 1}"))
    spend(on)
    text = get_metrics(on).text
    assert 'key="a"' in text

    off = make_gateway(keys=keys_yaml(a="{rpm: 1}"),
                       extra="server: {metrics_key_labels: false}")
    spend(off)
    text = get_metrics(off).text
    assert 'key="a"' not in text
    assert "gateway_cost_usd_total{" in text and 'key="-"' in text
    assert "gateway_ratelimit_rejections_total{" in text
