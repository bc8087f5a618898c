"""End to end through the official openai SDK: gateway -> emulators, both providers."""

from __future__ import annotations

import base64
import json

import openai
import pytest

from gateway.translate.to_anthropic import user_hash

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


def client(gw, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=kw.pop("api_key", "any"),
                         max_retries=0, **kw)


def aclient(gw) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="any", max_retries=0)


@pytest.mark.parametrize("model, provider, upstream", [
    ("claude-opus", "claude", "claude-opus-4-5"),
    ("kimi-k2", "kimi", "kimi-k2-0905-preview"),
])
def test_non_stream_both_providers(gateway, kimi, claude, model, provider, upstream):
    raw = client(gateway).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "hello there"}])
    r = raw.parse()
    assert r.choices[0].message.content and "hello there" in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert raw.headers["x-gateway-provider"] == provider
    assert raw.headers["x-gateway-model"] == upstream
    assert raw.headers["x-gateway-route"] == "pinned"
    assert raw.headers["x-gateway-cache"] in ("miss", "bypass")
    assert float(raw.headers["x-gateway-overhead-ms"]) >= 0
    assert raw.headers["x-request-id"]
    emu = claude if provider == "claude" else kimi
    sent = emu.control.last_request
    assert sent.json["model"] == upstream
    if provider == "claude":
        # system hoisted, never a system role in messages; our key, not the client's
        assert sent.json["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])
        assert all(m["role"] in ("user", "assistant") for m in sent.json["messages"])
        assert sent.headers["x-api-key"] == "sk-ant-emu"
        assert sent.json["max_tokens"] == 4096
    else:
        assert sent.headers["authorization"] == "Bearer sk-emu-kimi"


def test_auto_goes_to_default_rule_and_request_id_echoed(gateway):
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}],
        extra_headers={"x-request-id": "req-abc.123"})
    assert raw.headers["x-gateway-route"] == "default"
    assert raw.headers["x-gateway-provider"] == "claude"
    assert raw.headers["x-request-id"] == "req-abc.123"


@pytest.mark.parametrize("model", ["claude-opus", "kimi-k2"])
def test_stream_with_usage(gateway, model):
    chunks = list(client(gateway).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "stream me some words please"}],
        stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "stream me some words please" in text
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals and finals[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


@pytest.mark.parametrize("model", ["claude-opus", "kimi-k2"])
def test_stream_without_usage_has_no_usage_chunk(gateway, model):
    chunks = list(client(gateway).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True))
    assert all(c.choices for c in chunks)
    assert all(getattr(c, "usage", None) is None for c in chunks)


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


@pytest.mark.parametrize("model", ["claude-opus", "kimi-k2"])
def test_multi_turn_tool_conversation(gateway, model):
    c = client(gateway)
    msgs = [{"role": "user", "content": "Use get_weather for Paris"}]
    r1 = c.chat.completions.create(model=model, messages=msgs, tools=[WEATHER])
    call = r1.choices[0].message.tool_calls[0]
    assert r1.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"]
    msgs += [r1.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}]
    r2 = c.chat.completions.create(model=model, messages=msgs, tools=[WEATHER])
    assert "sunny, 21C" in r2.choices[0].message.content


