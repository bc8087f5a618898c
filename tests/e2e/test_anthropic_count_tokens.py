"""``POST /v1/messages/count_tokens``: the gateway's estimate, in Anthropic's shape."""

from __future__ import annotations

import anthropic
import httpx
import pytest


def client(gw, api_key: str = "any") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=api_key, max_retries=0)


def count(gw, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(gw.url + "/v1/messages/count_tokens", json=body, timeout=10,
                      headers={"x-api-key": "any", **headers})


@pytest.mark.parametrize("model", ["auto", "claude-opus", "kimi-k2"])
def test_sdk_count_tokens_is_positive(gateway, kimi, claude, model):
    r = client(gateway).messages.count_tokens(
        model=model, messages=[{"role": "user", "content": "hello there"}])
    assert r.input_tokens > 0
    # An estimate made by the gateway: no upstream is asked.
    assert kimi.control.requests == [] and claude.control.requests == []


def test_count_grows_with_prompt_system_and_tools(gateway):
    c = client(gateway)
    short = c.messages.count_tokens(model="auto", messages=[{"role": "user", "content": "hi"}])
    long = c.messages.count_tokens(model="auto", messages=[
        {"role": "user", "content": "hi " + "tell me about the weather in Paris " * 50}])
    assert long.input_tokens > short.input_tokens + 100
    with_system = c.messages.count_tokens(
        model="auto", system="You are a careful assistant who answers in full sentences.",
        messages=[{"role": "user", "content": "hi"}])
    assert with_system.input_tokens > short.input_tokens
    with_tools = c.messages.count_tokens(model="auto", messages=[{"role": "user", "content": "hi"}],
                                         tools=[{"name": "get_weather", "description": "weather",
                                                 "input_schema": {"type": "object", "properties": {
                                                     "city": {"type": "string"}}}}])
    assert with_tools.input_tokens > short.input_tokens


def test_unknown_model_is_404_in_anthropic_shape(gateway):
    r = count(gateway, {"model": "claude-2", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert "claude-2" in body["error"]["message"]
    with pytest.raises(anthropic.NotFoundError):
        client(gateway).messages.count_tokens(model="claude-2",
                                              messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize("body, fragment", [
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "auto", "messages": [{"role": "robot", "content": "x"}]}, "role"),
    ({"model": "auto"}, "messages"),
])
def test_bad_count_request_is_400(gateway, body, fragment):
    r = count(gateway, body)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert fragment in r.json()["error"]["message"]


def test_count_tokens_needs_a_valid_key_when_keys_are_configured(make_gateway):
    gw = make_gateway(keys="keys:\n  - {name: team-a, key: sk-gw-good, policy: standard}")
    msgs = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.AuthenticationError):
        client(gw, "sk-gw-bad").messages.count_tokens(model="auto", messages=msgs)
    assert client(gw, "sk-gw-good").messages.count_tokens(model="auto", messages=msgs).input_tokens > 0
