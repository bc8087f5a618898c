"""End to end through the official anthropic SDK on /v1/messages: sync and async,
create and stream, Claude natively (passthrough), Kimi translated, and ``auto`` routed."""

from __future__ import annotations

import anthropic
import httpx
import pytest

MSGS = [{"role": "user", "content": "hello there"}]


def client(gw, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=kw.pop("api_key", "any"),
                               max_retries=0, **kw)


def aclient(gw) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url, api_key="any", max_retries=0)


def assert_native_passthrough(claude, sent_by_client: dict) -> None:
    """Claude received the client's body untouched but for the model, with our key."""
    got = claude.control.last_request
    assert got.path == "/v1/messages"
    assert got.json == {**sent_by_client, "model": "claude-opus-4-5"}
    assert got.headers["x-api-key"] == "sk-ant-emu"
    # The client's key never goes upstream, in either header.
    assert "authorization" not in got.headers


def assert_valid_kimi_chat(kimi, *, stream: bool) -> dict:
    """What Moonshot received is an OpenAI chat body (its emulator refused nothing)."""
    got = kimi.control.last_request
    assert got.path == "/v1/chat/completions"
    assert got.headers["authorization"] == "Bearer sk-emu-kimi"
    body = got.json
    assert body["model"] == "kimi-k2-0905-preview"
    assert all(m["role"] in ("system", "user", "assistant", "tool") for m in body["messages"])
    assert body.get("stream", False) is stream
    # Anthropic-only fields never reach Moonshot.
    assert not {"system", "stop_sequences", "thinking", "top_k"} & set(body)
    return body


# -- messages.create ---------------------------------------------------------------

def test_create_on_claude_is_a_native_passthrough(gateway, claude):
    raw = client(gateway).messages.with_raw_response.create(
        model="claude-opus", max_tokens=100, messages=MSGS, metadata={"user_id": "u-1"},
        # This SDK version dropped the sampling parameters from its signature.
        extra_body={"temperature": 0.2, "top_k": 5})
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text" and msg.content[0].text == "Echo: hello there"
    assert msg.model == "claude-opus-4-5" and msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert raw.headers["x-gateway-provider"] == "claude"
    assert raw.headers["x-gateway-model"] == "claude-opus-4-5"
    assert raw.headers["x-gateway-route"] == "pinned"
    assert_native_passthrough(claude, {
        "model": "claude-opus", "max_tokens": 100, "messages": MSGS, "temperature": 0.2,
        "top_k": 5, "metadata": {"user_id": "u-1"}})
    # The SDK's own anthropic-version reaches Anthropic, not the config's default.
    sdk_version = raw.http_request.headers["anthropic-version"]
    assert claude.control.last_request.headers["anthropic-version"] == sdk_version


def test_create_on_kimi_is_translated(gateway, kimi):
    raw = client(gateway).messages.with_raw_response.create(
        model="kimi-k2", max_tokens=100, messages=MSGS, metadata={"user_id": "u-1"},
        extra_body={"temperature": 0.3, "top_k": 5})
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "Echo: hello there"
    assert msg.id.startswith("msg_") and msg.stop_reason == "end_turn"
    assert msg.model == "kimi-k2-0905-preview"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert raw.headers["x-gateway-provider"] == "kimi"
    body = assert_valid_kimi_chat(kimi, stream=False)
    assert body["messages"] == [{"role": "user", "content": "hello there"}]
    assert body["max_tokens"] == 100 and body["temperature"] == 0.3
    assert body["user"] == "u-1"


# -- messages.stream -----------------------------------------------------------------

