"""Tools, images, system prompts, stop sequences, thinking, cache_control and usage
through the anthropic SDK, on Claude (native) and Kimi (translated)."""

from __future__ import annotations

import base64

import anthropic
import pytest

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
BOTH = pytest.mark.parametrize("model", ["claude-opus", "kimi-k2"])


def client(gw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="any", max_retries=0)


def upstream_body(kimi, claude, model: str) -> dict:
    emu = claude if model == "claude-opus" else kimi
    return emu.control.last_request.json


# -- tools ------------------------------------------------------------------------------

@BOTH
def test_tool_use_then_tool_result(gateway, kimi, claude, model):
    c = client(gateway)
    msgs: list[dict] = [{"role": "user", "content": "Use get_weather for Paris"}]
    r1 = c.messages.create(model=model, max_tokens=200, messages=msgs, tools=[WEATHER])
    assert r1.stop_reason == "tool_use"
    uses = [b for b in r1.content if b.type == "tool_use"]
    assert len(uses) == 1
    assert uses[0].name == "get_weather" and uses[0].input == {"city": "Paris"}
    # Anthropic (and the SDK's tool runners) need ids Anthropic itself would accept.
    assert uses[0].id and all(ch.isalnum() or ch in "_-" for ch in uses[0].id)
    msgs += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r1.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id,
                                           "content": "sunny, 21C"}]}]
    r2 = c.messages.create(model=model, max_tokens=200, messages=msgs, tools=[WEATHER])
    assert r2.stop_reason == "end_turn"
    assert r2.content[0].text == "Tool result: sunny, 21C"
    sent = upstream_body(kimi, claude, model)
    if model == "kimi-k2":
        call = sent["messages"][1]["tool_calls"][0]
        assert sent["messages"][2] == {"role": "tool", "tool_call_id": call["id"],
                                       "content": "sunny, 21C"}
        # Moonshot gets its own id back, not the Anthropic-safe one the client saw.
        assert call["function"]["name"] == "get_weather"
    else:
        assert sent["messages"][2]["content"][0]["tool_use_id"] == uses[0].id


@BOTH
def test_tool_choice_forces_the_named_tool(gateway, model):
    r = client(gateway).messages.create(
        model=model, max_tokens=200, messages=[{"role": "user", "content": "what now?"}],
        tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"})
    assert [b.type for b in r.content if b.type == "tool_use"] == ["tool_use"]
    assert r.stop_reason == "tool_use"


@BOTH
def test_streamed_tool_input_is_reassembled_by_the_sdk(gateway, model):
    deltas = []
    with client(gateway).messages.stream(
            model=model, max_tokens=200, tools=[WEATHER],
            messages=[{"role": "user", "content": "Use get_weather for Paris"}]) as s:
        for ev in s:
            if ev.type == "content_block_delta" and ev.delta.type == "input_json_delta":
                deltas.append(ev.delta.partial_json)
        final = s.get_final_message()
    assert deltas, "tool input arrived as input_json_delta events"
    uses = [b for b in final.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].input == {"city": "Paris"}
    assert uses[0].name == "get_weather" and uses[0].id
    assert final.stop_reason == "tool_use"


def test_tool_conversation_moves_from_kimi_to_claude(gateway, claude):
    c = client(gateway)
    msgs: list[dict] = [{"role": "user", "content": "Use get_weather for Paris"}]
    r1 = c.messages.create(model="kimi-k2", max_tokens=200, messages=msgs, tools=[WEATHER])
    use = next(b for b in r1.content if b.type == "tool_use")
    msgs += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r1.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                           "content": "rainy"}]}]
    r2 = c.messages.create(model="claude-opus", max_tokens=200, messages=msgs, tools=[WEATHER])
    assert r2.content[0].text == "Tool result: rainy"
    # Claude's strict id pattern accepted the id the gateway gave Kimi's call.
    assert claude.control.last_request.json["messages"][1]["content"][-1]["id"] == use.id


# -- images ---------------------------------------------------------------------------------

