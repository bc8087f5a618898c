"""The response cache through the openai SDK: hits, key canonicalisation, modes and
tenant isolation, on the memory store and on Redis."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.limits_support import chat, keys_yaml, nonce, oai

KEYS = keys_yaml(a="{}", b="{}")


def cache_gw(make_gateway, store_url: str, cache: str = "{mode: deterministic}"):
    return make_gateway(keys=KEYS, extra=f"cache: {cache}", redis_url=store_url)


def msgs() -> list[dict[str, str]]:
    return [{"role": "user", "content": f"cache me {nonce()}"}]


def test_miss_then_hit_without_upstream_call(make_gateway, store_url, claude):
    gw = cache_gw(make_gateway, store_url)
    c = oai(gw)
    kw = {"model": "claude-opus", "messages": msgs(), "temperature": 0}
    miss = c.chat.completions.with_raw_response.create(**kw)
    assert miss.headers["x-gateway-cache"] == "miss"
    assert len(claude.control.requests) == 1
    # A queued upstream failure stays queued: the hit never reaches the provider.
    claude.control.fail_next(500)
    hit = c.chat.completions.with_raw_response.create(**kw)
    assert hit.headers["x-gateway-cache"] == "hit"
    assert hit.headers["x-gateway-provider"] == "claude"
    assert hit.headers["x-gateway-model"] == "claude-opus-4-5"
    assert hit.parse().model_dump() == miss.parse().model_dump()
    assert len(claude.control.requests) == 1 and claude.control.pending_faults == 1
    text = gw.metrics.render()[0].decode()
    assert 'gateway_cache_lookups_total{result="hit"} 1.0' in text
    assert 'gateway_cache_lookups_total{result="miss"} 1.0' in text


def test_key_order_and_float_form_do_not_matter_but_values_do(make_gateway, store_url, claude):
    gw = cache_gw(make_gateway, store_url, "{mode: all}")
    m = msgs()
    first = chat(gw, "ka", {"model": "claude-opus", "messages": m, "temperature": 1,
                            "max_tokens": 50})
    assert first.headers["x-gateway-cache"] == "miss"
    # Same request, keys reordered at every level, 1 written as 1.0, a `user` field.
    raw = ('{"max_tokens": 50, "temperature": 1.0, "user": "someone", "messages": '
           + json.dumps([{"content": x["content"], "role": x["role"]} for x in m])
           + ', "model": "claude-opus"}')
    r = httpx.post(gw.url + "/v1/chat/completions", content=raw, timeout=10,
                   headers={"authorization": "Bearer ka", "content-type": "application/json"})
    assert r.headers["x-gateway-cache"] == "hit"
    assert r.json() == first.json()
    changed = chat(gw, "ka", {"model": "claude-opus", "messages": m, "temperature": 0.9,
                              "max_tokens": 50})
    assert changed.headers["x-gateway-cache"] == "miss"
    assert len(claude.control.requests) == 2


@pytest.mark.parametrize("extra, expected", [
    ({"temperature": 0}, ["miss", "hit"]),
    ({"temperature": 0.0, "top_p": 1}, ["miss", "hit"]),
    ({"seed": 7, "temperature": 0.9}, ["miss", "hit"]),
    ({"temperature": 0.7}, ["bypass", "bypass"]),
    ({}, ["bypass", "bypass"]),  # absent temperature means sampled (1.0)
])
def test_deterministic_mode(make_gateway, store_url, claude, extra, expected):
    gw = cache_gw(make_gateway, store_url)
    body = {"model": "kimi-k2" if "seed" in extra else "claude-opus", "messages": msgs(),
            **extra}
    got = [chat(gw, "ka", body).headers["x-gateway-cache"] for _ in range(2)]
    assert got == expected


def test_mode_all_and_off(make_gateway, store_url, claude):
    body = {"model": "claude-opus", "messages": msgs(), "temperature": 0.7}
    gw_all = cache_gw(make_gateway, store_url, "{mode: all}")
    assert [chat(gw_all, "ka", body).headers["x-gateway-cache"] for _ in range(2)] == \
        ["miss", "hit"]
    body = {"model": "claude-opus", "messages": msgs(), "temperature": 0}
    gw_off = cache_gw(make_gateway, store_url, '{mode: "off"}')
    assert [chat(gw_off, "ka", body).headers["x-gateway-cache"] for _ in range(2)] == \
        ["bypass", "bypass"]
    gw_disabled = cache_gw(make_gateway, store_url, "{enabled: false, mode: all}")
    assert [chat(gw_disabled, "ka", body).headers["x-gateway-cache"] for _ in range(2)] == \
        ["bypass", "bypass"]
    assert len(claude.control.requests) == 1 + 2 + 2


def test_tenants_never_share_entries(make_gateway, store_url, claude):
    gw = cache_gw(make_gateway, store_url)
    body = {"model": "claude-opus", "messages": msgs(), "temperature": 0}
    assert chat(gw, "ka", body).headers["x-gateway-cache"] == "miss"
    assert chat(gw, "kb", body).headers["x-gateway-cache"] == "miss"
    assert chat(gw, "ka", body).headers["x-gateway-cache"] == "hit"
    assert chat(gw, "kb", body).headers["x-gateway-cache"] == "hit"
    assert len(claude.control.requests) == 2


def test_shared_namespace_shares_between_keys(make_gateway, store_url, claude):
    gw = cache_gw(make_gateway, store_url, "{mode: deterministic, shared_namespace: team}")
    body = {"model": "claude-opus", "messages": msgs(), "temperature": 0}
    assert chat(gw, "ka", body).headers["x-gateway-cache"] == "miss"
    hit = chat(gw, "kb", body)
    assert hit.headers["x-gateway-cache"] == "hit"
    assert len(claude.control.requests) == 1


def test_routed_model_is_part_of_the_key(make_gateway, store_url, kimi, claude):
    """The same body pinned to another model is another entry."""
    gw = cache_gw(make_gateway, store_url)
    m = msgs()
    for model in ("claude-opus", "kimi-k2"):
        r = chat(gw, "ka", {"model": model, "messages": m, "temperature": 0})
        assert r.headers["x-gateway-cache"] == "miss"
    assert len(claude.control.requests) == 1 and len(kimi.control.requests) == 1
