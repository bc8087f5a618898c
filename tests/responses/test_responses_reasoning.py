"""Signed reasoning on /v1/responses through the openai SDK (issue 15).

With ``include: ["reasoning.encrypted_content"]`` (as Codex sends it), Claude's thinking
reaches the client as ``reasoning`` items whose ``encrypted_content`` seals the block's
signature, and an item sent back reaches Claude as the original signed thinking block,
first in its turn: so a thinking + tool loop works against the Claude emulator, which
checks signatures and that rule as strictly as the API. Kimi's reasoning round-trips
the same way (as ``reasoning_content``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from gateway.config import parse_config
from gateway.emulators.anthropic_content import signature_valid
from tests.support.gateway_server import test_config_text as config_text

from .support import client, strict_event, strict_response

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}, "strict": False}
ASK = "What is the weather in `Paris`? Use get_weather."
REASONING = {"effort": "medium", "summary": "auto"}
INCLUDE = ["reasoning.encrypted_content"]


def create(c: Any, model: str, inp: Any, **kw: Any) -> Any:
    kw = {"tools": [WEATHER], "reasoning": REASONING, "include": INCLUDE, "store": False, **kw}
    return c.responses.create(model=model, input=inp, **kw)


def loop_history(r: Any) -> list[dict[str, Any]]:
    """The conversation as a stateless client (Codex) sends it back: its output items
    as they came, then the tool's output."""
    call = next(o for o in r.output if o.type == "function_call")
    return [{"role": "user", "content": ASK}, *[o.model_dump(exclude_none=True) for o in r.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C, sunny"}]


def test_claude_thinking_comes_back_sealed_and_continues_a_tool_loop(gateway, claude):
    c = client(gateway)
    r = create(c, "claude-opus", ASK)
    strict_response(r.model_dump(mode="json"))
    sent = claude.control.last_request.json
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}  # medium, 4096 // 2
    assert [o.type for o in r.output] == ["reasoning", "message", "function_call"]
    reasoning = r.output[0]
    text = reasoning.summary[0].text
    assert text.startswith("Thinking about")
    sealed = reasoning.encrypted_content
    assert sealed.startswith("gwrs1.")
    # The text is the summary's, not sealed: the feature walk (PII, policies) reads it.
    assert text not in base64.urlsafe_b64decode(sealed[6:]).decode()

    r2 = create(c, "claude-opus", loop_history(r))
    assert r2.status == "completed" and r2.output_text
    sent = claude.control.last_request.json
    assert sent["thinking"]["type"] == "enabled"  # the loop goes on thinking
    turn = sent["messages"][1]["content"]
    assert [b["type"] for b in turn] == ["thinking", "text", "tool_use"]
    assert turn[0]["thinking"] == text and signature_valid(turn[0]["signature"], text)


def test_without_the_sealed_block_the_loop_continues_without_thinking(gateway, claude):
    c = client(gateway)
    r = create(c, "claude-opus", ASK, include=[])
    reasoning = r.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content is None
    r2 = create(c, "claude-opus", loop_history(r), include=[])
    assert r2.status == "completed"
    sent = claude.control.last_request.json
    # Anthropic would refuse thinking here (no signed block to bring back): it is off.
    assert "thinking" not in sent
    assert "Thinking about" not in json.dumps(sent["messages"])


def test_a_sealed_block_must_come_back_as_it_came(gateway, claude):
    c = client(gateway)
    r = create(c, "claude-opus", ASK)
    history = loop_history(r)
    # An edited summary: Claude refuses its signature, the client gets that 400.
    edited = json.loads(json.dumps(history))
    edited[1]["summary"][0]["text"] = "I was thinking something else"
    with httpx.Client(base_url=gateway.url) as h:
        body = {"model": "claude-opus", "input": edited, "tools": [WEATHER], "store": False,
                "reasoning": REASONING, "include": INCLUDE}
        resp = h.post("/v1/responses", json=body)
        assert resp.status_code == 400 and "signature" in resp.text
        # A damaged seal of the gateway's: a 400 naming the field, before any upstream call.
        broken = json.loads(json.dumps(history))
        broken[1]["encrypted_content"] = "gwrs1.not-base64!"
        resp = h.post("/v1/responses", json={**body, "input": broken})
        assert resp.status_code == 400
        assert resp.json()["error"]["param"] == "input[1].encrypted_content"
        # Another provider's encrypted_content (OpenAI's own) is not the gateway's to
        # read: ignored, and the loop goes on without thinking.
        foreign = json.loads(json.dumps(history))
        foreign[1]["encrypted_content"] = "gAAAAABo" + "x" * 40
        resp = h.post("/v1/responses", json={**body, "input": foreign})
        assert resp.status_code == 200, resp.text
        assert "thinking" not in claude.control.last_request.json


def test_streamed_claude_thinking_is_sealed_too(gateway, claude):
    body = {"model": "claude-opus", "input": ASK, "tools": [WEATHER], "store": False,
            "stream": True, "reasoning": REASONING, "include": INCLUDE}
    with httpx.stream("POST", gateway.url + "/v1/responses", json=body, timeout=10) as r:
        assert r.status_code == 200
        events = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
    for e in events:
        strict_event(e)
    final = events[-1]["response"]
    assert final["status"] == "completed"
    reasoning = final["output"][0]
    assert reasoning["type"] == "reasoning" and reasoning["encrypted_content"].startswith("gwrs1.")
    done = next(e["item"] for e in events if e["type"] == "response.output_item.done")
    assert done == reasoning
    # The SDK's stream helper rebuilds the same items; they continue the loop.
    c = client(gateway)
    with c.responses.stream(model="claude-opus", input=ASK, tools=[WEATHER], store=False,
                            reasoning=REASONING, include=INCLUDE) as s:
        streamed = s.get_final_response()
    assert streamed.output[0].encrypted_content.startswith("gwrs1.")
    r2 = create(c, "claude-opus", loop_history(streamed))
    assert r2.status == "completed"
    turn = claude.control.last_request.json["messages"][1]["content"]
    assert turn[0]["type"] == "thinking"
    assert signature_valid(turn[0]["signature"], streamed.output[0].summary[0].text)


def test_previous_response_id_keeps_the_sealed_block(gateway, claude):
    c = client(gateway)
    r = create(c, "claude-opus", ASK, store=True)
    call = next(o for o in r.output if o.type == "function_call")
    r2 = create(c, "claude-opus", [{"type": "function_call_output", "call_id": call.call_id,
                                    "output": "18C"}], store=True, previous_response_id=r.id)
    assert r2.status == "completed"
    turn = claude.control.last_request.json["messages"][1]["content"]
    assert turn[0]["type"] == "thinking" and signature_valid(
        turn[0]["signature"], r.output[0].summary[0].text)


@pytest.fixture
def thinking_kimi(make_gateway, kimi, claude):
    text = config_text(kimi.url + "/v1", claude.url).replace(
        "upstream: kimi-k2-0905-preview", "upstream: kimi-k2-thinking")
    return make_gateway(cfg=parse_config(text, {}))


@pytest.mark.parametrize("stream", [False, True])
def test_kimi_reasoning_round_trips_sealed(thinking_kimi, kimi, claude, stream):
    c = client(thinking_kimi)
    if stream:
        with c.responses.stream(model="kimi-k2", input=ASK, tools=[WEATHER], store=False,
                                reasoning=REASONING, include=INCLUDE) as s:
            r = s.get_final_response()
    else:
        r = create(c, "kimi-k2", ASK)
    strict_response(r.model_dump(mode="json"))
    reasoning = r.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content.startswith("gwrs1.")
    history = loop_history(r)
    create(c, "kimi-k2", history)  # Kimi's thinking model insists on its reasoning back
    assistant = next(m for m in kimi.control.last_request.json["messages"]
                     if m["role"] == "assistant")
    assert assistant["reasoning_content"] == reasoning.summary[0].text
    assert "thinking_blocks" not in assistant
    # Kimi's reasoning never reaches Claude (its signature is the gateway's own).
    create(c, "claude-opus", history)
    assert "Thinking about" not in json.dumps(claude.control.last_request.json["messages"])


def test_claude_reasoning_reaches_kimi_as_its_text(thinking_kimi, kimi, claude):
    """A loop begun on Claude can go on on Kimi's thinking model, which wants the
    tool-call turn's reasoning back: it gets the text, never Claude's signature."""
    c = client(thinking_kimi)
    r = create(c, "claude-opus", ASK)
    create(c, "kimi-k2", loop_history(r))
    assistant = next(m for m in kimi.control.last_request.json["messages"]
                     if m["role"] == "assistant")
    assert assistant["reasoning_content"] == r.output[0].summary[0].text
    assert "thinking_blocks" not in assistant and "signature" not in json.dumps(assistant)