@BOTH
def test_base64_image(gateway, kimi, claude, model):
    r = client(gateway).messages.create(model=model, max_tokens=100, messages=[{
        "role": "user", "content": [
            {"type": "text", "text": "describe"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": PNG}}]}])
    assert r.content[0].text == "Echo: describe [1 image]"
    sent = upstream_body(kimi, claude, model)
    parts = sent["messages"][0]["content"]
    if model == "kimi-k2":
        assert parts[1] == {"type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    else:
        assert parts[1]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}


def test_url_image_goes_to_claude_as_a_url(gateway, claude):
    src = {"type": "url", "url": "https://example.com/cat.png"}
    r = client(gateway).messages.create(model="claude-opus", max_tokens=100, messages=[{
        "role": "user", "content": [{"type": "text", "text": "describe"},
                                    {"type": "image", "source": src}]}])
    assert r.content[0].text == "Echo: describe [1 image]"
    assert claude.control.last_request.json["messages"][0]["content"][1]["source"] == src


def test_url_image_pinned_to_kimi_is_a_clear_400(gateway, kimi):
    with pytest.raises(anthropic.BadRequestError) as e:
        client(gateway).messages.create(model="kimi-k2", max_tokens=100, messages=[{
            "role": "user", "content": [{"type": "text", "text": "describe"}, {
                "type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}])
    assert "base64" in e.value.message
    assert e.value.body["error"]["type"] == "invalid_request_error"
    assert kimi.control.requests == []


def test_url_image_routed_to_kimi_falls_back_to_claude(gateway, kimi, claude):
    raw = client(gateway).messages.with_raw_response.create(model="auto", max_tokens=100, messages=[{
        "role": "user", "content": [{"type": "text", "text": "请描述这张图片里面有什么东西"}, {
            "type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}])
    assert raw.headers["x-gateway-route"] == "chinese"
    assert raw.headers["x-gateway-provider"] == "claude"
    assert kimi.control.requests == [] and len(claude.control.requests) == 1


# -- system, stop sequences --------------------------------------------------------------------

@BOTH
@pytest.mark.parametrize("system", [
    "Be brief.",
    [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in English."}],
])
def test_system_as_string_and_as_blocks(gateway, kimi, claude, model, system):
    r = client(gateway).messages.create(model=model, max_tokens=50, system=system,
                                        messages=[{"role": "user", "content": "hi"}])
    assert r.content[0].text == "Echo: hi"
    sent = upstream_body(kimi, claude, model)
    if model == "kimi-k2":
        expected = system if isinstance(system, str) else "Be brief.\nAnswer in English."
        assert sent["messages"][0] == {"role": "system", "content": expected}
        assert "system" not in sent
    else:
        assert sent["system"] == system


@BOTH
def test_stop_sequences(gateway, kimi, claude, model):
    r = client(gateway).messages.create(
        model=model, max_tokens=100, stop_sequences=["STOP"],
        messages=[{"role": "user", "content": "one two STOP three"}])
    assert r.content[0].text == "Echo: one two "
    sent = upstream_body(kimi, claude, model)
    if model == "kimi-k2":
        assert sent["stop"] == ["STOP"] and "stop_sequences" not in sent
        # OpenAI's finish_reason "stop" does not say which sequence matched.
        assert r.stop_reason == "end_turn"
    else:
        assert sent["stop_sequences"] == ["STOP"]
        assert (r.stop_reason, r.stop_sequence) == ("stop_sequence", "STOP")


def test_max_tokens_stop_reason_on_kimi(gateway):
    r = client(gateway).messages.create(
        model="kimi-k2", max_tokens=2,
        messages=[{"role": "user", "content": "a long answer with many words in it"}])
    assert r.stop_reason == "max_tokens"


# -- thinking and cache_control: untouched on Claude, dropped for Kimi ------------------------

THINKING = {"type": "enabled", "budget_tokens": 1024}


def test_thinking_and_cache_control_pass_through_to_claude(gateway, claude):
    c = client(gateway)
    system = [{"type": "text", "text": "A long shared preamble.",
               "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    r1 = c.messages.create(model="claude-opus", max_tokens=2048, thinking=THINKING,
                           system=system, messages=[{"role": "user", "content": "think hard"}])
    assert [b.type for b in r1.content] == ["thinking", "text"]
    assert r1.content[0].signature and r1.content[0].thinking.startswith("Thinking about")
    history = [
        {"role": "user", "content": "think hard"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r1.content]},
        {"role": "user", "content": [{"type": "text", "text": "and again",
                                      "cache_control": {"type": "ephemeral"}}]},
    ]
    c.messages.create(model="claude-opus", max_tokens=2048, thinking=THINKING, system=system,
                      messages=history)
    sent = claude.control.last_request.json
    assert sent["thinking"] == THINKING
    assert sent["system"] == system
    # The signed thinking block goes back exactly as Claude wrote it.
    assert sent["messages"][1]["content"][0] == {
        "type": "thinking", "thinking": r1.content[0].thinking,
        "signature": r1.content[0].signature}
    assert sent["messages"][2]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_streamed_thinking_keeps_its_signature(gateway):
    with client(gateway).messages.stream(
            model="claude-opus", max_tokens=2048, thinking=THINKING,
            messages=[{"role": "user", "content": "think in a stream"}]) as s:
        final = s.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == "Thinking about: think in a stream"
    assert thinking.signature
    assert text.text == "Echo: think in a stream"


def test_thinking_history_is_dropped_for_kimi(gateway, kimi):
    history = [
        {"role": "user", "content": "think hard"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "c2lnbmF0dXJl"},
            {"type": "text", "text": "Done."}]},
        {"role": "user", "content": [{"type": "text", "text": "and again",
                                      "cache_control": {"type": "ephemeral"}}]},
    ]
    r = client(gateway).messages.create(model="kimi-k2", max_tokens=2048, thinking=THINKING,
                                        messages=history)
    assert r.content[0].text == "Echo: and again"
    sent = kimi.control.last_request.json
    assert sent["messages"] == [{"role": "user", "content": "think hard"},
                                {"role": "assistant", "content": "Done."},
                                {"role": "user", "content": "and again"}]
    assert "thinking" not in sent


# -- usage ----------------------------------------------------------------------------------

def test_cache_read_tokens_from_claude(gateway):
    system = [{"type": "text", "text": "A shared preamble. " * 50,
               "cache_control": {"type": "ephemeral"}}]
    c = client(gateway)
    r = c.messages.create(model="claude-opus", max_tokens=50, system=system,
                          messages=[{"role": "user", "content": "hi"}])
    assert r.usage.cache_creation_input_tokens > 0 and not r.usage.cache_read_input_tokens
    r = c.messages.create(model="claude-opus", max_tokens=50, system=system,
                          messages=[{"role": "user", "content": "hi"}])
    assert r.usage.cache_read_input_tokens > 0
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    with c.messages.stream(model="claude-opus", max_tokens=50, system=system,
                           messages=[{"role": "user", "content": "hi"}]) as s:
        streamed = s.get_final_message().usage
    assert streamed.cache_read_input_tokens == r.usage.cache_read_input_tokens
    assert streamed.input_tokens == r.usage.input_tokens


def test_usage_and_cached_tokens_from_kimi(gateway, kimi):
    # Moonshot reports context-cache reads as usage.cached_tokens.
    kimi.control.fail_next(200, body={
        "id": "cmpl-1", "object": "chat.completion", "created": 1,
        "model": "kimi-k2-0905-preview",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "cached hi"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 7, "total_tokens": 127,
                  "cached_tokens": 100}})
    r = client(gateway).messages.create(model="kimi-k2", max_tokens=50,
                                        messages=[{"role": "user", "content": "hi"}])
    assert r.content[0].text == "cached hi"
    assert r.usage.cache_read_input_tokens == 100
    assert r.usage.input_tokens == 20  # Anthropic's input_tokens excludes cache reads
    assert r.usage.output_tokens == 7


def test_streamed_usage_from_kimi_matches_non_stream(gateway):
    c = client(gateway)
    msgs = [{"role": "user", "content": "count my tokens please"}]
    whole = c.messages.create(model="kimi-k2", max_tokens=50, messages=msgs).usage
    with c.messages.stream(model="kimi-k2", max_tokens=50, messages=msgs) as s:
        streamed = s.get_final_message().usage
    assert (streamed.input_tokens, streamed.output_tokens) == (whole.input_tokens,
                                                               whole.output_tokens)
    assert whole.input_tokens > 0 and whole.output_tokens > 0