@pytest.mark.parametrize("model, provider", [("claude-opus", "claude"), ("kimi-k2", "kimi")])
def test_stream_text_and_final_message(gateway, kimi, claude, model, provider):
    with client(gateway).messages.stream(
            model=model, max_tokens=100,
            messages=[{"role": "user", "content": "stream me some words please"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
        assert s.response.headers["x-gateway-provider"] == provider
    assert text == "Echo: stream me some words please"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0
    if provider == "claude":
        assert_native_passthrough(claude, {
            "model": model, "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "stream me some words please"}]})
    else:
        body = assert_valid_kimi_chat(kimi, stream=True)
        assert body["stream_options"] == {"include_usage": True}


def test_stream_events_are_in_anthropic_order_for_kimi(gateway):
    with client(gateway).messages.stream(model="kimi-k2", max_tokens=100, messages=MSGS) as s:
        kinds = [ev.type for ev in s]
    # The SDK adds its own "text" helper events; the wire events must be in order.
    wire = [k for k in kinds if k not in ("text",)]
    assert wire[0] == "message_start"
    assert wire[1] == "content_block_start"
    assert wire[-3:] == ["content_block_stop", "message_delta", "message_stop"]


async def test_async_create_and_stream_both_providers(gateway):
    c = aclient(gateway)
    try:
        for model in ("claude-opus", "kimi-k2"):
            msg = await c.messages.create(model=model, max_tokens=50,
                                          messages=[{"role": "user", "content": "async hi"}])
            assert msg.content[0].text == "Echo: async hi"
            async with c.messages.stream(model=model, max_tokens=50, messages=[
                    {"role": "user", "content": "async stream"}]) as s:
                text = "".join([t async for t in s.text_stream])
                final = await s.get_final_message()
            assert text == "Echo: async stream"
            assert final.content[0].text == text and final.usage.output_tokens > 0
    finally:
        await c.close()


# -- headers forwarded to Anthropic ------------------------------------------------------

def test_anthropic_beta_is_forwarded(gateway, claude):
    client(gateway).messages.create(
        model="claude-opus", max_tokens=20, messages=MSGS,
        extra_headers={"anthropic-beta": "context-1m-2025-08-07,interleaved-thinking-2025-05-14"})
    got = claude.control.last_request.headers
    assert got["anthropic-beta"] == "context-1m-2025-08-07,interleaved-thinking-2025-05-14"


def test_sdk_beta_namespace_reaches_claude(gateway, claude):
    msg = client(gateway).beta.messages.create(
        model="claude-opus", max_tokens=20, messages=MSGS, betas=["token-efficient-tools-2025-02-19"])
    assert msg.content[0].text == "Echo: hello there"
    assert claude.control.last_request.headers["anthropic-beta"] == "token-efficient-tools-2025-02-19"


@pytest.mark.parametrize("sent, expected", [(None, "2023-06-01"), ("2023-01-01", "2023-01-01")])
def test_anthropic_version_default_or_clients(gateway, claude, sent, expected):
    headers = {"x-api-key": "any"}
    if sent is not None:
        headers["anthropic-version"] = sent
    r = httpx.post(gateway.url + "/v1/messages", headers=headers, timeout=10,
                   json={"model": "claude-opus", "max_tokens": 20, "messages": MSGS})
    assert r.status_code == 200, r.text
    assert claude.control.last_request.headers["anthropic-version"] == expected


def test_client_headers_other_than_anthropic_ones_are_not_forwarded(gateway, claude):
    client(gateway, api_key="client-secret").messages.create(
        model="claude-opus", max_tokens=20, messages=MSGS,
        extra_headers={"x-custom-thing": "nope"})
    got = claude.control.last_request.headers
    assert "x-custom-thing" not in got
    assert "client-secret" not in str(got)


# -- auto routing ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, route, provider", [
    ("用一句话介绍一下你自己，谢谢你的帮助", "chinese", "kimi"),
    ("What is the capital of France?", "default", "claude"),
])
def test_auto_routes_by_language(gateway, kimi, claude, text, route, provider):
    raw = client(gateway).messages.with_raw_response.create(
        model="auto", max_tokens=50, messages=[{"role": "user", "content": text}])
    assert raw.parse().content[0].text == "Echo: " + text
    assert raw.headers["x-gateway-route"] == route
    assert raw.headers["x-gateway-provider"] == provider
    assert raw.headers["x-gateway-model"] in ("kimi-k2-0905-preview", "claude-opus-4-5")
    emu = kimi if provider == "kimi" else claude
    assert len(emu.control.requests) == 1


@pytest.mark.parametrize("text", ["mail me at ann@example.com",
                                  "请把报告发到 ann@example.com 谢谢你的帮助"])
def test_auto_with_an_email_goes_to_claude_only(gateway, kimi, claude, text):
    c = client(gateway)
    raw = c.messages.with_raw_response.create(
        model="auto", max_tokens=50, messages=[{"role": "user", "content": text}])
    assert raw.headers["x-gateway-provider"] == "claude"
    # Only Claude is a candidate: with Claude down the request fails, Kimi never sees it.
    claude.control.fail_next(500, times=5)
    with pytest.raises(anthropic.APIStatusError):
        c.messages.create(model="auto", max_tokens=50,
                          messages=[{"role": "user", "content": text}])
    assert kimi.control.requests == []


def test_auto_stream_has_gateway_headers(gateway):
    with client(gateway).messages.stream(model="auto", max_tokens=50, messages=[
            {"role": "user", "content": "今天天气怎么样？请详细说明一下"}]) as s:
        text = "".join(s.text_stream)
        h = s.response.headers
    assert text.startswith("Echo: 今天")
    assert (h["x-gateway-route"], h["x-gateway-provider"]) == ("chinese", "kimi")
    assert h["x-gateway-model"] == "kimi-k2-0905-preview" and h["x-request-id"]


# -- max_tokens 0: Anthropic's prompt-cache pre-warming ------------------------------------------

def test_max_tokens_zero_prewarms_on_claude_and_is_refused_by_kimi(gateway, kimi, claude):
    c = client(gateway)
    system = [{"type": "text", "text": "A long shared preamble.",
               "cache_control": {"type": "ephemeral"}}]
    msg = c.messages.create(model="claude-opus", max_tokens=0, system=system, messages=MSGS)
    assert msg.content == [] and msg.stop_reason == "max_tokens"
    assert claude.control.last_request.json["max_tokens"] == 0
    with pytest.raises(anthropic.BadRequestError) as e:
        c.messages.create(model="kimi-k2", max_tokens=0, messages=MSGS)
    assert "max_tokens" in e.value.message
    assert kimi.control.requests == []
    # Routed, it goes to a model that can do it even when Kimi comes first.
    raw = c.messages.with_raw_response.create(
        model="auto", max_tokens=0, messages=[{"role": "user", "content": "你好，请介绍一下你自己"}])
    assert raw.headers["x-gateway-route"] == "chinese"
    assert raw.headers["x-gateway-provider"] == "claude"
