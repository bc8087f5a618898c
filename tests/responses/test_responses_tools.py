"""Tools and structured output on /v1/responses through the openai SDK."""

from __future__ import annotations

import json

import pydantic
import pytest

from .support import MODELS, client, strict_response

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}, "strict": False}


@pytest.mark.parametrize("model", MODELS)
def test_a_function_tool_loop_with_function_call_output(gateway, model):
    c = client(gateway)
    r = c.responses.create(model=model, input="What is the weather in `Paris`?",
                           tools=[WEATHER], tool_choice="required", store=False)
    calls = [o for o in r.output if o.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and calls[0].call_id
    json.loads(calls[0].arguments)
    strict_response(r.model_dump(mode="json"))
    history = [{"role": "user", "content": "What is the weather in `Paris`?"},
               *[o.model_dump(exclude_none=True) for o in r.output],
               {"type": "function_call_output", "call_id": calls[0].call_id,
                "output": "18C and sunny"}]
    r2 = c.responses.create(model=model, input=history, tools=[WEATHER], store=False)
    assert r2.status == "completed" and r2.output_text
    assert not [o for o in r2.output if o.type == "function_call"]


@pytest.mark.parametrize("model", ["kimi-k2", "claude-opus"])
def test_custom_and_namespaced_tools_come_back_as_their_own_items(gateway, model, kimi, claude):
    c = client(gateway)
    tools = [{"type": "custom", "name": "apply.patch", "description": "Apply a patch"}]
    r = c.responses.with_raw_response.create(
        model=model, input="use apply.patch with `*** Begin Patch`", tools=[
            *tools, {"type": "web_search"}], tool_choice={"type": "custom", "name": "apply.patch"},
        store=False)
    assert r.headers["x-gateway-dropped-tools"] == "web_search"
    out = r.parse().output
    call = next(o for o in out if o.type == "custom_tool_call")
    assert call.name == "apply.patch" and isinstance(call.input, str)
    sent = (kimi if model == "kimi-k2" else claude).control.last_request.json
    names = [t.get("name") or t["function"]["name"] for t in sent["tools"]]
    assert all(n.replace("_", "").replace("-", "").isalnum() for n in names), names
    ns = [{"type": "namespace", "name": "multi_agent_v1", "description": "agents",
           "tools": [{**WEATHER, "name": "spawn"}]}]
    r2 = c.responses.create(model=model, input="spawn `x`", tools=ns, tool_choice="required",
                            store=False)
    call2 = next(o for o in r2.output if o.type == "function_call")
    assert (call2.name, call2.namespace) == ("spawn", "multi_agent_v1")


class Answer(pydantic.BaseModel):
    city: str
    temperature: int


@pytest.mark.parametrize("model", MODELS)
def test_parse_with_a_pydantic_model(gateway, model):
    r = client(gateway).responses.parse(model=model, input="Paris weather as JSON",
                                        text_format=Answer)
    assert isinstance(r.output_parsed, Answer)


@pytest.mark.parametrize("model", ["kimi-k2", "claude-opus"])
def test_streamed_function_custom_and_namespaced_calls(gateway, model):
    """Every event validates as the SDK's type; the final response has the calls."""
    from .support import strict_event
    import httpx
    tools = [{"type": "namespace", "name": "multi_agent_v1", "description": "agents",
              "tools": [{**WEATHER, "name": "spawn_agent"}]},
             {"type": "custom", "name": "apply_patch", "description": "Apply a patch"},
             WEATHER, {"type": "web_search", "external_web_access": False}]
    for choice, kind in (("get_weather", "function_call"), ("apply_patch", "custom_tool_call"),
                         ("spawn_agent", "function_call")):
        with httpx.stream("POST", gateway.url + "/v1/responses", timeout=10, json={
                "model": model, "stream": True, "store": False, "tools": tools,
                "tool_choice": {"type": kind.replace("_tool_call", "").replace("_call", ""),
                                "name": choice},
                "input": [{"type": "message", "role": "developer", "content": [
                    {"type": "input_text", "text": "You are Codex."}]},
                          {"role": "user", "content": f"use {choice} with `x`"}],
                "include": ["reasoning.encrypted_content"], "reasoning": {"summary": "auto"},
                "parallel_tool_calls": True, "prompt_cache_key": "k",
                "client_metadata": {"a": "b"}}) as r:
            assert r.status_code == 200
            events = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
        for e in events:
            strict_event(e)
        final = events[-1]
        assert final["type"] == "response.completed", final
        call = next(o for o in final["response"]["output"] if o["type"] == kind)
        assert call["name"] == choice
        if choice == "spawn_agent":
            assert call["namespace"] == "multi_agent_v1"
        done = [e for e in events if e["type"] == "response.output_item.done"
                and e["item"]["type"] == kind]
        assert done and done[0]["item"] == call


PNG_URL = "data:image/png;base64," + "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PDF_URL = "data:application/pdf;base64,JVBERi0xLjQKJcTl8uXrp/Og0MTGCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDwvUm9vdCAxIDAgUj4+CiUlRU9GCg=="


@pytest.mark.parametrize("model", ["kimi-k2", "claude-opus"])
def test_images_and_files(gateway, model, kimi, claude):
    c = client(gateway)
    r = c.responses.create(model=model, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": PNG_URL, "detail": "low"}]}])
    assert r.status == "completed"
    sent = (kimi if model == "kimi-k2" else claude).control.last_request.json
    assert "iVBORw0KGgo" in str(sent["messages"])
    file_input = [{"role": "user", "content": [
        {"type": "input_text", "text": "summarise"},
        {"type": "input_file", "filename": "a.pdf", "file_data": PDF_URL}]}]
    if model == "claude-opus":
        c.responses.create(model=model, input=file_input)
        assert claude.control.last_request.json["messages"][0]["content"][1]["type"] == "document"
    else:
        import openai
        with pytest.raises(openai.BadRequestError):
            c.responses.create(model=model, input=file_input)
    # With auto, a file goes where it can be read.
    raw = c.responses.with_raw_response.create(model="auto", input=file_input)
    assert raw.headers["x-gateway-provider"] == "claude"


def test_kimi_reasoning_comes_back_as_a_reasoning_item_and_goes_back_as_reasoning_content(
        make_gateway, kimi, claude):
    from tests.support.gateway_server import test_config_text

    from gateway.config import parse_config
    text = test_config_text(kimi.url + "/v1", claude.url).replace(
        "upstream: kimi-k2-0905-preview", "upstream: kimi-k2-thinking")
    gw = make_gateway(cfg=parse_config(text, {}))
    c = client(gw)
    r = c.responses.create(model="kimi-k2", input="What is the weather in `Paris`?",
                           tools=[WEATHER], store=False)
    reasoning = [o for o in r.output if o.type == "reasoning"]
    assert reasoning and reasoning[0].summary[0].text.startswith("Thinking about")
    strict_response(r.model_dump(mode="json"))
    # A stateless client (Codex) sends the output back, the reasoning item included.
    history = [{"role": "user", "content": "What is the weather in `Paris`?"},
               *[o.model_dump(exclude_none=True) for o in r.output]]
    call = next((o for o in r.output if o.type == "function_call"), None)
    if call is not None:
        history.append({"type": "function_call_output", "call_id": call.call_id,
                        "output": "sunny"})
    else:
        history.append({"role": "user", "content": "thanks"})
    c.responses.create(model="kimi-k2", input=history, tools=[WEATHER], store=False)
    sent = kimi.control.last_request.json["messages"]
    assistant = next(m for m in sent if m["role"] == "assistant")
    assert assistant["reasoning_content"] == reasoning[0].summary[0].text
    # The same history to Claude: the reasoning is not sent (no signed thinking block).
    c.responses.create(model="claude-opus", input=history, tools=[WEATHER], store=False)
    assert "Thinking about" not in str(claude.control.last_request.json["messages"])
    # Streamed: the reasoning summary events, then the text, every event an SDK type.
    from .support import strict_event
    import httpx
    with httpx.stream("POST", gw.url + "/v1/responses", timeout=10, json={
            "model": "kimi-k2", "input": "think then answer", "stream": True}) as resp:
        events = [json.loads(x[6:]) for x in resp.iter_lines() if x.startswith("data: ")]
    for e in events:
        strict_event(e)
    types = [e["type"] for e in events]
    for t in ("response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
              "response.reasoning_summary_text.done", "response.reasoning_summary_part.done"):
        assert t in types, t
    out = events[-1]["response"]["output"]
    assert [o["type"] for o in out] == ["reasoning", "message"]
    assert out[0]["summary"][0]["text"].startswith("Thinking about")
