"""The response cache on /v1/messages: a hit answers in Anthropic's shape, whole or
replayed as a stream the anthropic SDK assembles into the same message."""

from __future__ import annotations

import anthropic
import pytest

WEATHER = {"name": "get_weather",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}


def client(gw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="any", max_retries=0)


@pytest.mark.parametrize("model", ["claude-opus", "kimi-k2"])
def test_deterministic_request_is_served_from_cache_whole_and_streamed(
        gateway, kimi, claude, model):
    c = client(gateway)
    kw = {"model": model, "max_tokens": 100, "tools": [WEATHER], "extra_body": {"temperature": 0},
          "messages": [{"role": "user", "content": "use get_weather for the trip"}]}
    first = c.messages.with_raw_response.create(**kw)
    second = c.messages.with_raw_response.create(**kw)
    assert (first.headers["x-gateway-cache"], second.headers["x-gateway-cache"]) == ("miss", "hit")
    assert second.parse().model_dump() == first.parse().model_dump()
    with c.messages.stream(**kw) as s:
        assert s.response.headers["x-gateway-cache"] == "hit"
        replayed = s.get_final_message()
    original = first.parse()
    assert [b.model_dump(exclude_none=True) for b in replayed.content] == \
        [b.model_dump(exclude_none=True) for b in original.content]
    assert replayed.stop_reason == "tool_use"
    assert replayed.usage.input_tokens == original.usage.input_tokens
    assert replayed.usage.output_tokens == original.usage.output_tokens
    emu = claude if model == "claude-opus" else kimi
    assert len(emu.control.requests) == 1


def test_streamed_thinking_is_cached_and_replayed_with_its_signature(make_gateway, claude):
    gw = make_gateway(extra="cache: {enabled: true, mode: all}")
    c = client(gw)
    kw = {"model": "claude-opus", "max_tokens": 2048,
          "thinking": {"type": "enabled", "budget_tokens": 1024},
          "messages": [{"role": "user", "content": "think it over"}]}
    with c.messages.stream(**kw) as s:
        assert s.response.headers["x-gateway-cache"] == "miss"
        original = s.get_final_message()
    thinking_deltas = []
    with c.messages.stream(**kw) as s:
        assert s.response.headers["x-gateway-cache"] == "hit"
        for ev in s:
            if ev.type == "content_block_delta" and ev.delta.type == "thinking_delta":
                thinking_deltas.append(ev.delta.thinking)
        replayed = s.get_final_message()
    assert len(claude.control.requests) == 1
    assert replayed.content[0].type == "thinking"
    assert replayed.content[0].signature == original.content[0].signature
    assert replayed.content[0].thinking == original.content[0].thinking
    assert "".join(thinking_deltas) == original.content[0].thinking
    assert replayed.content[1].text == original.content[1].text
