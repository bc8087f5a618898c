"""The cache on /v1/messages through the anthropic SDK, on memory and on Redis: hits
replay whole and streamed, tenants stay apart, and surfaces never share entries."""

from __future__ import annotations

import anthropic
import httpx

from tests.e2e.limits_support import keys_yaml, nonce


def client(gw, key: str = "ka") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=10)


def test_messages_cached_and_replayed(make_gateway, store_url, claude):
    gw = make_gateway(keys=keys_yaml(a="{}", b="{}"), extra="cache: {mode: deterministic}",
                      redis_url=store_url)
    kw = {"model": "claude-opus", "max_tokens": 200, "extra_body": {"temperature": 0},
          "messages": [{"role": "user", "content": f"anthropic cache {nonce()}"}]}
    miss = client(gw).messages.with_raw_response.create(**kw)
    assert miss.headers["x-gateway-cache"] == "miss"
    hit = client(gw).messages.with_raw_response.create(**kw)
    assert hit.headers["x-gateway-cache"] == "hit"
    assert hit.parse().model_dump() == miss.parse().model_dump()
    with client(gw).messages.stream(**kw) as s:
        assert s.response.headers["x-gateway-cache"] == "hit"
        replayed = s.get_final_message()
    assert replayed.content[0].text == miss.parse().content[0].text
    assert replayed.usage.output_tokens == miss.parse().usage.output_tokens
    assert len(claude.control.requests) == 1
    # Key b never sees key a's entry.
    other = client(gw, "kb").messages.with_raw_response.create(**kw)
    assert other.headers["x-gateway-cache"] == "miss"
    # The same conversation on the OpenAI surface is another entry (another shape).
    r = httpx.post(gw.url + "/v1/chat/completions", timeout=10,
                   headers={"authorization": "Bearer ka"},
                   json={"model": "claude-opus", "max_tokens": 200, "temperature": 0,
                         "messages": kw["messages"]})
    assert r.status_code == 200 and r.headers["x-gateway-cache"] == "miss"
    assert r.json()["object"] == "chat.completion"
    assert len(claude.control.requests) == 3


def test_stream_miss_is_stored_for_a_whole_hit(make_gateway, store_url, claude):
    gw = make_gateway(extra="cache: {mode: deterministic}", redis_url=store_url)
    kw = {"model": "claude-opus", "max_tokens": 200, "extra_body": {"temperature": 0},
          "messages": [{"role": "user", "content": f"stream first {nonce()}"}]}
    with client(gw).messages.stream(**kw) as s:
        assert s.response.headers["x-gateway-cache"] == "miss"
        streamed = s.get_final_message()
    hit = client(gw).messages.with_raw_response.create(**kw)
    assert hit.headers["x-gateway-cache"] == "hit"
    assert hit.parse().content[0].text == streamed.content[0].text
    assert hit.parse().usage.output_tokens == streamed.usage.output_tokens
    assert len(claude.control.requests) == 1