def test_tool_conversation_crosses_providers(gateway, claude):
    """A Kimi tool call id (functions.get_weather:0) continued on Claude."""
    c = client(gateway)
    msgs = [{"role": "user", "content": "Use get_weather for Paris"}]
    r1 = c.chat.completions.create(model="kimi-k2", messages=msgs, tools=[WEATHER])
    call = r1.choices[0].message.tool_calls[0]
    assert ":" in call.id or "." in call.id  # Moonshot's id shape
    msgs += [r1.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": "rainy"}]
    r2 = c.chat.completions.create(model="claude-opus", messages=msgs, tools=[WEATHER])
    assert "rainy" in r2.choices[0].message.content
    sent = claude.control.last_request.json
    tu = sent["messages"][1]["content"][-1]
    tr = sent["messages"][2]["content"][0]
    assert tu["type"] == "tool_use" and tr["type"] == "tool_result"
    assert tu["id"] == tr["tool_use_id"]


@pytest.mark.parametrize("model", ["claude-opus", "kimi-k2"])
def test_streamed_tool_calls(gateway, model):
    chunks = list(client(gateway).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Use get_weather for Paris"}],
        tools=[WEATHER], stream=True))
    deltas = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
    assert deltas[0].index == 0 and deltas[0].id and deltas[0].function.name == "get_weather"
    assert all(d.index == 0 for d in deltas)
    args = "".join(d.function.arguments or "" for d in deltas)
    assert json.loads(args)["city"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_images_data_url_and_http_url_to_claude(gateway, claude):
    r = client(gateway).chat.completions.create(model="claude-opus", messages=[{
        "role": "user", "content": [
            {"type": "text", "text": "describe"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    assert "2 image" in r.choices[0].message.content
    blocks = claude.control.last_request.json["messages"][0]["content"]
    srcs = [b["source"] for b in blocks if b["type"] == "image"]
    assert srcs[0] == {"type": "base64", "media_type": "image/png", "data": PNG}
    assert srcs[1] == {"type": "url", "url": "https://example.com/cat.png"}


def test_image_data_url_to_kimi(gateway, kimi):
    r = client(gateway).chat.completions.create(model="kimi-k2", messages=[{
        "role": "user", "content": [
            {"type": "text", "text": "describe"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    assert "1 image" in r.choices[0].message.content


def test_n_greater_than_one_to_claude_is_clear_400(gateway):
    with pytest.raises(openai.BadRequestError) as e:
        client(gateway).chat.completions.create(
            model="claude-opus", messages=[{"role": "user", "content": "hi"}], n=2)
    assert "n" in e.value.message


def test_json_schema_response_format_on_claude(gateway):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}},
              "required": ["answer"]}
    r = client(gateway).chat.completions.create(
        model="claude-opus", messages=[{"role": "user", "content": "answer in json"}],
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}})
    assert json.loads(r.choices[0].message.content)["answer"]
    assert r.choices[0].finish_reason == "stop"


def test_temperature_above_one_clamped_for_kimi(gateway, kimi):
    client(gateway).chat.completions.create(
        model="kimi-k2", messages=[{"role": "user", "content": "hi"}], temperature=1.7)
    assert kimi.control.last_request.json["temperature"] == 1


def test_tool_choice_required_for_kimi_is_served(gateway, kimi):
    r = client(gateway).chat.completions.create(
        model="kimi-k2", messages=[{"role": "user", "content": "weather please"}],
        tools=[WEATHER], tool_choice="required")
    assert r.choices[0].message.tool_calls
    assert kimi.control.last_request.json.get("tool_choice") != "required"


def test_stop_sequences_reach_claude(gateway, claude):
    client(gateway).chat.completions.create(
        model="claude-opus", messages=[{"role": "user", "content": "count"}], stop=["END", "STOP", ""],
        user="u-42")
    sent = claude.control.last_request.json
    # An empty stop sequence stops nothing: dropped (a blank one is a 400, see
    # test_translation_fidelity); the user id goes as a stable hash.
    assert sent["stop_sequences"] == ["END", "STOP"]
    assert sent["metadata"] == {"user_id": user_hash("u-42")}
    assert "stop" not in sent and "user" not in sent


async def test_async_client_both_modes(gateway):
    c = aclient(gateway)
    r = await c.chat.completions.create(model="claude-opus",
                                        messages=[{"role": "user", "content": "async hi"}])
    assert "async hi" in r.choices[0].message.content
    stream = await c.chat.completions.create(model="kimi-k2", stream=True,
                                             messages=[{"role": "user", "content": "async stream"}])
    text = ""
    async for ch in stream:
        if ch.choices:
            text += ch.choices[0].delta.content or ""
    assert "async stream" in text
    await c.close()


def test_models_list(gateway):
    ids = [m.id for m in client(gateway).models.list()]
    assert ids == ["auto", "kimi-k2", "claude-opus"]
